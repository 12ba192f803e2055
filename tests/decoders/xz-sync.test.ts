import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeXzInto, decodeXzSync, xzDeclaredSize } from '../../src/decoders/xz-sync.js';
import { AibomError, FormatError, LimitError, UnsupportedError } from '../../src/errors.js';
import { hasTool } from '../helpers/corpus.js';
import { rssMiB, runBuffer } from '../helpers/container-context.js';

const d = describe.skipIf(!hasTool('xz'));

/** Text-like data that compresses a few times over, with some random stretches. */
function sample(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  const words = ['model', 'tensor', 'weights', 'firmware', 'squashfs', 'partition', '\n', ' ', 'layer_', '0123456789'];
  let x = seed;
  let at = 0;
  while (at < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    if ((x & 0xfff) < 6) {
      const n = Math.min(size - at, 16 + (x % 128));
      out.set(crypto.randomBytes(n), at);
      at += n;
      continue;
    }
    const w = Buffer.from(words[(x >>> 8) % words.length]!);
    out.set(w.subarray(0, size - at), at);
    at += w.length;
  }
  return out;
}

const xz = (data: Uint8Array, args: string[]): Buffer => runBuffer('xz', ['-c', ...args], data);

/** Only aibom's typed errors may come out of the decoder. */
function typedOutcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    if (err instanceof AibomError) return err.code;
    throw err;
  }
}

