import { pBytes, pFloats, pInt, pPacked, pStr } from './proto-writer.js';

/**
 * Builds Caffe networks for tests, from BVLC caffe.proto: binary `NetParameter` (1 name, 3 input,
 * 8 input_shape, 100 layer: 1 name, 2 type, 3 bottom, 4 top, 7 blobs: 5 data, 7 shape: 1 dim; V1 2 layers:
 * 2 bottom, 3 top, 4 name, 5 type, 6 blobs) and the same network as protobuf text.
 */

export interface CaffeLayer {
  name: string;
  type: string;
  bottoms?: string[];
  tops?: string[];
  /** Blob shapes (binary only). */
  blobs?: number[][];
  /** Input layer shape. */
  inputShape?: number[];
}

export function caffemodelBytes(name: string, layers: CaffeLayer[], inputs: { name: string; shape: number[] }[] = []): Uint8Array {
  const out: number[] = [...pStr(1, name)];
  for (const i of inputs) out.push(...pStr(3, i.name));
  for (const i of inputs) out.push(...pBytes(8, pPacked(1, i.shape)));
  for (const l of layers) {
    const body = [...pStr(1, l.name), ...pStr(2, l.type)];
    for (const b of l.bottoms ?? []) body.push(...pStr(3, b));
    for (const t of l.tops ?? []) body.push(...pStr(4, t));
    for (const shape of l.blobs ?? [])
      body.push(
        ...pBytes(7, [
          ...pFloats(
            5,
            shape.reduce((a, b) => a * b, 1),
          ),
          ...pBytes(7, pPacked(1, shape)),
        ]),
      );
    if (l.inputShape !== undefined) body.push(...pBytes(143, pBytes(1, pPacked(1, l.inputShape))));
    out.push(...pBytes(100, body));
  }
  return Uint8Array.from(out);
}

/** A V1 (pre-2015) binary network: `layers` with enum types and legacy blob dims. */
export function caffemodelV1Bytes(
  name: string,
  layers: { name: string; type: number; bottoms: string[]; tops: string[]; blob?: [number, number, number, number] }[],
): Uint8Array {
  const out: number[] = [...pStr(1, name)];
  for (const l of layers) {
    const body: number[] = [];
    for (const b of l.bottoms) body.push(...pStr(2, b));
    for (const t of l.tops) body.push(...pStr(3, t));
    body.push(...pStr(4, l.name), ...pInt(5, l.type));
    if (l.blob !== undefined)
      body.push(
        ...pBytes(6, [
          ...pInt(1, l.blob[0]),
          ...pInt(2, l.blob[1]),
          ...pInt(3, l.blob[2]),
          ...pInt(4, l.blob[3]),
          ...pFloats(
            5,
            l.blob.reduce((a, b) => a * b, 1),
          ),
        ]),
      );
    out.push(...pBytes(2, body));
  }
  return Uint8Array.from(out);
}

/** The network as a deploy `.prototxt`. */
export function prototxt(name: string, layers: CaffeLayer[], input?: { name: string; dims: number[] }): string {
  let s = `name: "${name}"\n`;
  if (input !== undefined) s += `input: "${input.name}"\n${input.dims.map((d) => `input_dim: ${d}`).join('\n')}\n`;
  for (const l of layers) {
    s += `layer {\n  name: "${l.name}"\n  type: "${l.type}"\n`;
    for (const b of l.bottoms ?? []) s += `  bottom: "${b}"\n`;
    for (const t of l.tops ?? []) s += `  top: "${t}"\n`;
    if (l.inputShape !== undefined) s += `  input_param { shape: { ${l.inputShape.map((d) => `dim: ${d}`).join(' ')} } }\n`;
    s += '  # a comment { with braces }\n}\n';
  }
  return s;
}

export function lenet(): CaffeLayer[] {
  return [
    { name: 'data', type: 'Input', tops: ['data'], inputShape: [1, 1, 28, 28] },
    { name: 'conv1', type: 'Convolution', bottoms: ['data'], tops: ['conv1'], blobs: [[20, 1, 5, 5], [20]] },
    { name: 'pool1', type: 'Pooling', bottoms: ['conv1'], tops: ['pool1'] },
    { name: 'ip1', type: 'InnerProduct', bottoms: ['pool1'], tops: ['ip1'], blobs: [[10, 2880], [10]] },
    { name: 'relu1', type: 'ReLU', bottoms: ['ip1'], tops: ['ip1'] },
    { name: 'prob', type: 'Softmax', bottoms: ['ip1'], tops: ['prob'] },
  ];
}
