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

/** Lower-case extension of a name including the dot, or '' (`model.TFLite` -> `.tflite`). */
export function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}