d('decodeXzSync', () => {
  const data = sample(3 * 1024 * 1024 + 17);

  it('decodes what the xz CLI makes at several presets and with every check type', () => {
    const data = sample(512 * 1024 + 17, 3);
    for (const preset of ['-0', '-6', '-9e']) {
      for (const check of ['none', 'crc32', 'crc64', 'sha256']) {
        const packed = xz(data, [preset, `--check=${check}`]);
        const out = decodeXzSync(packed, data.length, `sample ${preset} ${check}`);
        expect(Buffer.compare(Buffer.from(out), Buffer.from(data)), `${preset} ${check}`).toBe(0);
      }
    }
  });

  it('decodes empty input streams, multi-block files and concatenated streams with padding', () => {
    const empty = xz(new Uint8Array(0), []);
    expect(decodeXzSync(empty, 10, 'empty')).toHaveLength(0);
    const blocks = xz(data, ['--block-size=100000']);
    expect(Buffer.from(decodeXzSync(blocks, data.length, 'blocks')).equals(Buffer.from(data))).toBe(true);
    const a = xz(data.subarray(0, 1000), ['--check=crc32']);
    const b = xz(data.subarray(1000), ['-1']);
    // Stream padding: zero bytes in multiples of four between and after streams.
    const cat = Buffer.concat([a, Buffer.alloc(8), empty, b, Buffer.alloc(4)]);
    expect(xzDeclaredSize(cat)).toBe(data.length);
    expect(Buffer.from(decodeXzSync(cat, data.length, 'cat')).equals(Buffer.from(data))).toBe(true);
  });

  it('knows the declared size from the indexes, and ignores a lying index', () => {
    const packed = xz(data, ['-3']);
    expect(xzDeclaredSize(packed)).toBe(data.length);
    expect(xzDeclaredSize(packed.subarray(0, packed.length - 1))).toBeUndefined();
    expect(xzDeclaredSize(crypto.randomBytes(4096))).toBeUndefined();
    expect(xzDeclaredSize(new Uint8Array(64))).toBeUndefined();
  });

  it('decodes into a caller buffer and rejects output larger than it', () => {
    const packed = xz(data.subarray(0, 4096), []);
    const out = new Uint8Array(4096);
    expect(decodeXzInto(packed, out, 'block')).toBe(4096);
    expect(Buffer.from(out).equals(Buffer.from(data.subarray(0, 4096)))).toBe(true);
    expect(() => decodeXzInto(packed, new Uint8Array(4095), 'small block')).toThrow(FormatError);
    expect(decodeXzInto(packed, new Uint8Array(8192), 'big block')).toBe(4096);
  });

  it('stops with a LimitError as soon as output passes maxOutput', () => {
    const packed = xz(data, []);
    expect(() => decodeXzSync(packed, data.length - 1, 'one short')).toThrow(LimitError);
    expect(decodeXzSync(packed, data.length, 'exact')).toHaveLength(data.length);
  });

  // The BCJ filters this xz writes (--arm64 needs xz 5.4), decided at collection time; the others skip visibly.
  const bcjFilters = ['--x86', '--powerpc', '--ia64', '--arm', '--armthumb', '--sparc', '--arm64'];
  const bcjWritten = bcjFilters.filter((filter) => {
    try {
      xz(Buffer.from('x'), [filter, '--lzma2=preset=1']);
      return true;
    } catch {
      return false;
    }
  });
  for (const filter of bcjFilters)
    if (!bcjWritten.includes(filter)) it.skip(`decodes the ${filter} BCJ filter (SKIP: this xz cannot write ${filter})`, () => {});

  it('decodes every BCJ filter the xz CLI writes, with start offsets, blocks, streams and checks', () => {
    // Real x86-64 code (this machine's xz binary) then random bytes, where every converter finds
    // candidate instructions by chance.
    const code = new Uint8Array(fs.readFileSync(execFileSync('sh', ['-c', 'command -v xz'], { encoding: 'utf8' }).trim()).subarray(0, 200_000));
    const mixed = Buffer.concat([code, crypto.randomBytes(60_001)]);
    for (const filter of bcjWritten) {
      for (const extra of [[], ['--check=crc32'], ['--check=sha256'], ['--check=none', '--block-size=70000']]) {
        const packed = xz(mixed, [filter, '--lzma2=preset=1', ...extra]);
        const out = decodeXzSync(packed, mixed.length, `${filter} ${extra.join(' ')}`);
        expect(Buffer.from(out).equals(mixed), `${filter} ${extra.join(' ')}`).toBe(true);
        const into = new Uint8Array(mixed.length);
        expect(decodeXzInto(packed, into, filter)).toBe(mixed.length);
        expect(Buffer.from(into).equals(mixed)).toBe(true);
      }
    }
    // A start offset, and streams with and without BCJ concatenated.
    const start = xz(mixed, ['--x86=start=4096', '--lzma2=preset=1']);
    expect(Buffer.from(decodeXzSync(start, mixed.length, 'start offset')).equals(mixed)).toBe(true);
    const cat = Buffer.concat([xz(mixed.subarray(0, 1000), []), xz(mixed.subarray(1000), ['--arm', '--lzma2=preset=1']), Buffer.alloc(4)]);
    expect(Buffer.from(decodeXzSync(cat, mixed.length, 'mixed streams')).equals(mixed)).toBe(true);
    expect(() => decodeXzSync(start, mixed.length - 1, 'limit')).toThrow(LimitError);
    expect(() => decodeXzInto(start, new Uint8Array(100), 'small')).toThrow(FormatError);
  });

  it('verifies the checks it computes itself (SHA-256, CRC64 after BCJ), and reports what it cannot decode', () => {
    const sample1 = data.subarray(0, 50_000);
    for (const args of [['--check=sha256'], ['--check=crc64', '--x86', '--lzma2'], ['--check=crc32', '--arm', '--lzma2']]) {
      const packed = xz(sample1, args);
      expect(Buffer.from(decodeXzSync(packed, 1 << 20, args.join(' '))).equals(Buffer.from(sample1))).toBe(true);
      // The check field sits just before the index: flip one of its bytes.
      const bad = Buffer.from(packed);
      const indexAt = bad.length - 12 - (bad.readUInt32LE(bad.length - 8) + 1) * 4;
      bad[indexAt - 1] = bad[indexAt - 1]! ^ 1;
      expect(() => decodeXzSync(bad, 1 << 20, 'bad check'), args.join(' ')).toThrow(/check of a block does not match/);
    }
    expect(() => decodeXzSync(xz(data.subarray(0, 10000), ['--delta=dist=4', '--lzma2']), 1 << 20, 'delta')).toThrow(UnsupportedError);
    expect(() => decodeXzSync(xz(data.subarray(0, 10000), ['--delta=dist=4', '--lzma2']), 1 << 20, 'delta')).toThrow(/delta \+ LZMA2/);
    expect(() => decodeXzSync(xz(data.subarray(0, 100), ['--lzma2=dict=128MiB']), 1 << 20, 'big dict')).toThrow(UnsupportedError);
    // 64 MiB (xz -9) is the largest accepted.
    expect(decodeXzSync(xz(data.subarray(0, 100), ['--lzma2=dict=64MiB']), 1 << 20, '64 MiB dict')).toHaveLength(100);
  });

  it('survives corruption of BCJ streams with typed errors only', () => {
    const original = Buffer.concat([data.subarray(0, 100_000)]);
    for (const filter of ['--x86', '--arm']) {
      const packed = xz(original, [filter, '--lzma2=preset=1', '--block-size=30000']);
      for (let i = 0; i < 120; i++) {
        const bad = Buffer.from(packed);
        const at = crypto.randomInt(bad.length);
        bad[at] = bad[at]! ^ (1 + crypto.randomInt(255));
        const outcome = typedOutcome(() => decodeXzSync(bad, 1 << 20, 'corrupt bcj'));
        expect(['format', 'truncated', 'unsupported', 'limit'], `${filter} byte ${at}`).toContain(outcome);
      }
      for (let n = 0; n < packed.length; n += Math.ceil(packed.length / 25)) {
        expect(typedOutcome(() => decodeXzSync(packed.subarray(0, n), 1 << 20, 'cut bcj'))).toMatch(/^(format|truncated)$/);
      }
    }
  });

  it('rejects other formats and garbage with a FormatError', () => {
    expect(() => decodeXzSync(runBuffer('xz', ['-c', '--format=lzma'], data.subarray(0, 1000)), 1 << 20, 'lzma alone')).toThrow(FormatError);
    expect(() => decodeXzSync(new Uint8Array(0), 1 << 20, 'nothing')).toThrow(FormatError);
    expect(() => decodeXzSync(crypto.randomBytes(1000), 1 << 20, 'random')).toThrow(FormatError);
    // Trailing garbage after a complete stream.
    const packed = xz(data.subarray(0, 1000), []);
    expect(() => decodeXzSync(Buffer.concat([packed, Buffer.from('garbage!')]), 1 << 20, 'trailing')).toThrow(FormatError);
  });

  it('reports every truncation as a FormatError', () => {
    const packed = xz(data.subarray(0, 200_000), ['--check=crc64']);
    const cuts = new Set<number>([
      0,
      1,
      6,
      11,
      12,
      13,
      20,
      100,
      1000,
      packed.length - 64,
      packed.length - 13,
      packed.length - 12,
      packed.length - 4,
      packed.length - 1,
    ]);
    for (let i = 0; i < 30; i++) cuts.add(Math.floor((packed.length * i) / 30));
    for (const n of cuts) {
      let err: unknown;
      try {
        decodeXzSync(packed.subarray(0, n), 1 << 20, `cut ${n}`);
      } catch (e) {
        err = e;
      }
      expect(err, `cut at ${n}`).toBeInstanceOf(FormatError);
    }
  });

  it('survives corruption with typed errors only, and stays usable afterwards', () => {
    const original = data.subarray(0, 300_000);
    for (const check of ['none', 'crc32']) {
      const packed = xz(original, [`--check=${check}`]);
      for (let i = 0; i < 150; i++) {
        const bad = Buffer.from(packed);
        const at = crypto.randomInt(bad.length);
        bad[at] = bad[at]! ^ (1 + crypto.randomInt(255));
        const outcome = typedOutcome(() => decodeXzSync(bad, 1 << 20, 'corrupt'));
        expect(['ok', 'format', 'truncated', 'unsupported', 'limit']).toContain(outcome);
      }
      // With a CRC32 check, no corruption of the data passes silently.
      const packedCrc = xz(original, ['--check=crc32']);
      const bad = Buffer.from(packedCrc);
      bad[bad.length - 40] = bad[bad.length - 40]! ^ 0x55;
      expect(typedOutcome(() => decodeXzSync(bad, 1 << 20, 'corrupt crc'))).not.toBe('ok');
    }
    expect(Buffer.from(decodeXzSync(xz(original, []), 1 << 20, 'after')).equals(Buffer.from(original))).toBe(true);
  });

  it('stops a 1 GiB bomb quickly, in bounded memory', () => {
    const bomb = execFileSync('sh', ['-c', 'head -c 1073741824 /dev/zero | xz -1 -T2 -c'], { maxBuffer: 64 * 1024 * 1024 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const before = rssMiB();
    const t0 = performance.now();
    expect(() => decodeXzSync(bomb, 4 * 1024 * 1024, 'bomb')).toThrow(LimitError);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(5000);
    expect(rssMiB() - before).toBeLessThan(64);
    // Into a fixed buffer the same way (a squashfs block claiming 1 MiB).
    expect(() => decodeXzInto(bomb, new Uint8Array(1024 * 1024), 'bomb block')).toThrow(FormatError);
  });

  it('decodes a 16 MiB file (twice the -6 dictionary) and 64 streams of 128 KiB into one reused buffer', () => {
    const big = sample(16 * 1024 * 1024, 7);
    const packed = xz(big, ['-6', '-T2']);
    const out = decodeXzSync(packed, big.length, '16 MiB');
    expect(out.length).toBe(big.length);
    expect(crypto.createHash('sha256').update(out).digest('hex')).toBe(crypto.createHash('sha256').update(big).digest('hex'));
    // Many small streams (squashfs-style 128 KiB blocks), each decoded into the same buffer.
    const into = new Uint8Array(128 * 1024);
    for (let off = 0; off < 8 * 1024 * 1024; off += 128 * 1024) {
      const block = big.subarray(off, off + 128 * 1024);
      expect(decodeXzInto(xz(block, ['-2']), into, `block at ${off}`), `block at ${off}`).toBe(block.length);
      expect(Buffer.from(into).equals(block), `block at ${off}`).toBe(true);
    }
  });
});
