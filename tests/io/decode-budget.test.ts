import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, LimitError } from '../../src/errors.js';
import { DecodeBudget } from '../../src/io/decode-budget.js';
import { isReleased, releaseDecoded, spillFileOf } from '../../src/io/decoded-source.js';
import { DEFAULT_LIMITS, RATIO_FLOOR, type Limits } from '../../src/io/limits.js';
import { TempArea } from '../../src/io/temp-area.js';
import { sha256Bytes, sha256Source } from '../helpers/container-context.js';

const MiB = 1024 * 1024;

function budget(limits: Partial<Limits> = {}): { b: DecodeBudget; temp: TempArea } {
  const temp = new TempArea();
  return { b: new DecodeBudget({ ...DEFAULT_LIMITS, ...limits }, temp), temp };
}

/** Yields `bytes` in pieces of `piece`, recording how far it was pulled and whether it was stopped. */
function stream(bytes: Uint8Array, piece = 64 * 1024): { it: AsyncGenerator<Uint8Array>; state: { pulled: number; finished: boolean } } {
  const state = { pulled: 0, finished: false };
  async function* gen(): AsyncGenerator<Uint8Array> {
    try {
      for (let i = 0; i < bytes.length; i += piece) {
        state.pulled = i + piece;
        yield bytes.subarray(i, i + piece);
      }
    } finally {
      state.finished = true;
    }
  }
  return { it: gen(), state };
}

/** An endless stream of zeros: a bomb. */
async function* zeros(piece = 256 * 1024, state?: { pulled: number; finished: boolean }): AsyncGenerator<Uint8Array> {
  const z = new Uint8Array(piece);
  try {
    for (;;) {
      if (state) state.pulled += piece;
      yield z;
    }
  } finally {
    if (state) state.finished = true;
  }
}

