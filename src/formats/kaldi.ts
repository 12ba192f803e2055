import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Kaldi acoustic models (`final.mdl`, `final.raw`), the core of Kaldi and Vosk speech recognisers.
 * Kaldi objects are written as tokens (`<TransitionModel> `) and values; a binary file starts with
 * "\0B" and writes an int as one size byte (4) then the int32 little-endian. A `final.mdl` is a
 * TransitionModel (`<TransitionModel>` ... `</TransitionModel>`) followed by the acoustic model:
 * - nnet3 (`<Nnet3>`, then the network's config as text lines: `input-node name=input dim=40`,
 *   `component-node ...`, `output-node name=output ...`, a blank line, then `<NumComponents>` and each
 *   `<ComponentName> name <TypeOfComponent> ...`);
 * - GMM (`<DIMENSION> d <NUMPDFS> n <DiagGMM> ...`); nnet2 (`<Nnet>`).
 * The head holds the tokens; component types are counted over the file by a bounded chunked scan.
 *
 * Vosk model folders put the model in `am/final.mdl` and its configuration in `conf/`, `graph/` and
 * `ivector/` beside `am/`: the scan gives a format access to its own folder and one sub-folder only, so
 * those are not linked as parts (a known limit). In a Kaldi experiment folder (`exp/chain/tdnn/`) the
 * `tree`, `phones.txt` and `graph/HCLG.fst` beside `final.mdl` are.
 */

const HEAD = 4 * 1024 * 1024;
const SCAN_LIMIT = 1024 * 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;
const MAX_TEXT = 256;
const MAX_NODES = 100_000;
/** Files of a Kaldi experiment folder that belong to its model, linked as parts when present. */
const OPTIONAL_PARTS: readonly [string, string][] = [
  ['tree', 'decision-tree'],
  ['phones.txt', 'phones'],
  ['cmvn_opts', 'config'],
  ['frame_subsampling_factor', 'config'],
  ['graph/HCLG.fst', 'decoding-graph'],
  ['graph/words.txt', 'vocabulary'],
  ['graph/phones.txt', 'phones'],
];

export const kaldiMetadataSchema = z
  .strictObject({
    binary: z.boolean().describe('Binary (`\\0B`) or text Kaldi object.'),
    transitionModel: z.boolean().describe('The file starts with a `<TransitionModel>` (a `final.mdl`; a `final.raw` has none).'),
    model: z.enum(['nnet3', 'nnet2', 'gmm', 'unknown']).describe('The acoustic model after the transition model.'),
    inputs: z
      .array(z.strictObject({ name: z.string().describe('`input-node` name.'), dim: z.number().int().nonnegative().describe('Its `dim`.') }))
      .describe('nnet3 input nodes (`input` features, `ivector`).'),
    outputs: z.array(z.string()).describe('nnet3 output node names (`output`, `output-xent`).'),
    componentNodes: z.number().int().nonnegative().describe('nnet3 `component-node` lines.'),
    components: z
      .record(z.string(), z.number().int().nonnegative())
      .describe('Components per type (`NaturalGradientAffineComponent`, `RectifiedLinearComponent`...).'),
    gmm: z
      .strictObject({
        dimension: z.number().int().nonnegative().describe('`<DIMENSION>`: feature dimension.'),
        pdfs: z.number().int().nonnegative().describe('`<NUMPDFS>`.'),
      })
      .optional()
      .describe('GMM models only.'),
  })
  .meta({
    title: 'Kaldi metadata',
    description:
      "Kaldi acoustic models (`final.mdl`, `final.raw`; Vosk's `am/final.mdl`): transition model, nnet3 inputs, outputs and component types, or GMM dimension and pdfs. `tree`, `phones.txt` and `graph/HCLG.fst` beside the model are its parts; Vosk's `conf/`, `graph/` and `ivector/` sit beside `am/`, out of the scan's reach from the model, and are not linked.",
  });
