/**
 * Builds Darknet `.cfg` networks for tests, in the layout darknet's `parser.c` reads: a `[net]`
 * section with the input size, then one `[section]` of `key=value` lines per layer; comments with `#`
 * or `;`. Also `.weights` headers (int32 major, minor, revision, then the images seen).
 */

export function cfgText(net: Record<string, string | number>, layers: [string, Record<string, string | number>][]): string {
  const section = (name: string, kv: Record<string, string | number>): string =>
    `[${name}]\n${Object.entries(kv)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`;
  return `# a comment\n\n${section('net', net)}\n${layers.map(([n, kv]) => section(n, kv)).join('\n; another comment\n')}`;
}

/** A tiny YOLO-like detector. */
export function tinyYolo(): string {
  return cfgText({ batch: 1, width: 416, height: 416, channels: 3 }, [
    ['convolutional', { batch_normalize: 1, filters: 16, size: 3, stride: 1, pad: 1, activation: 'leaky' }],
    ['maxpool', { size: 2, stride: 2 }],
    ['convolutional', { filters: 255, size: 1, stride: 1, activation: 'linear' }],
    ['yolo', { mask: '3,4,5', anchors: '10,14, 23,27', classes: 80, num: 6 }],
    ['route', { layers: -4 }],
    ['my_custom_layer', { foo: 1 }],
  ]);
}

/** A `.weights` header (major 0, minor 2, revision 0, 64-bit seen) and `n` float32 zeros. */
export function weightsBytes(n: number): Uint8Array {
  const b = new Uint8Array(20 + 4 * n);
  const dv = new DataView(b.buffer);
  dv.setInt32(4, 2, true);
  return b;
}
