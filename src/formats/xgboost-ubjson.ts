import { FormatError } from '../errors.js';

/*
 * A bounded UBJSON (Universal Binary JSON, ubjson.org draft 12) decoder for XGBoost `.ubj` models:
 * big-endian numbers; markers Z N T F i U I l L d D H C S [ ] { }; containers with the optional
 * `$type` and `#count` headers. A typed container of numbers (XGBoost writes every tree array that way)
 * is not materialised: it decodes to `{ length }` of TypedRun, and its bytes are skipped. Depth,
 * counts and string lengths are bounded; anything else throws a FormatError naming the offset.
 */

/** A typed numeric array left undecoded: only its length is kept. */
export class TypedRun {
  constructor(readonly length: number) {}
}

const MAX_DEPTH = 64;
const MAX_COUNT = 100_000_000;
const MAX_STRING = 16 * 1024 * 1024;
const MAX_VALUES = 50_000_000;
const NUMBER_SIZES: Readonly<Record<string, number>> = { i: 1, U: 1, I: 2, l: 4, L: 8, d: 4, D: 8 };
const utf8 = new TextDecoder('utf-8', { fatal: false });

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid XGBoost UBJSON: ${message}`, truncated ? 'truncated' : 'format');
}

/** Decodes one UBJSON value from `b` (the whole model, already bounded by the caller). */
export function decodeUbjson(b: Uint8Array): unknown {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  let values = 0;
  const need = (n: number, what: string): void => {
    if (p + n > b.length) fail(`${what} at offset ${p} needs ${n} bytes, ${b.length - p} remain.`, true);
  };
  const marker = (): string => {
    need(1, 'a marker');
    return String.fromCharCode(b[p++]!);
  };
  const number = (m: string): number => {
    const n = NUMBER_SIZES[m];
    if (n === undefined) fail(`marker ${JSON.stringify(m)} at offset ${p - 1} is not a number type.`);
    need(n, `a ${m} number`);
    const at = p;
    p += n;
    switch (m) {
      case 'i':
        return view.getInt8(at);
      case 'U':
        return view.getUint8(at);
      case 'I':
        return view.getInt16(at);
      case 'l':
        return view.getInt32(at);
      case 'L': {
        const v = view.getBigInt64(at);
        return v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(v);
      }
      case 'd':
        return view.getFloat32(at);
      default:
        return view.getFloat64(at);
    }
  };
  const length = (what: string, max: number): number => {
    const at = p;
    const n = number(marker());
    if (!Number.isSafeInteger(n) || n < 0 || n > max) fail(`${what} at offset ${at} is ${n}, outside [0, ${max}].`);
    return n;
  };
  const string = (): string => {
    const n = length('a string length', MAX_STRING);
    need(n, 'a string');
    const s = utf8.decode(b.subarray(p, p + n));
    p += n;
    return s;
  };
  const value = (m: string, depth: number): unknown => {
    if (++values > MAX_VALUES) fail(`the document holds more than ${MAX_VALUES} values.`);
    switch (m) {
      case 'Z':
        return null;
      case 'T':
        return true;
      case 'F':
        return false;
      case 'C':
        need(1, 'a char');
        return String.fromCharCode(b[p++]!);
      case 'S':
      case 'H':
        return string();
      case '[':
      case '{':
        return container(m, depth + 1);
      default:
        return number(m);
    }
  };
  const container = (open: string, depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(`containers nest deeper than ${MAX_DEPTH} at offset ${p}.`);
    let type: string | undefined;
    let count: number | undefined;
    let m = marker();
    if (m === '$') {
      type = marker();
      m = marker();
      if (m !== '#') fail(`a $type at offset ${p - 1} is not followed by a #count.`);
    }
    if (m === '#') count = length('a container count', MAX_COUNT);
    else p--;
    const isObject = open === '{';
    if (count !== undefined && type !== undefined && !isObject && NUMBER_SIZES[type] !== undefined) {
      const bytes = count * NUMBER_SIZES[type]!;
      need(bytes, `a typed array of ${count}`);
      p += bytes;
      return new TypedRun(count);
    }
    const out: unknown[] = [];
    const obj: Record<string, unknown> = {};
    for (let i = 0; count === undefined || i < count; i++) {
      if (count === undefined) {
        need(1, 'a container end');
        while (b[p] === 0x4e) p++; // 'N' no-op
        need(1, 'a container end');
        if (b[p] === (isObject ? 0x7d : 0x5d)) {
          p++;
          break;
        }
      }
      if (isObject) {
        const key = string();
        // Own data properties only: a key named `__proto__` must not reach the prototype.
        Object.defineProperty(obj, key, { value: value(type ?? marker(), depth), enumerable: true, writable: true, configurable: true });
      } else out.push(value(type ?? marker(), depth));
    }
    return isObject ? obj : out;
  };
  const root = value(marker(), 0);
  return root;
}