export type KaldiMetadata = z.infer<typeof kaldiMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid Kaldi model: ${message}`);
}

const latin1 = new TextDecoder('latin1');

/** A binary Kaldi int32 after `token` (size byte 4, then the value), or a text one. */
function intAfter(text: string, token: string, binary: boolean): number | undefined {
  const at = text.indexOf(`${token} `);
  if (at < 0) return undefined;
  const p = at + token.length + 1;
  if (binary) {
    if (text.charCodeAt(p) !== 4 || p + 5 > text.length) fail(`${token} at offset ${at} is not followed by a 4-byte int.`);
    const v = (text.charCodeAt(p + 1) | (text.charCodeAt(p + 2) << 8) | (text.charCodeAt(p + 3) << 16) | (text.charCodeAt(p + 4) << 24)) >>> 0;
    if (v > 0x7fffffff) fail(`${token} at offset ${at} holds ${v | 0}, a negative count.`);
    return v;
  }
  const m = /^\s*(\d{1,10})/.exec(text.slice(p, p + 24));
  if (!m) fail(`${token} at offset ${at} is not followed by a count.`);
  return Number(m[1]);
}

/** Counts `<ComponentName> name <Type>` over the file, in overlapping chunks. */
function countComponents(src: ByteSource): Record<string, number> {
  const counts = new Map<string, number>();
  const end = Math.min(src.size, SCAN_LIMIT);
  const overlap = 1024;
  for (let off = 0; off < end; off += CHUNK) {
    const text = latin1.decode(src.read(off, Math.min(CHUNK + overlap, end - off)));
    for (const m of text.matchAll(/<ComponentName> [^\s<]{1,256} <([A-Za-z0-9]{1,64})>/g)) {
      // A match that starts in the overlap belongs to the next chunk.
      if (m.index >= CHUNK) continue;
      counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
    }
  }
  return Object.fromEntries([...counts].sort((a, b) => cmp(a[0], b[0])));
}

/** Reads the head's tokens and the nnet3 config. */
export function readKaldi(src: ByteSource): KaldiMetadata {
  const head = latin1.decode(src.read(0, Math.min(src.size, HEAD)));
  const binary = head.startsWith('\0B');
  const body = binary ? head.slice(2) : head.trimStart();
  const transitionModel = body.startsWith('<TransitionModel>');
  if (!transitionModel && !body.startsWith('<Nnet3>')) fail('the file starts with neither <TransitionModel> nor <Nnet3>.');
  if (transitionModel && !head.includes('</TransitionModel>') && src.size <= HEAD) fail('the <TransitionModel> has no </TransitionModel> (the file is cut).');
  const inputs: KaldiMetadata['inputs'] = [];
  const outputs: string[] = [];
  let componentNodes = 0;
  let model: KaldiMetadata['model'] = 'unknown';
  let gmm: KaldiMetadata['gmm'];
  const nnet3 = head.indexOf('<Nnet3>');
  if (nnet3 >= 0) {
    model = 'nnet3';
    const start = nnet3 + 7;
    const stop = head.indexOf('\n\n', start);
    const config = head.slice(start, stop >= 0 ? stop : Math.min(head.length, start + 1024 * 1024));
    for (const line of config.split('\n')) {
      const l = line.trim();
      const input = /^input-node name=(\S+) dim=(\d{1,9})/.exec(l);
      if (input) {
        if (inputs.length < MAX_NODES) inputs.push({ name: input[1]!.slice(0, MAX_TEXT), dim: Number(input[2]) });
      } else if (l.startsWith('output-node ')) {
        const name = /name=(\S+)/.exec(l)?.[1];
        if (name !== undefined && outputs.length < MAX_NODES) outputs.push(name.slice(0, MAX_TEXT));
      } else if (l.startsWith('component-node ')) componentNodes++;
    }
    if (inputs.length === 0 && outputs.length === 0) fail(`the <Nnet3> config at offset ${nnet3} has no input-node or output-node line.`);
  } else if (head.includes('<DIMENSION> ')) {
    model = 'gmm';
    gmm = { dimension: intAfter(head, '<DIMENSION>', binary) ?? 0, pdfs: intAfter(head, '<NUMPDFS>', binary) ?? 0 };
  } else if (head.includes('<Nnet> ')) model = 'nnet2';
  return {
    binary,
    transitionModel,
    model,
    inputs,
    outputs,
    componentNodes,
    components: model === 'nnet3' || model === 'nnet2' ? countComponents(src) : {},
    ...opt('gmm', gmm),
  };
}

/** The card: speech recognition; the nnet3 inputs with their dims, the component types as operators. */
export function kaldiCard(md: KaldiMetadata): ModelCard {
  return {
    format: 'kaldi',
    architecture: md.model,
    task: 'speech-recognition',
    producer: 'Kaldi',
    inputs: md.gmm ? [{ name: 'features', shape: [null, md.gmm.dimension] }] : md.inputs.map((i) => ({ name: i.name, shape: [null, i.dim] })),
    outputs: md.outputs.map((name) => ({ name })),
    weightTypes: ['float32'],
    operators: sortCardOperators(Object.entries(md.components).map(([name, count]) => ({ name, count, custom: false }))),
    customOperators: false,
  };
}

/**
 * Kaldi acoustic models. `match`: `\0B<TransitionModel> ` or `\0B<Nnet3> ` at offset 0 (binary), or a
 * text file starting with those tokens. Not handled: FSTs (HCLG.fst), i-vector extractors, feature
 * transforms, and linking Vosk's folders beside `am/` (see the description).
 */
export const kaldi: ModelFormat = {
  id: 'kaldi',
  description: 'Kaldi / Vosk acoustic model (final.mdl): transition model, nnet3 nodes and components, or GMM',
  // `.mdl` is no claim: game and CAD models share it, and a claim would report each as a broken model.
  extensions: [],
  signatures: [
    { offset: 0, magic: '\0B<TransitionModel> ', note: 'binary Kaldi transition model (final.mdl)' },
    { offset: 0, magic: '\0B<Nnet3> ', note: 'binary Kaldi nnet3 network (final.raw)' },
    { offset: 0, magic: '<TransitionModel> ', note: 'text Kaldi transition model' },
  ],
  metadataSchema: kaldiMetadataSchema,
  card: (metadata) => kaldiCard(kaldiMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = latin1.decode(probe.head.subarray(0, 32));
    return h.startsWith('\0B<TransitionModel> ') || h.startsWith('\0B<Nnet3> ') || h.startsWith('<TransitionModel> ');
  },
  async inspect(src: ByteSource, _probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    const metadata = readKaldi(src);
    const parts: { path: string; role: string }[] = [];
    // Optional files: linked when present, never a problem when absent (a bare final.mdl is a model).
    if (ctx.sibling) for (const [name, role] of OPTIONAL_PARTS) if ((await ctx.sibling(name)) !== undefined) parts.push({ path: name, role });
    return { confidence: metadata.model === 'unknown' ? 'medium' : 'high', metadata, ...(parts.length > 0 ? { parts } : {}) };
  },
};
