import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpt } from '../../src/containers/gpt.js';
import { mbr } from '../../src/containers/mbr.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource, SliceSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, run, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';
import { type ListingCheck, survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';

const tools = hasTool('sgdisk') && hasTool('7z');
const d = describe.skipIf(!tools);

const LINUX_FS = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';

/** GUID text to its 16 on-disk bytes (first three fields little-endian). */
function guidBytes(text: string): Buffer {
  const hex = text.replaceAll('-', '');
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
}

interface Part {
  first: number;
  last: number;
  name: string;
  type?: string;
}

/**
 * A GPT written from the UEFI layout, independently of the reader: protective MBR, primary header at
 * LBA 1 with its entry array at LBA 2, backup array and header at the end; CRC32s as specified.
 */
function buildGpt(size: number, sector: number, parts: Part[], opts: { entries?: number; entrySize?: number } = {}): Buffer {
  const img = Buffer.alloc(size);
  const n = Math.floor(size / sector);
  const count = opts.entries ?? 128;
  const esize = opts.entrySize ?? 128;
  img[446 + 4] = 0xee;
  img.writeUInt32LE(1, 446 + 8);
  img.writeUInt32LE(Math.min(n - 1, 0xffffffff), 446 + 12);
  img[510] = 0x55;
  img[511] = 0xaa;
  const ents = Buffer.alloc(count * esize);
  parts.forEach((p, i) => {
    const e = ents.subarray(i * esize);
    guidBytes(p.type ?? LINUX_FS).copy(e, 0);
    crypto.randomBytes(16).copy(e, 16);
    e.writeBigUInt64LE(BigInt(p.first), 32);
    e.writeBigUInt64LE(BigInt(p.last), 40);
    Buffer.from(p.name, 'utf16le').subarray(0, 72).copy(e, 56);
  });
  const arraySectors = Math.ceil(ents.length / sector);
  const header = (cur: number, alt: number, entriesLba: number): Buffer => {
    const h = Buffer.alloc(92);
    h.write('EFI PART', 0, 'latin1');
    h.writeUInt32LE(0x10000, 8);
    h.writeUInt32LE(92, 12);
    h.writeBigUInt64LE(BigInt(cur), 24);
    h.writeBigUInt64LE(BigInt(alt), 32);
    h.writeBigUInt64LE(BigInt(2 + arraySectors), 40);
    h.writeBigUInt64LE(BigInt(n - 2 - arraySectors), 48);
    crypto.randomBytes(16).copy(h, 56);
    h.writeBigUInt64LE(BigInt(entriesLba), 72);
    h.writeUInt32LE(count, 80);
    h.writeUInt32LE(esize, 84);
    h.writeUInt32LE(zlib.crc32(ents), 88);
    h.writeUInt32LE(zlib.crc32(h), 16);
    return h;
  };
  header(1, n - 1, 2).copy(img, sector);
  ents.copy(img, 2 * sector);
  ents.copy(img, (n - 1 - arraySectors) * sector);
  header(n - 1, 1, n - 1 - arraySectors).copy(img, (n - 1) * sector);
  return img;
}

/** Fills each partition's range with random bytes; returns them by name. */
function fillParts(img: Buffer, sector: number, parts: Part[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const p of parts) {
    const bytes = crypto.randomBytes((p.last - p.first + 1) * sector);
    bytes.copy(img, p.first * sector);
    out.set(p.name, bytes);
  }
  return out;
}

/** Rewrites a header's CRC after a field was changed. */
function fixHeaderCrc(img: Buffer, at: number): void {
  img.writeUInt32LE(0, at + 16);
  img.writeUInt32LE(zlib.crc32(img.subarray(at, at + 92)), at + 16);
}

d('gpt reader', () => {
  let tmp: { dir: string; remove(): void };
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.remove());

  /** sgdisk's own view of partition N: first and last sector, name. */
  function sgdiskInfo(file: string, n: number): { first: number; last: number; name: string } {
    const out = run('sgdisk', ['-i', String(n), file]);
    const first = Number(/First sector: (\d+)/.exec(out)?.[1]);
    const last = Number(/Last sector: (\d+)/.exec(out)?.[1]);
    const name = /Partition name: '(.*)'/.exec(out)?.[1] ?? '';
    return { first, last, name };
  }

  it('lists the partitions sgdisk made, with the bytes written into each, as 7z extracts them', async () => {
    const file = path.join(tmp.dir, 'disk.img');
    run('truncate', ['-s', '8M', file]);
    run('sgdisk', ['-n', '1:2048:+1M', '-c', '1:boot', '-n', '2:0:+2M', '-c', '2:system', '-n', '3:0:0', file]);
    const expected: Listed[] = [];
    const fd = fs.openSync(file, 'r+');
    for (const n of [1, 2, 3]) {
      const info = sgdiskInfo(file, n);
      const bytes = crypto.randomBytes((info.last - info.first + 1) * 512);
      fs.writeSync(fd, bytes, 0, bytes.length, info.first * 512);
      // Partition 3 has no name: it is listed as p3.
      expected.push({ path: info.name === '' ? `p${n}` : info.name, type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) });
    }
    fs.closeSync(fd);
    expect(expected.map((e) => e.path)).toEqual(['boot', 'system', 'p3']);
    const src = openFile(file);
    const t = makeContext('disk.img');
    try {
      expect(gpt.match(createProbe(src, 'disk.img'))).toBe(true);
      expect(mbr.match(createProbe(src, 'disk.img'))).toBe(false);
      const seen: ByteSource[] = [];
      const ours = await listEntries(gpt, src, t, 'disk.img', { onSource: (_p, s) => seen.push(s) });
      expect(ours).toEqual([...expected].sort((a, b) => (a.path < b.path ? -1 : 1)));
      expect(seen.every((s) => s instanceof SliceSource)).toBe(true);
      expect(t.problems).toEqual([]);
      // 7z reads GPT too: its extraction (named '<index>.<name>.img') has the same bytes.
      const out = path.join(tmp.dir, 'x-disk');
      run('7z', ['x', '-y', `-o${out}`, file]);
      const x = listTree(out);
      expect(x.map((e) => ({ size: e.size, sha256: e.sha256 })).sort((a, b) => (a.sha256! < b.sha256! ? -1 : 1))).toEqual(
        ours.map((e) => ({ size: e.size, sha256: e.sha256 })).sort((a, b) => (a.sha256! < b.sha256! ? -1 : 1)),
      );
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('reads 4096-byte-sector GPTs (no Debian tool writes them to a file: the UEFI layout written here)', async () => {
    const parts: Part[] = [
      { first: 6, last: 261, name: 'boot_a' },
      { first: 262, last: 1029, name: 'system_a' },
    ];
    const img = buildGpt(8 * 1024 * 1024, 4096, parts);
    const bytes = fillParts(img, 4096, parts);
    const src = new BufferSource(img);
    expect(gpt.match(createProbe(src, 'ufs.img'))).toBe(true);
    const t = makeContext('ufs.img');
    const ours = await listEntries(gpt, src, t);
    expect(ours).toEqual(parts.map((p) => ({ path: p.name, type: 'file', size: bytes.get(p.name)!.length, sha256: sha256Bytes(bytes.get(p.name)!) })));
    expect(t.problems).toEqual([]);
  });

  it('names partitions p<N> when the name is empty, duplicated or unsafe', async () => {
    const parts: Part[] = [
      { first: 40, last: 47, name: 'dup' },
      { first: 48, last: 55, name: 'dup' },
      { first: 56, last: 63, name: '../etc' },
      { first: 64, last: 71, name: '' },
      { first: 72, last: 79, name: 'p2' },
      { first: 80, last: 87, name: 'vendor' },
    ];
    const img = buildGpt(64 * 1024, 512, parts);
    const t = makeContext('names.img');
    const ours = await listEntries(gpt, new BufferSource(img), t);
    expect(ours.map((e) => e.path)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'vendor']);
    expect(t.problems).toEqual([]);
  });

  it('falls back to the backup header when the primary header or array is damaged, and says so', async () => {
    const parts: Part[] = [{ first: 40, last: 63, name: 'data' }];
    const good = buildGpt(256 * 1024, 512, parts);
    const bytes = fillParts(good, 512, parts).get('data')!;
    const cases: [string, (b: Buffer) => void][] = [
      ['header CRC', (b) => b.writeUInt8(b.readUInt8(512 + 60) ^ 0xff, 512 + 60)],
      ['array CRC', (b) => b.writeUInt8(b.readUInt8(1024 + 60) ^ 0xff, 1024 + 60)],
      ['no primary signature', (b) => b.fill(0, 512, 1024)],
      [
        'entry count 100000',
        (b) => {
          b.writeUInt32LE(100000, 512 + 80);
          fixHeaderCrc(b, 512);
        },
      ],
      [
        'entry size 7',
        (b) => {
          b.writeUInt32LE(7, 512 + 84);
          fixHeaderCrc(b, 512);
        },
      ],
      [
        'array past the end',
        (b) => {
          b.writeBigUInt64LE(1n << 40n, 512 + 72);
          fixHeaderCrc(b, 512);
        },
      ],
    ];
    for (const [what, damage] of cases) {
      const img = Buffer.from(good);
      damage(img);
      const src = new BufferSource(img);
      expect(gpt.match(createProbe(src, 'x')), what).toBe(true);
      const t = makeContext('damaged.img');
      const ours = await listEntries(gpt, src, t);
      expect(ours, what).toEqual([{ path: 'data', type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) }]);
      expect(t.problems, what).toEqual([expect.objectContaining({ severity: 'warning', code: 'format', message: expect.stringContaining('backup header') })]);
    }
    // Both copies damaged: a FormatError naming the failures.
    const both = Buffer.from(good);
    both.writeUInt8(both.readUInt8(512 + 60) ^ 0xff, 512 + 60);
    both.writeUInt8(both.readUInt8(both.length - 512 + 60) ^ 0xff, both.length - 512 + 60);
    await expect(listEntries(gpt, new BufferSource(both), makeContext('both.img'))).rejects.toThrow(FormatError);
  });

  it('records partitions past the end (clipped) and inverted ranges, and reads the rest', async () => {
    const parts: Part[] = [
      { first: 40, last: 47, name: 'ok' },
      { first: 50, last: 10_000, name: 'long' },
      { first: 90, last: 80, name: 'inverted' },
      { first: 2 ** 40, last: 2 ** 40 + 8, name: 'far' },
    ];
    const img = buildGpt(64 * 1024, 512, parts);
    const t = makeContext('hostile.img');
    const ours = await listEntries(gpt, new BufferSource(img), t);
    expect(ours.map((e) => [e.path, e.size])).toEqual([
      ['long', 64 * 1024 - 50 * 512],
      ['ok', 8 * 512],
    ]);
    expect(t.problems.map((p) => [p.path, p.code])).toEqual([
      ['long', 'truncated'],
      ['inverted', 'format'],
      ['far', 'truncated'],
    ]);
  });

  it('does not match random bytes, zeros or a plain MBR disk', () => {
    expect(gpt.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(gpt.match(createProbe(new BufferSource(new Uint8Array(65536)), 'z'))).toBe(false);
    const file = path.join(tmp.dir, 'mbr.img');
    run('truncate', ['-s', '4M', file]);
    run('sfdisk', [file], { input: 'label: dos\nstart=2048, size=2048, type=83\n', stdio: ['pipe', 'pipe', 'pipe'] });
    expect(gpt.match(createProbe(openFile(file), 'mbr.img'))).toBe(false);
  });

  it('survives truncation at a spread of lengths and 300 byte flips: typed errors or problems only', async () => {
    const parts: Part[] = [
      { first: 40, last: 47, name: 'a' },
      { first: 48, last: 127, name: 'b' },
    ];
    const good = buildGpt(128 * 1024, 512, parts);
    fillParts(good, 512, parts);
    const noFailedMember: ListingCheck = (list, label) => {
      for (const e of list) expect(e.sha256, label).not.toMatch(/^error/);
    };
    const cuts = [0, 1, 511, 512, 600, 1023, 1024, 1100, 2048, 17000, 17408, 20480, 24576, 65536, 100000, good.length - 1];
    await survivesTruncations(gpt, good, cuts, () => makeContext('cut.img'), noFailedMember);
    // Flips inside the structures (MBR, header, array) where it matters.
    await survivesByteFlips(gpt, good, 300, () => makeContext('flip.img'), { seed: 99, to: 17 * 1024 });
  });
});
