/**
 * A small WebAssembly module writer for tests: the header, an import section (functions), an export
 * section (functions) and a data section of active segments. Enough for a reader of names and data.
 */
const enc = new TextEncoder();

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
const name = (s: string): number[] => [...uleb(enc.encode(s).length), ...enc.encode(s)];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

export function buildWasm(
  o: { imports?: [string, string][]; exports?: string[]; data?: (string | Uint8Array)[]; custom?: [string, string][] } = {},
): Uint8Array {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  for (const [n, body] of o.custom ?? []) out.push(...section(0, [...name(n), ...enc.encode(body)]));
  if (o.imports) out.push(...section(2, [...uleb(o.imports.length), ...o.imports.flatMap(([m, n]) => [...name(m), ...name(n), 0, 0])]));
  if (o.exports) out.push(...section(7, [...uleb(o.exports.length), ...o.exports.flatMap((n, i) => [...name(n), 0, ...uleb(i)])]));
  if (o.data) {
    const segs = o.data.flatMap((d, i) => {
      const bytes = typeof d === 'string' ? enc.encode(d) : d;
      return [0, 0x41, ...uleb(1024 * (i + 1)), 0x0b, ...uleb(bytes.length), ...bytes];
    });
    out.push(...section(11, [...uleb(o.data.length), ...segs]));
  }
  return Uint8Array.from(out);
}
