import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidSparse, MAX_SPARSE_EXTENTS, MAX_SPARSE_OUTPUT, rawImageName } from '../../src/containers/android-sparse.js';
import { AibomError, FormatError, LimitError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, FileSource, type ByteSource } from '../../src/io/byte-source.js';
import { scan } from '../../src/scan/index.js';
import { buildZip, TfliteBuilder } from '../builders/tflite-builder.js';
import { ExtentSource } from '../../src/io/extent-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, openFile, run, sha256Bytes, sha256Source, tempDir } from '../helpers/container-context.js';
import { modelsOf } from '../helpers/inventory.js';

const tools = hasTool('img2simg') && hasTool('simg2img') && hasTool('mke2fs');
const d = describe.skipIf(!tools);

const CHUNK_RAW = 0xcac1;
const CHUNK_FILL = 0xcac2;
const CHUNK_DONT_CARE = 0xcac3;
const CHUNK_CRC32 = 0xcac4;

/** One chunk of a hand-made sparse file. */
type Chunk =
  | { type: 'raw'; data: Uint8Array }
  | { type: 'fill'; blocks: number; pattern: number }
  | { type: 'dontcare'; blocks: number }
  | { type: 'crc'; value: number };

/**
 * Writes a sparse file by hand from the sparse_format.h layout, for chunk kinds img2simg does not
 * write (DONT_CARE, CRC32) and for header sizes above the minimum. simg2img is still the oracle.
 */
function handSparse(
  blockSize: number,
  list: Chunk[],
  opts: { fileHeaderSize?: number; chunkHeaderSize?: number; totalBlocks?: number; totalChunks?: number } = {},
): Buffer {
  const fh = opts.fileHeaderSize ?? 28;
  const ch = opts.chunkHeaderSize ?? 12;
  const parts: Buffer[] = [];
  let blocks = 0;
  for (const c of list) {
    const h = Buffer.alloc(ch);
    let data = Buffer.alloc(0);
    let n = 0;
    if (c.type === 'raw') {
      h.writeUInt16LE(CHUNK_RAW, 0);
      n = c.data.length / blockSize;
      data = Buffer.from(c.data);
    } else if (c.type === 'fill') {
      h.writeUInt16LE(CHUNK_FILL, 0);
      n = c.blocks;
      data = Buffer.alloc(4);
      data.writeUInt32LE(c.pattern >>> 0, 0);
    } else if (c.type === 'dontcare') {
      h.writeUInt16LE(CHUNK_DONT_CARE, 0);
      n = c.blocks;
    } else {
      h.writeUInt16LE(CHUNK_CRC32, 0);
      data = Buffer.alloc(4);
      data.writeUInt32LE(c.value >>> 0, 0);
    }
    h.writeUInt32LE(n, 4);
    h.writeUInt32LE(ch + data.length, 8);
    blocks += n;
    parts.push(h, data);
  }
  const head = Buffer.alloc(fh);
  head.writeUInt32LE(0xed26ff3a, 0);
  head.writeUInt16LE(1, 4);
  head.writeUInt16LE(0, 6);
  head.writeUInt16LE(fh, 8);
  head.writeUInt16LE(ch, 10);
  head.writeUInt32LE(blockSize, 12);
  head.writeUInt32LE(opts.totalBlocks ?? blocks, 16);
  head.writeUInt32LE(opts.totalChunks ?? list.length, 20);
  return Buffer.concat([head, ...parts]);
}

/** Chunk types and counts of a sparse file, read with python3's struct (an independent walk). */
function chunkTypes(file: string): Record<string, number> {
  const out = run('python3', [
    '-c',
    [
      'import struct,sys,json',
      "d=open(sys.argv[1],'rb').read()",
      "m,ma,mi,fh,ch,bs,tb,tc,cs=struct.unpack('<IHHHHIIII',d[:28])",
      'o=fh; c={}',
      'for i in range(tc):',
      "  t,r,n,ts=struct.unpack('<HHII',d[o:o+12]); c[hex(t)]=c.get(hex(t),0)+1; o+=ts",
      'print(json.dumps(c))',
    ].join('\n'),
    file,
  ]);
  return JSON.parse(out) as Record<string, number>;
}

