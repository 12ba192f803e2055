import { expect } from 'vitest';
import type { ContainerReader } from '../../src/containers/types.js';
import { AibomError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { listEntries, type TestContext } from './container-context.js';

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
        if (!(err instanceof AibomError)) throw err;
      }
    }
    return 'ok';
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    return err.code;
  } finally {
    t.cleanup();
  }
}

/**
 * Flips one byte of `good` at a seeded random place, `count` times, and lists each result: a listing
 * or typed errors, never a crash (the same sequence every run, so a failure names its flip).
 */
export async function survivesByteFlips(reader: ContainerReader, good: Uint8Array, count: number, makeContext: () => TestContext): Promise<void> {
  let rng = 4242;
  const next = (n: number): number => {
    rng = (rng * 1103515245 + 12345) % 2 ** 31;
    return rng % n;
  };
  for (let i = 0; i < count; i++) {
    const bad = Buffer.from(good);
    const at = next(bad.length);
    bad[at] = (bad[at] as number) ^ (1 + next(255));
    const t = makeContext();
    try {
      for (const e of await listEntries(reader, new BufferSource(bad), t)) {
        expect(e.sha256 ?? '', `flip at ${at}`).not.toBe('error:unknown');
      }
    } catch (err) {
      expect(err, `flip at ${at}: ${String(err)}`).toBeInstanceOf(AibomError);
    }
    t.cleanup();
  }
}
