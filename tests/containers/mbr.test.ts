import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpt } from '../../src/containers/gpt.js';
import { mbr } from '../../src/containers/mbr.js';
import { BufferSource, SliceSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, openFile, run, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';
import { survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';

const tools = hasTool('sfdisk') && hasTool('sgdisk');
const d = describe.skipIf(!tools);

/** Writes one 16-byte MBR/EBR entry at slot `slot` of the sector at `base`. */
function entry(img: Buffer, base: number, slot: number, status: number, type: number, start: number, count: number): void {
  const at = base + 446 + slot * 16;
  img[at] = status;
  img[at + 4] = type;
  img.writeUInt32LE(start, at + 8);
  img.writeUInt32LE(count, at + 12);
  img[base + 510] = 0x55;
  img[base + 511] = 0xaa;
}

const probe = (b: Uint8Array, size = b.length): boolean => mbr.match({ ...createProbe(new BufferSource(b), 'x'), size });

d('mbr reader', () => {
  let tmp: { dir: string; remove(): void };
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.remove());

  function sfdisk(file: string, script: string): void {
    run('sfdisk', [file], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  it('lists primary and logical partitions as sfdisk made them, with the bytes written into each', async () => {
    const file = path.join(tmp.dir, 'disk.img');
    run('truncate', ['-s', '16M', file]);
    sfdisk(
      file,
      [
        'label: dos',
        'disk.img1 : start=2048, size=2048, type=83, bootable',
        'disk.img2 : start=4096, size=16384, type=f',
        'disk.img5 : start=6144, size=2048, type=83',
        'disk.img6 : start=10240, size=2048, type=7',
        'disk.img7 : start=14336, size=4096, type=83',
        'disk.img4 : start=22528, size=4096, type=c',
        '',
      ].join('\n'),
    );
    // sfdisk's own view: node name (the number is the Linux partition number), start, size, type.
    const table = JSON.parse(run('sfdisk', ['-J', file])) as { partitiontable: { partitions: { node: string; start: number; size: number; type: string }[] } };
    const expected: Listed[] = [];
    const fd = fs.openSync(file, 'r+');
    for (const p of table.partitiontable.partitions) {
      if (['5', 'f', '85'].includes(p.type)) continue; // extended: holds only EBRs
      const bytes = crypto.randomBytes(p.size * 512);
      fs.writeSync(fd, bytes, 0, bytes.length, p.start * 512);
      expected.push({ path: `p${/(\d+)$/.exec(p.node)?.[1]}`, type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) });
    }
    fs.closeSync(fd);
    expect(expected.map((e) => e.path).sort()).toEqual(['p1', 'p4', 'p5', 'p6', 'p7']);
    const src = openFile(file);
    const t = makeContext('disk.img');
    try {
      expect(mbr.match(createProbe(src, 'disk.img'))).toBe(true);
      expect(gpt.match(createProbe(src, 'disk.img'))).toBe(false);
      let slices = 0;
      const ours = await listEntries(mbr, src, t, 'disk.img', { onSource: (_p, s) => void (slices += s instanceof SliceSource ? 1 : 0) });
      expect(ours).toEqual(expected.sort((a, b) => (a.path < b.path ? -1 : 1)));
      expect(slices).toBe(5);
      expect(t.problems).toEqual([]);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('does not match a GPT protective MBR, FAT/NTFS boot sectors, random sectors, zeros or implausible tables', () => {
    const file = path.join(tmp.dir, 'gpt.img');
    run('truncate', ['-s', '4M', file]);
    run('sgdisk', ['-n', '1:2048:0', file]);
    expect(mbr.match(createProbe(openFile(file), 'gpt.img'))).toBe(false);

    const size = 8 * 1024 * 1024;
    // A FAT16 volume boot sector: jump, BPB, 'FAT16   ' at 54, boot code, 0x55AA. Its "entries" are code.
    const fat = Buffer.alloc(512);
    fat.set([0xeb, 0x3c, 0x90], 0);
    fat.write('MSDOS5.0', 3, 'latin1');
    fat.write('FAT16   ', 54, 'latin1');
    entry(fat, 0, 0, 0x00, 0x06, 63, 1000); // even entry-shaped bytes do not make it a partition table
    expect(probe(fat, size)).toBe(false);
    const ntfs = Buffer.alloc(512);
    ntfs.write('NTFS    ', 3, 'latin1');
    entry(ntfs, 0, 0, 0x80, 0x07, 2048, 1000);
    expect(probe(ntfs, size)).toBe(false);
    const fat32 = Buffer.alloc(512);
    fat32.write('FAT32   ', 82, 'latin1');
    entry(fat32, 0, 0, 0x80, 0x0c, 2048, 1000);
    expect(probe(fat32, size)).toBe(false);
    // Random boot code that happens to end in 0x55AA.
    let matched = 0;
    for (let i = 0; i < 200; i++) {
      const r = crypto.randomBytes(512);
      r[510] = 0x55;
      r[511] = 0xaa;
      if (probe(r, size)) matched++;
    }
    expect(matched).toBe(0);
    expect(probe(new Uint8Array(65536), size)).toBe(false);
    const only = Buffer.alloc(512);
    only[510] = 0x55;
    only[511] = 0xaa;
    expect(probe(only, size)).toBe(false); // no non-empty entry
    const bad = (f: (b: Buffer) => void): boolean => {
      const b = Buffer.alloc(512);
      f(b);
      return probe(b, size);
    };
    expect(bad((b) => entry(b, 0, 0, 0x00, 0x83, 2048, 2048))).toBe(true);
    expect(bad((b) => entry(b, 0, 0, 0x01, 0x83, 2048, 2048))).toBe(false); // status not 0x00/0x80
    expect(bad((b) => entry(b, 0, 0, 0x00, 0x83, 0, 2048))).toBe(false); // starts on the MBR
    expect(bad((b) => entry(b, 0, 0, 0x00, 0x83, 2048, 16384))).toBe(false); // past the end
    expect(bad((b) => (entry(b, 0, 0, 0x00, 0x83, 2048, 4096), entry(b, 0, 1, 0x00, 0x83, 4096, 10)))).toBe(false); // overlap
    expect(bad((b) => (entry(b, 0, 0, 0x00, 0x83, 2048, 4096), entry(b, 0, 1, 0x00, 0xee, 1, 10)))).toBe(false); // hybrid: gpt's
  });

  it('stops looping and overlong EBR chains with a problem', async () => {
    const size = 4 * 1024 * 1024;
    const loop = Buffer.alloc(size);
    entry(loop, 0, 0, 0x00, 0x05, 2048, 4096);
    // EBR at 2048: a logical at +1, and a link back to the extended partition's own first EBR.
    entry(loop, 2048 * 512, 0, 0x00, 0x83, 1, 100);
    entry(loop, 2048 * 512, 1, 0x00, 0x05, 0, 100);
    let t = makeContext('loop.img');
    let ours = await listEntries(mbr, new BufferSource(loop), t);
    expect(ours.map((e) => [e.path, e.size])).toEqual([['p5', 100 * 512]]);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'format', message: expect.stringContaining('loops') })]);

    // 300 chained EBRs, each one sector apart: bounded at 256.
    const long = Buffer.alloc(size);
    entry(long, 0, 0, 0x00, 0x0f, 2048, 4000);
    for (let i = 0; i < 300; i++) {
      const ebr = (2048 + i * 2) * 512;
      entry(long, ebr, 0, 0x00, 0x83, 1, 1);
      entry(long, ebr, 1, 0x00, 0x05, (i + 1) * 2, 2);
    }
    t = makeContext('long.img');
    ours = await listEntries(mbr, new BufferSource(long), t, 'long.img', { hash: false });
    expect(ours).toHaveLength(256);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'limit' })]);

    // A logical partition past the end of the image and an EBR without a signature.
    const past = Buffer.alloc(size);
    entry(past, 0, 0, 0x00, 0x05, 2048, 4096);
    entry(past, 2048 * 512, 0, 0x00, 0x83, 100_000, 100);
    entry(past, 2048 * 512, 1, 0x00, 0x05, 2000, 100);
    t = makeContext('past.img');
    ours = await listEntries(mbr, new BufferSource(past), t);
    expect(ours).toEqual([]);
    expect(t.problems.map((p) => p.code)).toEqual(['truncated', 'format']);
  });

  it('survives truncation at a spread of lengths and 300 byte flips: typed errors or problems only', async () => {
    const size = 2 * 1024 * 1024;
    const good = Buffer.alloc(size);
    entry(good, 0, 0, 0x80, 0x83, 64, 512);
    entry(good, 0, 1, 0x00, 0x05, 1024, 2048);
    entry(good, 1024 * 512, 0, 0x00, 0x83, 1, 100);
    entry(good, 1024 * 512, 1, 0x00, 0x05, 200, 300);
    entry(good, 1224 * 512, 0, 0x00, 0x0b, 1, 200);
    const cuts = [0, 100, 511, 512, 1000, 64 * 512, 1024 * 512, 1024 * 512 + 511, 1100 * 512, 1225 * 512, size - 1];
    await survivesTruncations(mbr, good, cuts, () => makeContext('cut.img'));
    // Flips in the partition tables of the MBR and of the two EBRs.
    const spots = [0, 1024 * 512, 1224 * 512];
    await survivesByteFlips(mbr, good, 300, () => makeContext('flip.img'), {
      seed: 7,
      pick: (next) => spots[next(3)]! + 446 + next(66),
      check: (list, label) => {
        for (const e of list) expect(e.sha256 ?? '', label).not.toMatch(/^error/);
      },
    });
  });
});