/** Lists the sparse reader's single entry; any throw must be one of our typed errors. */
async function expand(bytes: Uint8Array, hash = true): Promise<{ size?: number; sha256?: string; problems: string[]; error?: AibomError }> {
  const t = makeContext('system.img');
  try {
    // Without hashing (flipped bytes can declare a huge output of zeros), the image is opened and sampled.
    const listed = hash ? await listEntries(androidSparse, new BufferSource(bytes), t) : [];
    if (!hash) {
      for await (const e of androidSparse.entries(new BufferSource(bytes), t.ctx)) {
        const s = await e.open();
        for (let k = 0; k < 8; k++) s.read(Math.floor((s.size * k) / 8), 4096);
      }
    }
    const problems = t.problems.map((p) => `${p.code}: ${p.message}`);
    const e = listed[0];
    // The walk validated every extent: opening and reading the raw image must not fail.
    if (e?.sha256?.startsWith('error:') === true) throw new Error(`opening the raw image failed: ${e.sha256}`);
    return { ...(e?.size === undefined ? {} : { size: e.size }), ...(e?.sha256 === undefined ? {} : { sha256: e.sha256 }), problems };
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    return { problems: t.problems.map((p) => `${p.code}: ${p.message}`), error: err };
  } finally {
    t.cleanup();
  }
}

