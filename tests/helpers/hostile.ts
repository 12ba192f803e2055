import { expect } from 'vitest';
import type { ContainerReader } from '../../src/containers/types.js';
import { AibomError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { listEntries, type Listed, type TestContext } from './container-context.js';

/*
 * Hostile-input checks shared by every container's tests. On corrupt or cut input a reader may list
 * fewer members, record problems, or throw aibom's typed errors (FormatError, LimitError,
 * UnsupportedError); anything else (a RangeError from an unchecked index, a TypeError) is a missing
 * check and fails here: reported as `internal` by the scan, it would blame the input for our bug.
 */

/** Fails unless `err` is one of aibom's typed errors. */
export function expectTyped(err: unknown, label: string): asserts err is AibomError {
  expect(err, `${label}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`).toBeInstanceOf(AibomError);
}

/** Fails when a listing holds an entry whose open failed untyped, or a problem coded `internal`. */
export function expectTypedListing(list: readonly Listed[], t: TestContext, label: string): void {
  for (const e of list) {
    if (e.sha256?.startsWith('error:')) expect(e.sha256, `${label}: ${e.path}`).not.toMatch(/^error:(internal|unknown)$/);
  }
  for (const p of t.problems) expect(p.code, `${label}: ${p.message}`).not.toBe('internal');
}

/** A test's own expectation on a listing that did not throw (e.g. no member may fail to open). */
export type ListingCheck = (list: readonly Listed[], label: string, t: TestContext) => void;

/**
 * Lists `bytes` with `reader` (every file opened and hashed) and checks that only typed errors come
 * out. Returns 'ok' or the code of the typed error that stopped the listing. Cleans `t` up.
 */
export async function listsTyped(reader: ContainerReader, bytes: Uint8Array, t: TestContext, label: string, check?: ListingCheck): Promise<string> {
  try {
    const list = await listEntries(reader, new BufferSource(bytes), t);
    expectTypedListing(list, t, label);
    check?.(list, label, t);
    return 'ok';
  } catch (err) {
    if (err instanceof Error && err.name === 'AssertionError') throw err;
    expectTyped(err, label);
    return err.code;
  } finally {
    t.cleanup();
  }
}

/**
 * Walks every member of `src` and lets `touch` read each one: only aibom's typed errors may come out.
 * Returns 'ok', or the code of the typed error that stopped the walk. Cleans `t` up.
 */
export async function survives(reader: ContainerReader, src: ByteSource, t: TestContext, touch: (s: ByteSource) => void): Promise<string> {
  try {
    for await (const e of reader.entries(src, t.ctx)) {
      try {
        touch(await e.open());
      } catch (err) {
        expectTyped(err, `member ${e.path}`);
      }
    }
    for (const p of t.problems) expect(p.code, p.message).not.toBe('internal');
    return 'ok';
  } catch (err) {
    if (err instanceof Error && err.name === 'AssertionError') throw err;
    expectTyped(err, 'walk');
    return err.code;
  } finally {
    t.cleanup();
  }
}

/** Where byte flips land: the whole input by default, [from, to), or where `pick` says. */
export interface FlipOptions {
  seed?: number;
  from?: number;
  to?: number;
  /** Chooses the position of flip `i` with the seeded generator (`next(n)` is in [0, n)). */
  pick?: (next: (n: number) => number, i: number) => number;
  /** Checked on each listing that did not throw. */
  check?: ListingCheck;
}

/**
 * `count` copies of `good`, each with one byte flipped at a seeded random place (the same sequence
 * every run, so a failure names its flip).
 */
export function* byteFlips(good: Uint8Array, count: number, opts: FlipOptions = {}): Generator<{ bytes: Buffer; at: number }> {
  let rng = opts.seed ?? 4242;
  const next = (n: number): number => {
    rng = (rng * 1103515245 + 12345) % 2 ** 31;
    return rng % n;
  };
  const from = opts.from ?? 0;
  const to = Math.min(opts.to ?? good.length, good.length);
  for (let i = 0; i < count; i++) {
    const bytes = Buffer.from(good);
    const at = opts.pick ? opts.pick(next, i) : from + next(to - from);
    bytes[at] = bytes[at]! ^ (1 + next(255));
    yield { bytes, at };
  }
}

/** About `steps` prefix lengths spread over [0, length), plus `extra` ones (header boundaries). */
export function prefixLengths(length: number, steps: number, extra: readonly number[] = []): number[] {
  const out = new Set<number>(extra.filter((n) => n >= 0 && n < length));
  const stride = Math.max(1, Math.floor(length / steps));
  for (let n = 0; n < length; n += stride) out.add(n);
  return [...out].sort((a, b) => a - b);
}

/** Flips bytes of `good` (see byteFlips) and lists each result: a listing or typed errors, never a crash. */
export async function survivesByteFlips(
  reader: ContainerReader,
  good: Uint8Array,
  count: number,
  makeContext: () => TestContext,
  opts: FlipOptions = {},
): Promise<void> {
  for (const { bytes, at } of byteFlips(good, count, opts)) await listsTyped(reader, bytes, makeContext(), `flip at ${at}`, opts.check);
}

/** Lists each prefix of `good` of the given lengths: a listing or typed errors, never a crash. */
export async function survivesTruncations(
  reader: ContainerReader,
  good: Uint8Array,
  lengths: Iterable<number>,
  makeContext: () => TestContext,
  check?: ListingCheck,
): Promise<void> {
  for (const n of lengths) await listsTyped(reader, good.subarray(0, n), makeContext(), `cut at ${n}`, check);
}
