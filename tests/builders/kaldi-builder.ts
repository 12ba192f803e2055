/**
 * Kaldi binary objects for tests, after Kaldi's io conventions (base/io-funcs): "\0B" opens a binary
 * file, tokens are written as `<Token> `, an int32 as one size byte (4) and the little-endian value.
 * The layouts follow TransitionModel::Write, Nnet::Write (nnet3: config lines, a blank line, then
 * `<NumComponents>` and `<ComponentName> name <Type> ...`) and AmDiagGmm::Write.
 */
export function kaldiInt(v: number): number[] {
  const b = Buffer.alloc(5);
  b[0] = 4;
  b.writeInt32LE(v, 1);
  return [...b];
}

const tok = (s: string): number[] => [...Buffer.from(`${s} `, 'latin1')];

function transitionModel(): number[] {
  return [
    ...tok('<TransitionModel>'),
    ...tok('<Topology>'),
    ...kaldiInt(1),
    ...tok('</Topology>'),
    ...tok('<Triples>'),
    ...kaldiInt(0),
    ...tok('</Triples>'),
    ...tok('</TransitionModel>'),
  ];
}

export interface Nnet3Spec {
  inputs?: [string, number][];
  outputs?: string[];
  components?: [string, string][];
  transition?: boolean;
}

export function nnet3Bytes(s: Nnet3Spec = {}): Uint8Array {
  const inputs = s.inputs ?? [
    ['input', 40],
    ['ivector', 100],
  ];
  const comps = s.components ?? [
    ['tdnn1.affine', 'NaturalGradientAffineComponent'],
    ['tdnn1.relu', 'RectifiedLinearComponent'],
    ['tdnn1.batchnorm', 'BatchNormComponent'],
    ['output.affine', 'NaturalGradientAffineComponent'],
  ];
  const lines = [
    ...inputs.map(([n, d]) => `input-node name=${n} dim=${d}`),
    ...comps.map(([n]) => `component-node name=${n} component=${n} input=input`),
    ...(s.outputs ?? ['output', 'output-xent']).map((n) => `output-node name=${n} input=output.affine objective=linear`),
  ];
  const out = [
    0x00,
    0x42,
    ...(s.transition === false ? [] : transitionModel()),
    ...tok('<Nnet3>'),
    ...Buffer.from(`\n${lines.join('\n')}\n\n`, 'latin1'),
    ...tok('<NumComponents>'),
    ...kaldiInt(comps.length),
  ];
  for (const [n, t] of comps)
    out.push(...tok('<ComponentName>'), ...Buffer.from(`${n} `, 'latin1'), ...tok(`<${t}>`), ...new Array<number>(40).fill(0x3f), ...tok(`</${t}>`));
  out.push(...tok('</Nnet3>'));
  return Uint8Array.from(out);
}

export function gmmBytes(dim = 39, pdfs = 2000): Uint8Array {
  return Uint8Array.from([
    0x00,
    0x42,
    ...transitionModel(),
    ...tok('<DIMENSION>'),
    ...kaldiInt(dim),
    ...tok('<NUMPDFS>'),
    ...kaldiInt(pdfs),
    ...tok('<DiagGMM>'),
    ...new Array<number>(32).fill(0),
  ]);
}
