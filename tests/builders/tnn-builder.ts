/**
 * Builds TNN networks for tests, in the `.tnnproto` layout TNN's text interpreter reads (quoted lines:
 * header with the magic, inputs, blob names, outputs, an empty segment, one layer per line) and
 * `.tnnmodel` headers (0xFABC0002, layer count).
 */

export interface TnnLayer {
  type: string;
  name: string;
  inputs: string[];
  outputs: string[];
  params?: number[];
}

export function tnnproto(opts: { magic?: string; inputs: { name: string; shape: number[]; dtype?: number }[]; outputs: string[]; layers: TnnLayer[] }): string {
  const magic = opts.magic ?? '4206624770';
  const blobs = [...new Set(opts.layers.flatMap((l) => [...l.inputs, ...l.outputs]))];
  const inputs = opts.inputs
    .map((i) => (magic === '4206624772' ? `${i.name} ${i.shape.length} ${i.shape.join(' ')} ${i.dtype ?? 0}` : `${i.name} ${i.shape.join(' ')}`))
    .join(' : ');
  const lines = [
    `"1 ${blobs.length} 1 ${magic} ,"`,
    `"${inputs} ,"`,
    `" ${blobs.join(' ')} ,"`,
    `"${opts.outputs.join(' ')} ,"`,
    `" ${opts.layers.length} ,"`,
    ...opts.layers.map((l) => `"${l.type} ${l.name} ${l.inputs.length} ${l.outputs.length} ${[...l.inputs, ...l.outputs, ...(l.params ?? [])].join(' ')} ,"`),
  ];
  return `${lines.join('\n')}\n`;
}

export function tnnmodelBytes(layers: number): Uint8Array {
  const b = new Uint8Array(64);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0xfabc0002, true);
  dv.setInt32(4, layers, true);
  return b;
}

export function smallTnn(magic?: string): Parameters<typeof tnnproto>[0] {
  return {
    ...(magic !== undefined ? { magic } : {}),
    inputs: [{ name: 'input', shape: [1, 3, 224, 224], dtype: 1 }],
    outputs: ['prob'],
    layers: [
      { type: 'Convolution', name: 'conv1', inputs: ['input'], outputs: ['conv1'], params: [1, 3, 32, 3, 3, 2, 2, 1, 1, -1, 1, 1] },
      { type: 'ReLU', name: 'relu1', inputs: ['conv1'], outputs: ['relu1'] },
      { type: 'Convolution', name: 'conv2', inputs: ['relu1'], outputs: ['conv2'], params: [1, 32, 64, 3, 3] },
      { type: 'SoftmaxCaffe', name: 'prob', inputs: ['conv2'], outputs: ['prob'], params: [1] },
    ],
  };
}
