import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otaPayload } from '../../src/containers/ota-payload/index.js';
import { readPayloadManifest } from '../../src/containers/ota-payload/ota-payload.js';
import { decodeBzip2Sync } from '../../src/decoders/bzip2.js';
import { decodeZstdSync } from '../../src/containers/ota-payload/ota-operations.js';
import { zip } from '../../src/containers/zip.js';
import { FormatError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { scan } from '../../src/scan/index.js';
import { buildPayload, compress, type PartitionSpec, type PayloadOptions } from '../builders/ota-builder.js';
import { tinyTflite } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, openFile, run, sha256Bytes, sha256Source, tempDir } from '../helpers/container-context.js';
import { survives as survivesWalk } from '../helpers/hostile.js';
import { modelsOf } from '../helpers/inventory.js';

const tools = hasTool('xz') && hasTool('bzip2') && hasTool('zstd');
const d = describe.skipIf(!tools);
const B = 4096;

/** An image of `blocks` blocks: random runs, zero runs, a repeated pattern (compressible). */
function image(blocks: number, seed: number, extra = 0): Uint8Array {
  const img = new Uint8Array(blocks * B + extra);
  for (let b = 0; b < blocks; b++) {
    const kind = (b * 7 + seed) % 5;
    const block = img.subarray(b * B, (b + 1) * B);
    if (kind === 0 || kind === 1) block.set(crypto.randomBytes(B));
    else if (kind === 2) block.fill(b & 0xff);
    else if (kind === 3) block.set(Buffer.from(`block ${b} of image ${seed}\n`.repeat(200)).subarray(0, B));
    // kind 4: zeros
  }
  // Runs of zero blocks long enough for ZERO operations.
  img.fill(0, 16 * B, Math.min(img.length, 40 * B));
  if (extra > 0) img.set(crypto.randomBytes(extra), blocks * B);
  return img;
}

/** Lists, opens and hashes every partition; errors on open or read are recorded as `error:<code>`. */
async function list(bytes: Uint8Array, name = 'payload.bin') {
  const t = makeContext(name);
  try {
    const entries = await listEntries(otaPayload, new BufferSource(bytes), t);
    return { entries, problems: t.problems };
  } finally {
    t.cleanup();
  }
}

/** Opens one partition by name. */
async function open(bytes: Uint8Array, name: string): Promise<ByteSource> {
  const t = makeContext('payload.bin');
  for await (const e of otaPayload.entries(new BufferSource(bytes), t.ctx)) if (e.path === name) return e.open();
  throw new Error(`no partition ${name}`);
}

/** Drives every path of the reader over hostile bytes: only typed errors may come out. */
async function survives(bytes: Uint8Array): Promise<string> {
  return survivesWalk(otaPayload, new BufferSource(bytes), makeContext('payload.bin'), (s) => {
    sha256Source(s);
    s.read(Math.floor(s.size / 2), 10000);
  });
}