d('android-sparse reader', () => {
  let tmp: { dir: string; remove(): void };
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.remove());

  /** Makes `sparse` from `raw` with img2simg, then checks our expansion against simg2img's. */
  async function compareWithSimg2img(raw: string, blockSize?: number): Promise<{ sparse: string; expected: Buffer }> {
    const sparse = `${raw}.simg`;
    run('img2simg', [raw, sparse, ...(blockSize === undefined ? [] : [String(blockSize)])]);
    return { sparse, expected: await checkAgainstSimg2img(sparse) };
  }

  /** Our raw source's size, sha256 and 1000 random ranges must equal what simg2img writes. */
  async function checkAgainstSimg2img(sparse: string): Promise<Buffer> {
    const back = `${sparse}.simg2img`;
    run('simg2img', [sparse, back]);
    const expected = fs.readFileSync(back);
    const name = path.basename(sparse);
    const t = makeContext(name);
    const src = openFile(sparse);
    try {
      expect(androidSparse.match(createProbe(src, name))).toBe(true);
      const entries = [];
      for await (const e of androidSparse.entries(src, t.ctx)) entries.push(e);
      expect(entries.map((e) => [e.path, e.type, e.size])).toEqual([[rawImageName(name), 'file', expected.length]]);
      const raw = await entries[0]!.open();
      expect(raw).toBeInstanceOf(ExtentSource);
      expect(raw.size).toBe(expected.length);
      expect(sha256Source(raw)).toBe(sha256Bytes(expected));
      for (let i = 0; i < 1000; i++) {
        const off = crypto.randomInt(0, expected.length);
        const len = crypto.randomInt(0, Math.min(3 * 65536, expected.length - off) + 1);
        const got = raw.read(off, len);
        if (Buffer.compare(Buffer.from(got), expected.subarray(off, off + len)) !== 0) {
          throw new Error(`range ${off}+${len} differs from simg2img's output`);
        }
      }
      // Nothing was copied to a temp file: RAW chunks are slices of the sparse file.
      expect(t.temp.path).toBeUndefined();
      expect(t.problems).toEqual([]);
    } finally {
      src.close();
      t.cleanup();
    }
    return expected;
  }

  it('names the raw image after the container', () => {
    expect(rawImageName('system.img')).toBe('system.raw');
    expect(rawImageName('super.simg')).toBe('super.raw');
    expect(rawImageName('VENDOR.IMG')).toBe('VENDOR.raw');
    expect(rawImageName('dir/userdata.img')).toBe('userdata.raw');
    expect(rawImageName('system_other')).toBe('system_other.raw');
    expect(rawImageName('.img')).toBe('.img.raw');
    expect(rawImageName('')).toBe('image.raw');
  });

  it('expands an ext4 image made by mke2fs -d and img2simg exactly as simg2img does', async () => {
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'app/Pay'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'app/Pay/Pay.apk'), crypto.randomBytes(700_000));
    fs.writeFileSync(path.join(tree, 'zeros.bin'), Buffer.alloc(300_000));
    fs.writeFileSync(path.join(tree, 'build.prop'), 'ro.product.model=test\n');
    const raw = path.join(tmp.dir, 'system.img');
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, raw, '12M']);
    const { sparse } = await compareWithSimg2img(raw);
    const types = chunkTypes(sparse);
    expect(types[`0x${CHUNK_RAW.toString(16)}`]).toBeGreaterThan(1);
    expect(types[`0x${CHUNK_FILL.toString(16)}`]).toBeGreaterThan(1);
    // And the expansion equals the ext4 image itself.
    expect(sha256Bytes(fs.readFileSync(`${sparse}.simg2img`))).toBe(sha256Bytes(fs.readFileSync(raw)));
  });

  it('expands runs of zeros, one-byte and four-byte fill patterns and data, with 4096 and 1024-byte blocks', async () => {
    const raw = path.join(tmp.dir, 'patterns.bin');
    const pieces: Buffer[] = [];
    const pattern = Buffer.alloc(4096 * 3);
    for (let i = 0; i < pattern.length; i += 4) pattern.writeUInt32LE(0x04030201, i);
    for (let k = 0; k < 6; k++) {
      pieces.push(Buffer.alloc(4096 * (k + 1)), Buffer.alloc(4096 * 2, 0xaa), crypto.randomBytes(4096 * (k + 2)), pattern);
    }
    pieces.push(crypto.randomBytes(4096), Buffer.alloc(8192));
    fs.writeFileSync(raw, Buffer.concat(pieces));
    const { sparse } = await compareWithSimg2img(raw);
    expect(chunkTypes(sparse)[`0x${CHUNK_FILL.toString(16)}`]).toBeGreaterThanOrEqual(12);
    const raw1k = path.join(tmp.dir, 'patterns1k.bin');
    fs.copyFileSync(raw, raw1k);
    await compareWithSimg2img(raw1k, 1024);
  });

  it('expands DONT_CARE and CRC32 chunks and larger headers as simg2img does', async () => {
    const data = crypto.randomBytes(4096 * 3);
    const list: Chunk[] = [
      { type: 'dontcare', blocks: 5 },
      { type: 'raw', data },
      { type: 'crc', value: 0x12345678 },
      { type: 'fill', blocks: 3, pattern: 0xdeadbeef },
      { type: 'fill', blocks: 2, pattern: 0xdeadbeef },
      { type: 'fill', blocks: 1, pattern: 0 },
      { type: 'dontcare', blocks: 4 },
      { type: 'raw', data: crypto.randomBytes(4096) },
      { type: 'dontcare', blocks: 7 },
    ];
    for (const [n, opts] of [
      ['hand.simg', {}],
      ['hand-bighdr.simg', { fileHeaderSize: 32, chunkHeaderSize: 16 }],
    ] as const) {
      const file = path.join(tmp.dir, n);
      fs.writeFileSync(file, handSparse(4096, list, opts));
      const expected = await checkAgainstSimg2img(file);
      expect(expected.length).toBe(4096 * 26);
      expect(expected.subarray(0, 4096 * 5).every((b) => b === 0)).toBe(true);
      expect(expected.readUInt32LE(4096 * 8)).toBe(0xdeadbeef);
    }
  });

  it('matches the magic only', () => {
    const good = handSparse(4096, [{ type: 'fill', blocks: 1, pattern: 1 }]);
    expect(androidSparse.match(createProbe(new BufferSource(good), 'a.img'))).toBe(true);
    expect(androidSparse.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(androidSparse.match(createProbe(new BufferSource(new Uint8Array(4096)), 'z'))).toBe(false);
    expect(androidSparse.match(createProbe(new BufferSource(good.subarray(0, 20)), 'short'))).toBe(false);
    // The magic with a broken field is still ours, so that the broken field is reported.
    const bad = Buffer.from(good);
    bad.writeUInt32LE(4097, 12);
    expect(androidSparse.match(createProbe(new BufferSource(bad), 'bad'))).toBe(true);
  });

  it('gives typed errors for broken headers', async () => {
    const good = handSparse(4096, [{ type: 'raw', data: crypto.randomBytes(4096) }]);
    const patch = (f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      f(b);
      return b;
    };
    const cases: [string, Buffer, new (...a: never[]) => AibomError, RegExp][] = [
      ['major 2', patch((b) => b.writeUInt16LE(2, 4)), UnsupportedError, /major_version 2/],
      ['blk_sz 4097', patch((b) => b.writeUInt32LE(4097, 12)), FormatError, /blk_sz 4097/],
      ['blk_sz 0', patch((b) => b.writeUInt32LE(0, 12)), FormatError, /blk_sz 0/],
      ['file_hdr_sz 20', patch((b) => b.writeUInt16LE(20, 8)), FormatError, /file_hdr_sz 20/],
      ['chunk_hdr_sz 8', patch((b) => b.writeUInt16LE(8, 10)), FormatError, /chunk_hdr_sz 8/],
      ['total_chunks past the file', patch((b) => b.writeUInt32LE(0xffffffff, 20)), FormatError, /total_chunks 4294967295/],
      ['output over 1 TiB', patch((b) => b.writeUInt32LE(0xffffffff, 16)), FormatError, /total_blks 4294967295/],
    ];
    for (const [what, bytes, type, message] of cases) {
      const r = await expand(bytes);
      expect(r.error, what).toBeInstanceOf(type);
      expect(r.error?.message, what).toMatch(message);
    }
    expect(MAX_SPARSE_OUTPUT).toBe(2 ** 40);
  });

  it('reports broken chunks as problems and keeps the chunks before them', async () => {
    const a = crypto.randomBytes(4096);
    const list: Chunk[] = [
      { type: 'raw', data: a },
      { type: 'fill', blocks: 2, pattern: 0x01010101 },
      { type: 'raw', data: crypto.randomBytes(8192) },
    ];
    const good = handSparse(4096, list);
    const prefix = Buffer.concat([a, Buffer.alloc(8192, 1)]);
    const expectPrefixKept = (r: Awaited<ReturnType<typeof expand>>, total: number): void => {
      expect(r.size).toBe(total);
      expect(r.sha256).toBe(sha256Bytes(Buffer.concat([prefix, Buffer.alloc(total - prefix.length)])));
    };
    // Third chunk: RAW total_sz disagrees with chunk_sz.
    const third = 28 + 12 + 4096 + 12 + 4;
    const badSize = Buffer.from(good);
    badSize.writeUInt32LE(12 + 4096, third + 8);
    let r = await expand(badSize);
    expect(r.problems.join('\n')).toMatch(/holds 4096 bytes of data for 2 blocks/);
    expectPrefixKept(r, 5 * 4096);
    // Unknown chunk type.
    const badType = Buffer.from(good);
    badType.writeUInt16LE(0xcac9, third);
    r = await expand(badType);
    expect(r.problems.join('\n')).toMatch(/unknown chunk type/);
    expectPrefixKept(r, 5 * 4096);
    // Chunks covering more than total_blks.
    r = await expand(handSparse(4096, list, { totalBlocks: 4 }));
    expect(r.problems.join('\n')).toMatch(/past total_blks 4/);
    expectPrefixKept(r, 4 * 4096);
    // Chunks covering fewer blocks than total_blks: a warning, the tail reads as zeros.
    r = await expand(handSparse(4096, list, { totalBlocks: 9 }));
    expect(r.problems).toEqual([expect.stringMatching(/cover 5 blocks, not total_blks 9/)]);
    expect(r.size).toBe(9 * 4096);
    // total_chunks larger than the chunks present (but within the file-size bound).
    r = await expand(handSparse(4096, list, { totalChunks: 4 }));
    expect(r.problems.join('\n')).toMatch(/chunk 3 of 4 .* past the end/);
    // A FILL chunk with a wrong data size.
    const badFill = Buffer.from(good);
    badFill.writeUInt32LE(12 + 8, 28 + 12 + 4096 + 8);
    r = await expand(badFill);
    expect(r.problems.join('\n')).toMatch(/instead of a 4-byte fill pattern/);
  });

  it('survives every truncation and random byte flips with typed errors or problems only', async () => {
    const list: Chunk[] = [
      { type: 'raw', data: crypto.randomBytes(2048) },
      { type: 'fill', blocks: 3, pattern: 0x11223344 },
      { type: 'dontcare', blocks: 2 },
      { type: 'crc', value: 7 },
      { type: 'raw', data: crypto.randomBytes(1024) },
    ];
    const good = handSparse(1024, list);
    for (let n = 0; n <= good.length; n += n < 200 ? 1 : 97) {
      const r = await expand(good.subarray(0, n));
      if (n < 28) expect(r.error, `prefix ${n}`).toBeInstanceOf(FormatError);
      else if (n < good.length) expect(r.error !== undefined || r.problems.length > 0, `prefix ${n}`).toBe(true);
    }
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(good);
      const at = crypto.randomInt(0, Math.min(b.length, 200));
      b[at] = crypto.randomInt(0, 256);
      await expand(b, false); // throws only on a non-typed error
    }
  });

  it('bounds the extents of a hostile file of many tiny chunks', async () => {
    // Alternating one-block FILL chunks cannot be merged: one extent each. Written directly (16 bytes a chunk).
    const many = (n: number): Buffer => {
      const b = handSparse(4, [], { totalBlocks: n, totalChunks: n });
      const body = Buffer.alloc(n * 16);
      for (let i = 0; i < n; i++) {
        body.writeUInt16LE(CHUNK_FILL, i * 16);
        body.writeUInt32LE(1, i * 16 + 4);
        body.writeUInt32LE(16, i * 16 + 8);
        body.writeUInt32LE(i % 2 === 0 ? 0x01010101 : 0x02020202, i * 16 + 12);
      }
      return Buffer.concat([b, body]);
    };
    let t0 = performance.now();
    const r = await expand(many(200_000));
    expect(r.error).toBeUndefined();
    expect(r.size).toBe(800_000);
    expect(performance.now() - t0).toBeLessThan(20_000);
    t0 = performance.now();
    const over = await expand(many(MAX_SPARSE_EXTENTS + 1), false);
    expect(over.error).toBeInstanceOf(LimitError);
    expect(over.error?.message).toBe(`The Android sparse image has more than ${MAX_SPARSE_EXTENTS} data chunks; it was not expanded.`);
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});

