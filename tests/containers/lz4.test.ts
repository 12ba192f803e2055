import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lz4, xxh32, Xxh32 } from '../../src/containers/lz4.js';
import { FormatError, UnsupportedError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { spillFileOf } from '../../src/io/decoded-source.js';
import { createProbe } from '../../src/probe.js';
import { compressedReaderTests } from '../helpers/compressed-cases.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, runBuffer, sha256Bytes, type TestContext } from '../helpers/container-context.js';
import { prefixLengths, survivesTruncations } from '../helpers/hostile.js';

/** Opens the sole member and returns its sha256, or `error:<code>`. */
async function decodeSha(data: Uint8Array, name = 'x.lz4', t: TestContext = makeContext(name)): Promise<string | undefined> {
  try {
    const list = await listEntries(lz4, new BufferSource(data), t, name);
    expect(list).toHaveLength(1);
    return list[0]?.sha256;
  } finally {
    t.cleanup();
  }
}

/** What the first open of the sole member throws, or undefined. */
async function openError(data: Uint8Array): Promise<unknown> {
  const t = makeContext('e.lz4');
  try {
    for await (const e of lz4.entries(new BufferSource(data), t.ctx)) {
      return await e.open().then(
        (s) => {
          t.budget.release(s);
          return undefined;
        },
        (err: unknown) => err,
      );
    }
    return undefined;
  } finally {
    t.cleanup();
  }
}

describe('xxHash32', () => {
  it('gives the reference values of the XXH32 specification', () => {
    expect(xxh32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxh32(Buffer.from('abc'))).toBe(0x32d153ff);
    expect(xxh32(new Uint8Array(0), 1)).toBe(0x0b2cb792);
    // Streaming in odd pieces equals one call.
    const data = crypto.randomBytes(1000);
    const h = new Xxh32();
    for (let i = 0; i < data.length; i += 7) h.update(data.subarray(i, i + 7));
    expect(h.digest()).toBe(xxh32(data));
  });
});

compressedReaderTests({ reader: lz4, tool: 'lz4', ext: '.lz4', tarShort: '.tlz4', compressArgs: ['-q', '-c'], trailingGarbageTolerated: true }, ({ dir }) => {
  /** Compresses through a file: from a pipe, `lz4 --content-size` cannot record the size. */
  const compressFile = (args: string[], plain: Uint8Array): Buffer => {
    const input = path.join(dir(), 'plain');
    fs.writeFileSync(input, plain);
    return runBuffer('lz4', ['-q', '-c', ...args, input]);
  };
  // Text with long-distance repeats, so that linked blocks really reach into the previous block.
  const sample = (): Buffer => {
    const words = Buffer.from('model weights tensor layer quantised conv relu softmax ');
    const parts: Buffer[] = [];
    for (let i = 0; i < 3000; i++) parts.push(words.subarray(i % 13, 20 + (i % 31)), crypto.randomBytes(i % 5));
    const text = Buffer.concat(parts);
    return Buffer.concat([text, crypto.randomBytes(300_000), text, Buffer.alloc(200_000, 9), text]);
  };

  const variants: [string, string[]][] = [
    ['-B4 (64 KiB blocks)', ['-B4']],
    ['-B5 (256 KiB blocks)', ['-B5']],
    ['-B6 (1 MiB blocks)', ['-B6']],
    ['-B7 (4 MiB blocks)', ['-B7']],
    ['-BD -B4 (linked blocks)', ['-BD', '-B4']],
    ['-BD -B5 --content-size', ['-BD', '-B5', '--content-size']],
    ['-BX (block checksums)', ['-BX', '-B4']],
    ['--no-frame-crc', ['--no-frame-crc']],
    ['-9 -BD -BX --content-size', ['-9', '-BD', '-BX', '--content-size', '-B4']],
    ['-l (legacy)', ['-l']],
  ];
  for (const [label, args] of variants) {
    it(`decodes lz4 ${label} as lz4 -d does`, async () => {
      const plain = sample();
      const file = path.join(dir(), 'v.lz4');
      const packed = compressFile(args, plain);
      // The options really took effect: FLG C.Size (0x08) and B.Indep (0x20) as asked.
      if (!args.includes('-l')) {
        expect((packed[4]! & 0x08) !== 0).toBe(args.includes('--content-size'));
        expect((packed[4]! & 0x20) === 0).toBe(args.includes('-BD'));
      }
      fs.writeFileSync(file, packed);
      const tool = runBuffer('lz4', ['-d', '-c', file]);
      expect(sha256Bytes(tool)).toBe(sha256Bytes(plain));
      const t = makeContext('ramdisk.lz4');
      const list = await listEntries(lz4, new BufferSource(fs.readFileSync(file)), t);
      expect(list).toEqual([{ path: 'ramdisk', type: 'file', size: plain.length, sha256: sha256Bytes(tool) }]);
      expect(t.problems).toEqual([]);
      t.cleanup();
    });
  }

  it('decodes legacy streams of several 8 MiB blocks, concatenated legacy streams, and legacy then frame', async () => {
    const big = Buffer.concat([crypto.randomBytes(3 * 1024 * 1024), Buffer.alloc(14 * 1024 * 1024, 3), Buffer.from('end')]);
    const legacy = runBuffer('lz4', ['-q', '-c', '-l'], big);
    // Three blocks: 8 MiB, 8 MiB, the rest.
    expect(legacy.readUInt32LE(0)).toBe(0x184c2102);
    const small = Buffer.from('second stream\n');
    const mixed = Buffer.concat([legacy, runBuffer('lz4', ['-q', '-c', '-l'], small), runBuffer('lz4', ['-q', '-c'], small)]);
    const file = path.join(dir(), 'mixed.lz4');
    fs.writeFileSync(file, mixed);
    const expected = Buffer.concat([big, small, small]);
    expect(await decodeSha(mixed)).toBe(sha256Bytes(expected));
    expect(sha256Bytes(runBuffer('lz4', ['-d', '-c', file]))).toBe(sha256Bytes(expected));
  });

  it('ends a legacy stream at zero padding silently and at other bytes with a warning', async () => {
    const plain = Buffer.from('ramdisk '.repeat(5000));
    const legacy = runBuffer('lz4', ['-q', '-c', '-l'], plain);
    expect(await decodeSha(Buffer.concat([legacy, Buffer.alloc(4096)]))).toBe(sha256Bytes(plain));
    const t = makeContext('j.lz4');
    expect(await decodeSha(Buffer.concat([legacy, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])]), 'j.lz4', t)).toBe(sha256Bytes(plain));
    expect(t.problems).toEqual([expect.objectContaining({ severity: 'warning', code: 'format' })]);
  });

  it('skips skippable frames, also in front of the first frame', async () => {
    const payload = Buffer.from('between skippable frames');
    const frame = runBuffer('lz4', ['-q', '-c'], payload);
    const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('skip')]);
    const data = Buffer.concat([skippable, frame, skippable, frame]);
    expect(lz4.match(createProbe(new BufferSource(data), 'x'))).toBe(true);
    expect(await decodeSha(data)).toBe(sha256Bytes(Buffer.concat([payload, payload])));
  });

  it('verifies the header, block and content checksums and the content size', async () => {
    const plain = sample();
    const good = compressFile(['-BX', '-B4', '--content-size'], plain);
    expect(good[4]! & 0x08).toBe(0x08); // C.Size set
    expect(await decodeSha(good)).toBe(sha256Bytes(plain));
    // FLG BD, content size (8), HC at 14; the first block size at 15, its data from 19.
    const flip = (at: number): Buffer => {
      const b = Buffer.from(good);
      b[at] = (b[at] as number) ^ 0x01;
      return b;
    };
    expect(String(await openError(flip(14)))).toMatch(/header checksum/);
    const firstBlock = good.readUInt32LE(15) & 0x7fffffff;
    expect(String(await openError(flip(19 + 10)))).toMatch(/block checksum|Invalid LZ4 block/);
    expect(String(await openError(flip(19 + firstBlock)))).toMatch(/block checksum/);
    expect(String(await openError(flip(good.length - 1)))).toMatch(/content checksum/);
    // A content size one larger, with its header checksum recomputed: the frame decodes short.
    const bad = Buffer.from(good);
    bad.writeUInt32LE(plain.length + 1, 6);
    bad[14] = (xxh32(bad.subarray(4, 14)) >>> 8) & 0xff;
    const err = await openError(bad);
    expect(err).toBeInstanceOf(FormatError);
    expect(String(err)).toMatch(/content size/);
  });

  it('refuses a frame that needs a dictionary, and reserved descriptor bits', async () => {
    // FLG 0x61: version 01, independent blocks, DictID; BD 0x40; dictionary id 7; HC; EndMark.
    const desc = Buffer.from([0x61, 0x40, 7, 0, 0, 0]);
    const frame = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), desc, Buffer.from([(xxh32(desc) >>> 8) & 0xff]), Buffer.alloc(4)]);
    expect(await openError(frame)).toBeInstanceOf(UnsupportedError);
    const reserved = Buffer.from(frame);
    reserved[5] = 0x41; // BD reserved low bits
    expect(lz4.match(createProbe(new BufferSource(reserved), 'x'))).toBe(false);
    expect(await openError(reserved)).toBeInstanceOf(FormatError);
  });

  it('refuses hostile sizes: a block above the block maximum, a legacy block past the end, a block decoding too long', async () => {
    // Frame with 64 KiB blocks whose first block claims 100 000 bytes.
    const desc = Buffer.from([0x60, 0x40]);
    const head = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), desc, Buffer.from([(xxh32(desc) >>> 8) & 0xff])]);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(100_000);
    expect(String(await openError(Buffer.concat([head, size, Buffer.alloc(100_000)])))).toMatch(/block maximum/);
    // Legacy block of 1000 bytes with 10 present.
    const legacy = Buffer.from([0x02, 0x21, 0x4c, 0x18, 0xe8, 0x03, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const err = await openError(legacy);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe('truncated');
    // A 64 KiB-block frame whose block decodes to more than 64 KiB: a run of 70 000 bytes.
    const block = Buffer.from(runBuffer('lz4', ['-q', '-c', '-B5', '--no-frame-crc'], Buffer.alloc(70_000, 1)));
    block[5] = 0x40; // BD: claim 64 KiB blocks
    block[6] = (xxh32(block.subarray(4, 6)) >>> 8) & 0xff;
    expect(String(await openError(block))).toMatch(/overflow/);
  });

  it('survives every prefix of a legacy stream and of a linked-block frame: typed errors only', async () => {
    const plain = Buffer.concat([Buffer.from('legacy member '.repeat(40)), crypto.randomBytes(300)]);
    for (const args of [['-l'], ['-BD', '-B4', '-BX', '--content-size']]) {
      const full = compressFile(args, plain);
      await survivesTruncations(
        lz4,
        full,
        prefixLengths(full.length, full.length),
        () => makeContext('p.lz4'),
        (list, label) => {
          // A legacy stream has no end mark: a prefix ending between blocks is a valid shorter stream.
          for (const e of list) if (e.sha256?.startsWith('error:')) expect(e.sha256, label).toMatch(/^error:(truncated|format)$/);
        },
      );
    }
  });

  it('decodes 64 MiB of legacy ramdisk into a spill file under a 16 MiB memory budget', async () => {
    const chunk = Buffer.concat([crypto.randomBytes(256 * 1024), Buffer.from('weights '.repeat(96 * 1024))]);
    const plain = Buffer.concat(Array.from({ length: (64 * 1024 * 1024) / chunk.length }, () => chunk));
    const legacy = runBuffer('lz4', ['-q', '-c', '-l'], plain);
    const t = makeContext('big.lz4', { memoryBudget: 16 * 1024 * 1024 });
    let spilled: string | undefined;
    const list = await listEntries(lz4, new BufferSource(legacy), t, 'big.lz4', { onSource: (_p, s) => (spilled = spillFileOf(s)) });
    expect(list[0]?.sha256).toBe(sha256Bytes(plain));
    expect(spilled).toBeDefined();
    t.cleanup();
  });
});

describe.skipIf(!hasTool('lz4'))('lz4 match', () => {
  it('matches frames and legacy streams, not other data', () => {
    const frame = runBuffer('lz4', ['-q', '-c'], Buffer.from('x'));
    const legacy = runBuffer('lz4', ['-q', '-c', '-l'], Buffer.from('x'));
    expect(lz4.match(createProbe(new BufferSource(frame), 'a'))).toBe(true);
    expect(lz4.match(createProbe(new BufferSource(legacy), 'a'))).toBe(true);
    // Legacy magic followed by an implausible block size.
    expect(lz4.match(createProbe(new BufferSource(Buffer.from([0x02, 0x21, 0x4c, 0x18, 0xff, 0xff, 0xff, 0xff])), 'a'))).toBe(false);
    expect(lz4.match(createProbe(new BufferSource(crypto.randomBytes(4096)), 'a'))).toBe(false);
  });
});
