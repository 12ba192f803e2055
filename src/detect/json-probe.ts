import { MAX_READ } from '../io/byte-source.js';
import type { Probe } from '../probe.js';

/**
 * JSON-based model formats (TF.js `model.json`, sharded safetensors indexes, and those to come) all
 * ask the same question of an item: is it a JSON object, and what does it hold? This helper answers it
 * once per item through the probe's `memo`: a cheap look at the head first (so that binary files cost
 * nothing), then one bounded read and one `JSON.parse` of the whole item, shared by every detector.
 *
 * It deliberately handles only a top-level object (every descriptor we know is one), strict UTF-8
 * (with or without a BOM), and items up to `MAX_JSON_BYTES`; JSON5, comments, JSON lines and top-level
 * arrays are "not an object".
 */

/** Largest JSON item parsed: the bound for descriptors (a 64 MiB `model.json` is refused). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

export type JsonProbe =
  /** The head does not start like a JSON object: the common case, decided without parsing. */
  | { status: 'not-object' }
  /** It starts like one but is larger than the limit: refused, not parsed. */
  | { status: 'too-large'; size: number; limit: number }
  /** It starts like one but is not valid JSON (or not an object once parsed). */
  | { status: 'invalid'; message: string }
  | { status: 'object'; value: Record<string, unknown> };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * True when `head` starts like a JSON object: optional UTF-8 BOM and whitespace, `{`, optional
 * whitespace, then `"` (a first key) or `}` (an empty object). Binary formats fail on their first byte.
 */
export function looksLikeJsonObject(head: Uint8Array): boolean {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3; // UTF-8 BOM
  const ws = (b: number | undefined): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  while (i < head.length && ws(head[i])) i++;
  if (head[i] !== 0x7b) return false; // '{'
  i++;
  while (i < head.length && ws(head[i])) i++;
  return head[i] === 0x22 || head[i] === 0x7d; // '"' or '}'
}

/**
 * Parses the probe's item as a JSON object, once per item (memoised under `json-probe`). Reads the
 * whole item only when its head starts like an object and it is at most `MAX_JSON_BYTES` long.
 */
export function jsonObject(probe: Probe): JsonProbe {
  return probe.memo('json-probe', (): JsonProbe => {
    if (!looksLikeJsonObject(probe.head)) return { status: 'not-object' };
    if (probe.size > MAX_JSON_BYTES) return { status: 'too-large', size: probe.size, limit: MAX_JSON_BYTES };
    // MAX_JSON_BYTES <= MAX_READ: one read; the head already holds small items whole.
    const bytes = probe.head.length === probe.size ? probe.head : probe.source.read(0, Math.min(probe.size, MAX_READ));
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      return { status: 'invalid', message: 'the text is not valid UTF-8' };
    }
    let value: unknown;
    try {
      value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (err) {
      return { status: 'invalid', message: err instanceof Error ? err.message : String(err) };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { status: 'invalid', message: 'the top-level value is not an object' };
    return { status: 'object', value: value as Record<string, unknown> };
  });
}

/** True when the head (not the whole item) contains `"key"` as a JSON string: a cheap hint for items too large to parse. */
export function headMentionsKey(head: Uint8Array, key: string): boolean {
  return Buffer.from(head.buffer, head.byteOffset, head.byteLength).includes(`"${key}"`, 0, 'latin1');
}

/** A plain object (not null, not an array), narrowed for property access. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