d('OTA payload reader', () => {
  let tmp: { dir: string; remove(): void };
  let ext4: Uint8Array;
  let boot: Uint8Array;
  let vendor: Uint8Array;
  let full: Uint8Array;
  let partitions: PartitionSpec[];

  beforeAll(() => {
    tmp = tempDir('aibom-ota-');
    // A real file system, built by mke2fs from a tree, carried as plain bytes.
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'app/Pay'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'app/Pay/Pay.apk'), crypto.randomBytes(300_000));
    fs.writeFileSync(path.join(tree, 'build.prop'), 'ro.build.id=TEST\n'.repeat(100));
    fs.writeFileSync(path.join(tree, 'zeros.bin'), Buffer.alloc(200_000));
    const img = path.join(tmp.dir, 'system.img');
    if (hasTool('mke2fs')) {
      run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, img, '4M']);
      ext4 = fs.readFileSync(img);
    } else {
      ext4 = image(1024, 9);
    }
    boot = image(64, 1);
    vendor = image(48, 2);
    partitions = [
      { name: 'boot', image: boot, kinds: ['REPLACE', 'REPLACE_BZ', 'REPLACE_XZ', 'REPLACE_ZSTD'], chunkBlocks: 4 },
      { name: 'system', image: ext4, kinds: ['REPLACE_XZ', 'REPLACE_ZSTD', 'REPLACE_BZ'], chunkBlocks: 64 },
      {
        name: 'vendor',
        image: vendor,
        // Operations with several destination extents, out of order, across each kind.
        ops: [
          {
            type: 'REPLACE_XZ',
            dst: [
              [10, 2],
              [0, 3],
              [20, 1],
            ],
          },
          {
            type: 'REPLACE',
            dst: [
              [3, 2],
              [12, 2],
            ],
          },
          {
            type: 'REPLACE_BZ',
            dst: [
              [5, 5],
              [14, 2],
            ],
          },
          {
            type: 'REPLACE_ZSTD',
            dst: [
              [21, 3],
              [41, 7],
            ],
          },
          { type: 'DISCARD', dst: [[16, 4]] },
          { type: 'ZERO', dst: [[24, 16]] },
          { type: 'REPLACE_XZ', dst: [[40, 1]] },
        ],
      },
    ];
    full = buildPayload({ partitions, signed: true });
  });
  afterAll(() => tmp?.remove());

  it('matches CrAU v1/v2 heads only', () => {
    expect(otaPayload.match(createProbe(new BufferSource(full), 'payload.bin'))).toBe(true);
    const v3 = Buffer.from(full.subarray(0, 64));
    v3[11] = 3;
    expect(otaPayload.match(createProbe(new BufferSource(v3), 'payload.bin'))).toBe(false);
    expect(otaPayload.match(createProbe(new BufferSource(new Uint8Array(4096)), 'payload.bin'))).toBe(false);
    expect(otaPayload.match(createProbe(new BufferSource(crypto.randomBytes(4096)), 'payload.bin'))).toBe(false);
    expect(otaPayload.match(createProbe(new BufferSource(Buffer.from('CrAU')), 'payload.bin'))).toBe(false);
  });

  it('rebuilds every partition of a full payload byte for byte (REPLACE, REPLACE_BZ/XZ/ZSTD, ZERO, DISCARD)', async () => {
    const { entries, problems } = await list(full);
    expect(problems).toEqual([]);
    expect(entries).toEqual([
      { path: 'boot', type: 'file', size: boot.length, sha256: sha256Bytes(boot) },
      { path: 'system', type: 'file', size: ext4.length, sha256: sha256Bytes(ext4) },
      { path: 'vendor', type: 'file', size: vendor.length, sha256: sha256Bytes(vendor) },
    ]);
    const m = readPayloadManifest(new BufferSource(full));
    expect(m.minorVersion).toBe(0);
    expect(m.blockSize).toBe(B);
    expect(m.header.metadataSignatureSize).toBeGreaterThan(256);
    const ops = m.partitions.flatMap((p) => p.ops.map((o) => o.type));
    for (const type of [0, 1, 6, 7, 8, 14]) expect(ops).toContain(type);
  });

  it('reads the manifest fields around the partitions', () => {
    const bytes = buildPayload({
      partitions: [{ name: 'boot', image: boot, kinds: ['REPLACE'], chunkBlocks: 64 }],
      minorVersion: 0,
      mutate: (m) => {
        m.max_timestamp = 1_700_000_000;
        m.partial_update = true;
        m.security_patch_level = '2026-01-05';
        m.dynamic_partition_metadata = {
          groups: [{ name: 'google_dynamic_partitions', size: 4096 * 1024, partition_names: ['system', 'vendor'] }],
          snapshot_enabled: true,
        };
        m.apex_info = [{ package_name: 'com.android.tzdata', version: 3 }];
      },
    });
    const m = readPayloadManifest(new BufferSource(bytes));
    expect(m).toMatchObject({
      blockSize: B,
      minorVersion: 0,
      maxTimestamp: 1_700_000_000,
      partialUpdate: true,
      securityPatchLevel: '2026-01-05',
      dynamicGroups: [{ name: 'google_dynamic_partitions', partitions: ['system', 'vendor'] }],
      apexPackages: ['com.android.tzdata'],
    });
    expect(m.partitions.map((p) => [p.name, p.size, p.ops.length, p.incremental])).toEqual([['boot', boot.length, 1, false]]);
  });

  it('serves random reads equal to the original images', async () => {
    for (const [name, img] of [
      ['boot', boot],
      ['system', ext4],
      ['vendor', vendor],
    ] as const) {
      const s = await open(full, name);
      for (let i = 0; i < 300; i++) {
        const off = crypto.randomInt(0, img.length);
        const len = crypto.randomInt(0, Math.min(3 * B * 16, img.length - off) + 1);
        expect(Buffer.from(s.read(off, len)).equals(Buffer.from(img.subarray(off, off + len)))).toBe(true);
      }
      const into = new Uint8Array(5 * B + 3);
      const n = s.readInto!(B - 1, into);
      expect(Buffer.from(into.subarray(0, n)).equals(Buffer.from(img.subarray(B - 1, B - 1 + n)))).toBe(true);
    }
  });

  it('keeps a partition size that is not a block multiple, and derives the size when new_partition_info is absent', async () => {
    const odd = image(10, 3, 1234);
    const derived = image(9, 4);
    const bytes = buildPayload({
      partitions: [
        { name: 'odd', image: odd, kinds: ['REPLACE_XZ', 'REPLACE'], chunkBlocks: 3 },
        { name: 'derived', image: derived, omitSize: true, kinds: ['REPLACE_ZSTD'] },
      ],
    });
    const { entries, problems } = await list(bytes);
    expect(problems).toEqual([]);
    expect(entries).toEqual([
      { path: 'derived', type: 'file', size: derived.length, sha256: sha256Bytes(derived) },
      { path: 'odd', type: 'file', size: odd.length, sha256: sha256Bytes(odd) },
    ]);
  });

  it('lists an incremental payload: a problem per delta partition, its REPLACE data readable, the rest zeros', async () => {
    const sys = image(32, 5);
    const bootImg = image(8, 6);
    const bytes = buildPayload({
      minorVersion: 8,
      partitions: [
        {
          name: 'system',
          image: sys,
          oldSize: sys.length,
          ops: [
            { type: 'SOURCE_COPY', src: [[0, 8]], dst: [[0, 8]] },
            { type: 'REPLACE_XZ', dst: [[8, 8]] },
            { type: 'SOURCE_BSDIFF', src: [[16, 4]], dst: [[16, 4]], data: Buffer.from('BSDF2 not a real patch') },
            { type: 'REPLACE', dst: [[20, 12]] },
          ],
        },
        { name: 'boot', image: bootImg, kinds: ['REPLACE_BZ'] },
      ],
    });
    const t = makeContext('payload.bin');
    const names: string[] = [];
    for await (const e of otaPayload.entries(new BufferSource(bytes), t.ctx)) {
      names.push(e.path);
      const s = await e.open();
      if (e.path === 'boot') expect(sha256Source(s)).toBe(sha256Bytes(bootImg));
      else {
        expect(s.size).toBe(sys.length);
        expect(Buffer.from(s.read(8 * B, 8 * B)).equals(Buffer.from(sys.subarray(8 * B, 16 * B)))).toBe(true);
        expect(Buffer.from(s.read(20 * B, 12 * B)).equals(Buffer.from(sys.subarray(20 * B)))).toBe(true);
        expect(Buffer.from(s.read(0, 8 * B)).equals(Buffer.alloc(8 * B))).toBe(true);
        expect(Buffer.from(s.read(16 * B, 4 * B)).equals(Buffer.alloc(4 * B))).toBe(true);
      }
    }
    expect(names).toEqual(['system', 'boot']);
    expect(t.problems).toHaveLength(1);
    expect(t.problems[0]).toMatchObject({ path: 'system', severity: 'warning', code: 'unsupported' });
    expect(t.problems[0]!.message).toMatch(/1 SOURCE_COPY, 1 SOURCE_BSDIFF.*source build.*REPLACE-type data was scanned/);
    expect(readPayloadManifest(new BufferSource(bytes)).minorVersion).toBe(8);
    t.cleanup();
  });

  it('reads payload.bin stored in an OTA zip, and finds a model in a partition through scan()', async () => {
    const model = tinyTflite('in an OTA payload');
    const dir = path.join(tmp.dir, 'otazip');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'payload.bin'),
      buildPayload({
        partitions: [
          { name: 'boot', image: model, kinds: ['REPLACE_XZ'] },
          { name: 'vendor', image: vendor },
        ],
      }),
    );
    fs.writeFileSync(path.join(dir, 'payload_properties.txt'), 'FILE_HASH=x\nFILE_SIZE=1\nMETADATA_HASH=y\nMETADATA_SIZE=2\n');
    run('zip', ['-q', '-0', 'ota.zip', 'payload.bin', 'payload_properties.txt'], { cwd: dir });
    const input = path.join(dir, 'ota.zip');
    // The zip reader hands payload.bin over as a slice of the zip (stored).
    const t = makeContext('ota.zip');
    const src = openFile(input);
    try {
      const listed = await listEntries(zip, src, t, 'ota.zip', {
        onSource: (p, s) => {
          if (p === 'payload.bin') expect(otaPayload.match(createProbe(s, p))).toBe(true);
        },
      });
      expect(listed.map((e) => e.path)).toEqual(['payload.bin', 'payload_properties.txt']);
    } finally {
      src.close();
      t.cleanup();
    }
    const inv = await scan([input], { containers: [zip, otaPayload] });
    expect(inv.problems).toEqual([]);
    expect(modelsOf(inv).map((m) => [m.location, m.sha256])).toEqual([[`${input}!/payload.bin!/boot`, sha256Bytes(model)]]);
  });

  describe('hostile payloads', () => {
    let a: Uint8Array;
    let b: Uint8Array;
    beforeAll(() => {
      a = image(12, 7);
      b = image(6, 8);
    });
    const small = (): PayloadOptions => ({
      partitions: [
        { name: 'a', image: a, kinds: ['REPLACE_XZ', 'REPLACE'], chunkBlocks: 4 },
        { name: 'b', image: b, kinds: ['REPLACE_BZ'] },
      ],
    });

    it('rejects other major versions as unsupported', async () => {
      for (const version of [1n, 3n]) {
        const bytes = buildPayload({ ...small(), header: { version } });
        await expect(list(bytes)).rejects.toBeInstanceOf(UnsupportedError);
      }
    });

    it('rejects a manifest or metadata signature past the end of the file', async () => {
      for (const header of [
        { manifestSize: 1n << 40n },
        { manifestSize: BigInt(full.length) },
        { metadataSignatureSize: 0xffffffff },
        { metadataSignatureSize: 900_000 },
        { manifestSize: 0n },
      ]) {
        const bytes = buildPayload({ ...small(), header });
        const err = await list(bytes).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(FormatError);
      }
    });

    it('rejects a block_size of 0, absurd or not a power of two', async () => {
      for (const block_size of [0, 3000, 1 << 30, 256]) {
        const bytes = buildPayload({ ...small(), mutate: (m) => (m.block_size = block_size) });
        await expect(list(bytes)).rejects.toBeInstanceOf(FormatError);
      }
    });

    it('fails only the partition whose operation data lies past the blobs', async () => {
      const bytes = buildPayload({ ...small(), mutate: (m) => (m.partitions[0]!.operations[1]!.data_offset = 1 << 30) });
      const { entries } = await list(bytes);
      expect(entries.map((e) => [e.path, e.sha256])).toEqual([
        ['a', 'error:format'],
        ['b', sha256Bytes(b)],
      ]);
    });

    it('fails a partition with overlapping destination extents, huge num_blocks, or extents past its size', async () => {
      const cases: ((m: Parameters<NonNullable<PayloadOptions['mutate']>>[0]) => void)[] = [
        (m) => (m.partitions[0]!.operations[1]!.dst_extents = [{ start_block: 2, num_blocks: 4 }]),
        (m) => (m.partitions[0]!.operations[2]!.dst_extents[0]!.num_blocks = '18446744073709551615'),
        (m) => (m.partitions[0]!.operations[2]!.dst_extents[0]!.start_block = '18446744073709551000'),
        (m) => (m.partitions[0]!.operations[2]!.dst_extents[0]!.num_blocks = 1 << 30),
        (m) => (m.partitions[0]!.new_partition_info = { size: 5 * B }),
        (m) => (m.partitions[0]!.new_partition_info = { size: '18446744073709551615' }),
      ];
      for (const mutate of cases) {
        const { entries } = await list(buildPayload({ ...small(), mutate }));
        expect(entries[0]!.sha256).toBe('error:format');
        expect(entries[1]!.sha256).toBe(sha256Bytes(b));
      }
    });

    it('fails reads of an operation that decodes short, long, corrupt, or against its data_sha256_hash', async () => {
      const img = image(8, 9);
      const one = compress('REPLACE_XZ', img.subarray(0, B));
      const three = compress('REPLACE_ZSTD', img.subarray(0, 3 * B));
      const bz = Buffer.from(compress('REPLACE_BZ', img.subarray(0, 2 * B)));
      bz[bz.length - 20] = (bz[bz.length - 20] as number) ^ 0xff;
      const variants: [string, PartitionSpec['ops']][] = [
        ['truncated', [{ type: 'REPLACE_XZ', dst: [[0, 2]], data: one }]],
        ['format', [{ type: 'REPLACE_ZSTD', dst: [[0, 2]], data: three }]],
        ['format|truncated', [{ type: 'REPLACE_BZ', dst: [[0, 2]], data: bz }]], // a CRC failure, or a Huffman walk off the end
        ['truncated', [{ type: 'REPLACE_XZ', dst: [[0, 1]], data: Buffer.from(one).subarray(0, one.length - 9) }]],
        ['format', [{ type: 'REPLACE', dst: [[0, 2]], data: img.subarray(0, B) }]],
      ];
      for (const [code, ops] of variants) {
        const { entries } = await list(buildPayload({ partitions: [{ name: 'p', image: img, ops: ops! }] }));
        expect(entries[0]!.sha256, `${code} ${ops![0]!.type}`).toMatch(new RegExp(`^error:(${code})$`));
      }
      // A data_sha256_hash that does not match the data.
      const bytes = buildPayload({
        partitions: [{ name: 'p', image: img, kinds: ['REPLACE_XZ'] }],
        mutate: (m) => (m.partitions[0]!.operations[0]!.data_sha256_hash = new Uint8Array(32)),
      });
      const s = await open(bytes, 'p');
      expect(() => s.read(0, 10)).toThrow(/data_sha256_hash/);
    });

    it('bounds bzip2 output (the synchronous export of the bzip2 reader)', () => {
      const data = Buffer.from('bzip2 '.repeat(200_000));
      const one = compress('REPLACE_BZ', data);
      const two = Buffer.concat([one, one]); // concatenated streams, as pbzip2 writes
      expect(Buffer.from(decodeBzip2Sync(one, data.length, 'x')).equals(data)).toBe(true);
      expect(decodeBzip2Sync(two, 2 * data.length, 'x').length).toBe(2 * data.length);
      expect(() => decodeBzip2Sync(two, 2 * data.length - 1, 'x')).toThrow(/more than/);
      const small = decodeBzip2Sync(compress('REPLACE_BZ', new Uint8Array(100)), 100, 'x');
      expect(small.buffer.byteLength).toBe(100); // not a view pinning a 1 MiB piece
      expect(() => decodeBzip2Sync(one.subarray(0, one.length - 4), data.length, 'x')).toThrow(FormatError);
    });

    it('bounds zstd windows and output before decoding', () => {
      const data = Buffer.from('zstd '.repeat(60_000));
      const sized = compress('REPLACE_ZSTD', data);
      const streamed = execFileSync('zstd', ['-q', '-c', '-19'], { input: data }); // no content size in the frame
      for (const z of [sized, streamed]) {
        expect(Buffer.from(decodeZstdSync(z, 300_000, 'x')).equals(data)).toBe(true);
        expect(() => decodeZstdSync(z, 299_999, 'x')).toThrow(FormatError);
        expect(() => decodeZstdSync(z.subarray(0, z.length - 5), 300_000, 'x')).toThrow(FormatError);
      }
      // A frame header asking for a 1 GiB window (window descriptor exponent 20).
      const big = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x01, 0x00, 0x00]);
      expect(() => decodeZstdSync(big, 4096, 'x')).toThrow(/window/);
    });

    it('survives truncation at a spread of lengths and random corruption of the manifest', async () => {
      const bytes = buildPayload({ ...small(), signed: true });
      const seen = new Set<string>();
      for (let n = 0; n < bytes.length; n += Math.max(1, Math.floor(bytes.length / 97))) seen.add(await survives(bytes.subarray(0, n)));
      for (const n of [0, 3, 4, 11, 12, 23, 24, 25]) seen.add(await survives(bytes.subarray(0, n)));
      expect(seen.has('truncated')).toBe(true);
      const manifestEnd = 24 + Number(Buffer.from(bytes).readBigUInt64BE(12));
      for (let i = 0; i < 300; i++) {
        const copy = Buffer.from(bytes);
        for (let k = 0; k < 1 + (i % 4); k++) copy[crypto.randomInt(24, manifestEnd)] = crypto.randomInt(0, 256);
        await survives(copy);
      }
    });
  });

  it('rebuilds a 256 MiB partition with bounded memory', async () => {
    // 128 REPLACE_XZ operations of 2 MiB (the generator's chunk size), all carrying the same data
    // (compressed once), so that the test holds no 256 MiB image: the expected hash is streamed.
    const size = 256 * 1024 * 1024;
    const chunkBlocks = 512;
    const chunk = new Uint8Array(chunkBlocks * B);
    for (let b = 0; b < chunkBlocks; b += 4) chunk.set(crypto.randomBytes(1024), b * B);
    const data = compress('REPLACE_XZ', chunk);
    const ops: NonNullable<PartitionSpec['ops']>[number][] = [];
    for (let b = 0; b < size / B; b += chunkBlocks) ops.push({ type: 'REPLACE_XZ', dst: [[b, chunkBlocks]], data });
    const h = crypto.createHash('sha256');
    for (let i = 0; i < ops.length; i++) h.update(chunk);
    const bytes = buildPayload({ partitions: [{ name: 'big', image: new Uint8Array(0), omitSize: true, ops }] });
    const before = process.memoryUsage().rss;
    const s = await open(bytes, 'big');
    expect(s.size).toBe(size);
    expect(sha256Source(s)).toBe(h.digest('hex'));
    const grew = (process.memoryUsage().rss - before) / 1024 / 1024;
    expect(grew).toBeLessThan(200);
  }, 120_000);
});
