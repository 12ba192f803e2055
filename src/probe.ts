import type { ByteSource } from './io/byte-source.js';

/** How many bytes of every item are read up front and shared by all detectors. */
export const HEAD_SIZE = 64 * 1024;

/**
 * What detectors see of one item: its name, size and first bytes, read once. Derived facts several
 * detectors want (a FlatBuffers identifier, the first protobuf tags, parsed JSON) are computed once
 * through `memo`, so forty detectors do not decode the same header forty times.
 */
export interface Probe {
  /** The item's own name (last path component), for extension claims; never trusted for detection. */
  readonly name: string;
  readonly size: number;
  /** The first min(size, HEAD_SIZE) bytes. */
  readonly head: Uint8Array;
  readonly source: ByteSource;
  memo<T>(key: string, compute: () => T): T;
}

/** Builds the probe for one item: one read of its head. */
export function createProbe(source: ByteSource, name: string): Probe {
  const head = source.read(0, Math.min(source.size, HEAD_SIZE));
  const cache = new Map<string, unknown>();
  return {
    name,
    size: source.size,
    head,
    source,
    memo<T>(key: string, compute: () => T): T {
      if (cache.has(key)) return cache.get(key) as T;
      const v = compute();
      cache.set(key, v);
      return v;
    },
  };
}

/** The last name asked about and its extension: every extension-gated detector asks about the same item in turn. */
let lastName = '';
let lastExt = '';

/** Lower-case extension of a name including the dot, or '' (`model.TFLite` -> `.tflite`). */
export function extensionOf(name: string): string {
  if (name === lastName) return lastExt;
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  lastName = name;
  lastExt = dot > 0 ? base.slice(dot).toLowerCase() : '';
  return lastExt;
}

/**
 * The first byte of an item that is not ASCII whitespace or a UTF-8 byte-order mark (within its first
 * 4 KiB), or -1: one look decides for every text-based detector whether the item can be JSON (`{`) or
 * XML (`<`) before any of them searches the head. Memoized on the probe.
 */
export function leadingByte(probe: Probe): number {
  return probe.memo('leadingByte', () => {
    const h = probe.head;
    let i = h.length >= 3 && h[0] === 0xef && h[1] === 0xbb && h[2] === 0xbf ? 3 : 0;
    const end = Math.min(h.length, 4096);
    while (i < end && (h[i] === 0x20 || h[i] === 0x0a || h[i] === 0x0d || h[i] === 0x09)) i++;
    return i < end ? h[i]! : -1;
  });
}