describe.skipIf(!hasTool('simg2simg') || !hasTool('simg2img') || !hasTool('mke2fs'))('split sparse images (simg2simg parts) joined through siblings', () => {
  it('joins the parts exactly as simg2img does, and finds the model in the joined file system', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-split-'));
    try {
      const root = path.join(work, 'root');
      fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
      const model = new TfliteBuilder()
        .subgraph((sg) =>
          sg
            .name('m')
            .tensor('x', 'float32', [1, 4])
            .tensor('w', 'float32', [4, 4], { data: crypto.randomBytes(64) })
            .tensor('y', 'float32', [1, 4])
            .operator('FULLY_CONNECTED', [0, 1], [2])
            .inputs([0])
            .outputs([2]),
        )
        .build();
      fs.writeFileSync(path.join(root, 'etc', 'm.tflite'), model);
      fs.writeFileSync(path.join(root, 'etc', 'noise.bin'), crypto.randomBytes(3_000_000));
      execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, path.join(work, 'raw.img'), '16M']);
      execFileSync('img2simg', [path.join(work, 'raw.img'), path.join(work, 'sparse.img')]);
      const parts = path.join(work, 'parts');
      fs.mkdirSync(parts);
      execFileSync('simg2simg', [path.join(work, 'sparse.img'), path.join(parts, 'p'), '1000000']);
      const n = fs.readdirSync(parts).length;
      expect(n).toBeGreaterThan(2);
      // QFIL naming, 1-based.
      const pkg = path.join(work, 'pkg');
      fs.mkdirSync(pkg);
      for (let i = 0; i < n; i++) fs.copyFileSync(path.join(parts, `p.${i}`), path.join(pkg, `system_${i + 1}.img`));
      // The oracle: simg2img joins all parts.
      execFileSync('simg2img', [...Array.from({ length: n }, (_, i) => path.join(parts, `p.${i}`)), path.join(work, 'joined.raw')]);
      const expected = sha256Bytes(fs.readFileSync(path.join(work, 'joined.raw')));

      const first = FileSource.open(path.join(pkg, 'system_1.img'));
      const siblings: Record<string, ByteSource> = {};
      for (let i = 2; i <= n; i++) siblings[`system_${i}.img`] = FileSource.open(path.join(pkg, `system_${i}.img`));
      const t = makeContext('system_1.img', {}, siblings);
      const entries = [];
      for await (const e of androidSparse.entries(first, t.ctx)) entries.push(e);
      expect(entries.map((e) => e.path)).toEqual(['system.raw']);
      expect(sha256Source(await entries[0]!.open())).toBe(expected);
      expect(t.problems.map((p) => p.code)).toEqual(['split-image']);

      const inv = await scan([pkg]);
      expect(modelsOf(inv).map((m) => [m.location, m.sha256])).toEqual([[`${pkg}/system_1.img!/system.raw!/etc/m.tflite`, sha256Bytes(model)]]);
      expect(inv.problems.filter((p) => p.code === 'split-image').map((p) => p.location)).toEqual(
        Array.from({ length: n }, (_, i) => `${pkg}/system_${i + 1}.img`),
      );
      expect(inv.problems.filter((p) => p.code !== 'split-image')).toEqual([]);

      // Motorola naming inside a zip, parts listed last first: the first part waits for its siblings.
      const zipped = buildZip(
        Array.from({ length: n }, (_, k) => n - 1 - k).map(
          (i) => [`system.img_sparsechunk.${i}`, fs.readFileSync(path.join(parts, `p.${i}`))] as [string, Uint8Array],
        ),
        0,
      );
      fs.writeFileSync(path.join(work, 'fastboot.zip'), zipped);
      const inv2 = await scan([path.join(work, 'fastboot.zip')]);
      expect(modelsOf(inv2).map((m) => m.location)).toEqual([`${path.join(work, 'fastboot.zip')}!/system.img_sparsechunk.0!/system.raw!/etc/m.tflite`]);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