describe('DecodeBudget', () => {
  it('keeps small output in memory, hashes it, and reads across blocks', async () => {
    const { b, temp } = budget();
    const data = crypto.randomBytes(3 * MiB + 123);
    const src = await b.decode(stream(data, 100_000).it, { what: 'test', compressedSize: data.length });
    expect(src.size).toBe(data.length);
    expect(src.sha256).toBe(sha256Bytes(data));
    expect(src.identity).toBe(`sha256:${sha256Bytes(data)}`);
    expect(sha256Source(src)).toBe(sha256Bytes(data));
    // Reads that straddle the growing blocks (64 KiB, 128 KiB, ...) are copied together.
    for (const [off, len] of [
      [0, 10],
      [65_530, 20],
      [196_600, 300_000],
      [data.length - 5, 100],
    ] as const) {
      expect(Buffer.from(src.read(off, len))).toEqual(data.subarray(off, off + len));
    }
    expect(spillFileOf(src)).toBeUndefined();
    expect(b.memoryBytes).toBeGreaterThanOrEqual(data.length);
    expect(b.memoryBytes).toBeLessThan(data.length * 2);
    b.release(src);
    expect(b.memoryBytes).toBe(0);
    expect(isReleased(src)).toBe(true);
    expect(() => src.read(0, 1)).toThrow(/released/);
    expect(temp.path).toBeUndefined();
  });

  it('sizes one exact block from a declared size and checks the output against it', async () => {
    const { b } = budget();
    const data = crypto.randomBytes(500_000);
    const src = await b.decode(stream(data).it, { what: 'exact', compressedSize: 1000, declaredSize: data.length });
    expect(b.memoryBytes).toBe(data.length);
    expect(src.read(1000, 400_000).byteOffset).toBe(1000); // a view of one block, not a copy
    await expect(b.decode(stream(data).it, { what: 'short', compressedSize: 1000, declaredSize: data.length + 1 })).rejects.toSatisfy(
      (e) => e instanceof FormatError && e.code === 'truncated',
    );
    const over = stream(data);
    await expect(b.decode(over.it, { what: 'long', compressedSize: 1000, declaredSize: 1000 })).rejects.toBeInstanceOf(FormatError);
    expect(over.state.finished).toBe(true);
    expect(over.state.pulled).toBeLessThanOrEqual(64 * 1024);
    b.release(src);
    expect(b.memoryBytes).toBe(0);
  });

  it('stops a bomb at maxRatio once past RATIO_FLOOR, destroying the stream', async () => {
    const { b, temp } = budget({ maxRatio: 100 });
    const state = { pulled: 0, finished: false };
    const err = await b.decode(zeros(256 * 1024, state), { what: 'bomb', compressedSize: 50_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitError);
    expect((err as LimitError).limit).toBe('maxRatio');
    expect((err as LimitError).message).toMatch(/bomb.*maxRatio 100/);
    expect(state.finished).toBe(true);
    expect(state.pulled).toBeLessThanOrEqual(100 * 50_000 + 256 * 1024);
    expect(b.memoryBytes).toBe(0);
    expect(temp.openFiles).toBe(0);
    // Below the floor, a tiny input may expand far past the ratio: that is normal (a 1 KiB file of zeros).
    const small = await b.decode(stream(new Uint8Array(RATIO_FLOOR)).it, { what: 'small', compressedSize: 10 });
    expect(small.size).toBe(RATIO_FLOOR);
  });

  it('counts maxDecompressedBytes across the whole scan', async () => {
    const { b } = budget({ maxDecompressedBytes: 5 * MiB });
    const a = await b.decode(stream(new Uint8Array(3 * MiB)).it, { what: 'first', compressedSize: 3 * MiB });
    const state = { pulled: 0, finished: false };
    const err = await b.decode(zeros(64 * 1024, state), { what: 'second', compressedSize: 1e12 }).catch((e: unknown) => e);
    expect((err as LimitError).limit).toBe('maxDecompressedBytes');
    expect(b.decompressedBytes).toBeLessThanOrEqual(5 * MiB + 64 * 1024);
    expect(state.finished).toBe(true);
    b.release(a);
  });

  it('spills past the memory budget to a private temp file, read back positionally, deleted on release', async () => {
    const { b, temp } = budget({ memoryBudget: MiB });
    const data = crypto.randomBytes(10 * MiB);
    const src = await b.decode(stream(data, 100_000).it, { what: 'big', compressedSize: data.length });
    const file = spillFileOf(src) as string;
    expect(file).toBeDefined();
    expect(path.dirname(path.dirname(file))).toBe(os.tmpdir());
    expect(path.basename(path.dirname(file))).toMatch(/^aibom-/);
    expect(fs.statSync(file).size).toBe(data.length);
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
    expect(b.memoryBytes).toBe(0); // what was held before the spill moved to the file
    expect(sha256Source(src)).toBe(sha256Bytes(data));
    expect(Buffer.from(src.read(5 * MiB - 7, 1000))).toEqual(data.subarray(5 * MiB - 7, 5 * MiB + 993));
    releaseDecoded(src);
    expect(fs.existsSync(file)).toBe(false);
    expect(isReleased(src)).toBe(true);
    // A second one is removed with the whole area by cleanup().
    const again = await b.decode(stream(data).it, { what: 'again', compressedSize: data.length });
    const dir = temp.path as string;
    expect(fs.readdirSync(dir)).toHaveLength(1);
    void again;
    temp.cleanup();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('keeps the in-memory total under the budget across live sources, spilling the rest', async () => {
    const { b, temp } = budget({ memoryBudget: 4 * MiB });
    const live = [];
    for (let i = 0; i < 6; i++) {
      live.push(await b.decode(stream(crypto.randomBytes(MiB + 1000)).it, { what: `s${i}`, compressedSize: MiB }));
      expect(b.memoryBytes).toBeLessThanOrEqual(4 * MiB);
    }
    expect(live.filter((s) => spillFileOf(s) !== undefined).length).toBeGreaterThan(0);
    for (const s of live) b.release(s);
    expect(b.memoryBytes).toBe(0);
    expect(temp.openFiles).toBe(0);
    temp.cleanup();
  });

  it('discards a partial spill file when a decode fails', async () => {
    const { b, temp } = budget({ memoryBudget: MiB, maxDecompressedBytes: 6 * MiB });
    await expect(b.decode(zeros(), { what: 'fails', compressedSize: 1e12 })).rejects.toBeInstanceOf(LimitError);
    expect(temp.openFiles).toBe(0);
    expect(fs.readdirSync(temp.path as string)).toEqual([]);
    temp.cleanup();
  });
});

describe('TempArea', () => {
  it('creates files only inside its own directory, with exclusive flags', () => {
    const temp = new TempArea();
    const a = temp.createFile();
    const dir = temp.path as string;
    expect(path.dirname(a.path)).toBe(dir);
    // A planted file where the next name would go is never reused.
    fs.writeFileSync(path.join(dir, 'decoded-2.bin'), 'planted');
    expect(() => temp.createFile()).toThrow(/EEXIST/);
    temp.removeFile(a.fd);
    expect(fs.existsSync(a.path)).toBe(false);
    temp.cleanup();
    expect(fs.existsSync(dir)).toBe(false);
    temp.cleanup(); // twice is fine
  });
});
