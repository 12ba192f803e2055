/** Small deterministic text helpers shared by the human-readable encoders. */

/** `1536` -> `1.5 KiB`; exact bytes below 1 KiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** `1234567` -> `1.23M`. */
export function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Reads a nested field of unknown JSON without trusting its shape. */
export function field(obj: unknown, ...keys: string[]): unknown {
  let cur = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** `name float32[1,3,N,?]` from an input/output record `{name, type|elemType, shape}`. */
export function tensor(t: unknown): string {
  const name = str(field(t, 'name')) ?? '?';
  const type = str(field(t, 'elemType')) ?? str(field(t, 'type')) ?? '?';
  const shape = field(t, 'shape');
  const dims = Array.isArray(shape) ? `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]` : '[?]';
  return `${name} ${type}${dims}`;
}
