/**
 * Builds Tesseract `.traineddata` files for tests, in `TessdataManager`'s layout: int32 entry count,
 * int64 offsets (-1 when absent), then the components in index order. Component indexes follow
 * tessdatamanager.h (3 inttemp, 17 lstm, 21 lstm-unicharset, 23 version...).
 */

export function traineddataBytes(components: Record<number, Uint8Array | string>, entries = 24, bigEndian = false): Uint8Array {
  const te = new TextEncoder();
  const parts: [number, Uint8Array][] = Object.entries(components)
    .map(([i, c]) => [Number(i), typeof c === 'string' ? te.encode(c) : c] as [number, Uint8Array])
    .sort((a, b) => a[0] - b[0]);
  const tableEnd = 4 + 8 * entries;
  const size = tableEnd + parts.reduce((n, [, c]) => n + c.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, entries, !bigEndian);
  for (let i = 0; i < entries; i++) dv.setBigInt64(4 + 8 * i, -1n, !bigEndian);
  let at = tableEnd;
  for (const [i, c] of parts) {
    dv.setBigInt64(4 + 8 * i, BigInt(at), !bigEndian);
    out.set(c, at);
    at += c.length;
  }
  return out;
}
