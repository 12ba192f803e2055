/**
 * Builds ncnn network descriptions for tests, from ncnn's "param and model file structure" wiki page
 * and `Net::load_param` / `load_param_bin`: the text form (magic line, counts line, one layer per line
 * with `id=value` parameters, arrays as `-233NN=n,v1,...`) and the binary form (int32 magic, counts,
 * per layer the registry type index, bottom/top counts and indexes, then the parameter dictionary ended
 * by -233).
 */

export interface NcnnLayer {
  type: string;
  name: string;
  bottoms: string[];
  tops: string[];
  /** Scalar parameters by id; an array value becomes an array parameter. */
  params?: Record<number, number | number[]>;
}

/** The text `.param`; `blobCount` defaults to the distinct blob names. */
export function ncnnText(layers: NcnnLayer[], blobCount?: number): string {
  const blobs = new Set(layers.flatMap((l) => [...l.bottoms, ...l.tops]));
  const lines = ['7767517', `${layers.length} ${blobCount ?? blobs.size}`];
  for (const l of layers) {
    const params = Object.entries(l.params ?? {}).map(([k, v]) => (Array.isArray(v) ? `${-23300 - Number(k)}=${v.length},${v.join(',')}` : `${k}=${v}`));
    lines.push([l.type.padEnd(16), l.name.padEnd(16), l.bottoms.length, l.tops.length, ...l.bottoms, ...l.tops, ...params].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

/** A binary layer: the registry index instead of a type name, blob indexes instead of names. */
export interface NcnnBinLayer {
  typeIndex: number;
  bottoms: number[];
  tops: number[];
  params?: Record<number, number | number[]>;
}

/** The binary `.param.bin`. */
export function ncnnBinary(layers: NcnnBinLayer[], blobCount: number, layerCount = layers.length): Uint8Array {
  const words: number[] = [7767517, layerCount, blobCount];
  for (const l of layers) {
    words.push(l.typeIndex, l.bottoms.length, l.tops.length, ...l.bottoms, ...l.tops);
    for (const [k, v] of Object.entries(l.params ?? {})) {
      if (Array.isArray(v)) words.push(-23300 - Number(k), v.length, ...v);
      else words.push(Number(k), v);
    }
    words.push(-233);
  }
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  for (const [i, w] of words.entries()) dv.setInt32(i * 4, w, true);
  return out;
}

/** A small SqueezeNet-like text network: Input -> Convolution (int8) -> ReLU -> Split -> two heads. */
export function smallNet(): NcnnLayer[] {
  return [
    { type: 'Input', name: 'data', bottoms: [], tops: ['data'], params: { 0: 227, 1: 227, 2: 3 } },
    { type: 'Convolution', name: 'conv1', bottoms: ['data'], tops: ['conv1'], params: { 0: 64, 1: 3, 3: 2, 5: 1, 6: 1728, 8: 2 } },
    { type: 'ReLU', name: 'relu1', bottoms: ['conv1'], tops: ['conv1_relu'] },
    { type: 'Split', name: 'split', bottoms: ['conv1_relu'], tops: ['s0', 's1'] },
    { type: 'Pooling', name: 'pool', bottoms: ['s0'], tops: ['pool'], params: { 0: 1, 4: 1 } },
    { type: 'Reshape', name: 'reshape', bottoms: ['s1'], tops: ['flat'], params: { 0: -1 } },
    { type: 'Softmax', name: 'prob', bottoms: ['pool'], tops: ['prob'] },
    { type: 'YoloV5Focus', name: 'custom', bottoms: ['flat'], tops: ['boxes'], params: { 0: 1 } },
  ];
}
