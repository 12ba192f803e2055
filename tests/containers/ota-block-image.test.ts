import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otaBlockImage, parseRangeSet, parseTransferList } from '../../src/containers/ota-block-image.js';
import { zip } from '../../src/containers/zip.js';
import { AibomError, FormatError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { scan } from '../../src/scan/index.js';
import { buildBlockOta, type BlockOtaOptions } from '../builders/ota-builder.js';
import { tinyTflite } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, run, sha256Bytes, sha256Source, tempDir } from '../helpers/container-context.js';
import { survives as survivesWalk } from '../helpers/hostile.js';
import { modelsOf } from '../helpers/inventory.js';

const B = 4096;
const haveBrotli = hasTool('brotli');
const brotli = (data: Uint8Array): Uint8Array => execFileSync('brotli', ['-c', '-q', '6'], { input: data, maxBuffer: 1 << 30 });

/** An image of `blocks` blocks with random, patterned and zero runs. */
function image(blocks: number): Uint8Array {
  const img = new Uint8Array(blocks * B);
  for (let b = 0; b < blocks; b++) {
    const k = (b * 5) % 7;
    if (k < 3) img.set(crypto.randomBytes(B), b * B);
    else if (k < 5) img.fill(b & 0xff, b * B, (b + 1) * B);
  }
  img.fill(0, 20 * B, 35 * B);
  return img;
}

/** Lists one block OTA with its transfer list as a sibling. */
async function list(data: Uint8Array, listText: string | undefined, name = 'system.new.dat') {
  const siblings: Record<string, ByteSource> =
    listText === undefined ? {} : { [`${name.replace(/\.new\.dat(\.br)?$/, '')}.transfer.list`]: new BufferSource(Buffer.from(listText)) };
  const t = makeContext(name, {}, siblings);
  try {
    const entries = await listEntries(otaBlockImage, new BufferSource(data), t);
    // The decoded new.dat was released when the walk ended.
    expect(t.budget.memoryBytes).toBe(0);
    return { entries, problems: t.problems };
  } finally {
    t.cleanup();
  }
}

/** Drives the reader over hostile input: only typed errors may come out. */
async function survives(data: Uint8Array, listText: string, name = 'system.new.dat'): Promise<string> {
  const t = makeContext(name, {}, { 'system.transfer.list': new BufferSource(Buffer.from(listText, 'latin1')) });
  return survivesWalk(otaBlockImage, new BufferSource(data), t, (s) => {
    if (s.size <= 64 * 1024 * 1024) sha256Source(s);
    else s.read(s.size - 1024 * 1024, 2 * 1024 * 1024);
  });
}

describe('block OTA reader', () => {
  let tmp: { dir: string; remove(): void };
  let ext4: Uint8Array;
  beforeAll(() => {
    tmp = tempDir('aibom-blockota-');
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'app/Cam'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'app/Cam/Cam.apk'), crypto.randomBytes(500_000));
    fs.writeFileSync(path.join(tree, 'build.prop'), 'ro.build.id=TEST\n'.repeat(300));
    const img = path.join(tmp.dir, 'system.img');
    if (hasTool('mke2fs')) {
      run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, img, '6M']);
      ext4 = fs.readFileSync(img);
    } else ext4 = image(1536);
  });
  afterAll(() => tmp?.remove());

  it('matches <name>.new.dat and <name>.new.dat.br only', () => {
    const probe = (name: string) => createProbe(new BufferSource(new Uint8Array(16)), name);
    expect(otaBlockImage.match(probe('system.new.dat.br'))).toBe(true);
    expect(otaBlockImage.match(probe('vendor.new.dat'))).toBe(true);
    expect(otaBlockImage.match(probe('system.transfer.list'))).toBe(false);
    expect(otaBlockImage.match(probe('.new.dat'))).toBe(false);
    expect(otaBlockImage.match(probe('system.img'))).toBe(false);
  });

  it.skipIf(!haveBrotli)('rebuilds an ext4 image from system.new.dat.br (brotli CLI) and a v4 transfer list', async () => {
    const ota = buildBlockOta(ext4, { version: 4, shuffle: true });
    const { entries, problems } = await list(brotli(ota.newDat), ota.list, 'system.new.dat.br');
    expect(problems).toEqual([]);
    expect(entries).toEqual([{ path: 'system', type: 'file', size: ext4.length, sha256: sha256Bytes(ext4) }]);
  });

  it('rebuilds plain .new.dat with transfer lists of versions 1 to 4, shuffled commands and an erased tail', async () => {
    const img = image(200);
    for (const version of [1, 2, 3, 4]) {
      for (const opts of [{}, { shuffle: true, eraseTail: 17, maxBlocksPerCommand: 7 }] as BlockOtaOptions[]) {
        const ota = buildBlockOta(img, { version, ...opts });
        const tail = opts.eraseTail ?? 0;
        const expected = Buffer.concat([img, Buffer.alloc(tail * B)]);
        const { entries, problems } = await list(ota.newDat, ota.list);
        expect(problems, `v${version}`).toEqual([]);
        expect(entries, `v${version}`).toEqual([{ path: 'system', type: 'file', size: expected.length, sha256: sha256Bytes(expected) }]);
      }
    }
  });

  it('serves random reads equal to the image', async () => {
    const img = image(300);
    const ota = buildBlockOta(img, { shuffle: true, maxBlocksPerCommand: 5 });
    const t = makeContext('system.new.dat', {}, { 'system.transfer.list': new BufferSource(Buffer.from(ota.list)) });
    for await (const e of otaBlockImage.entries(new BufferSource(ota.newDat), t.ctx)) {
      const s = await e.open();
      for (let i = 0; i < 300; i++) {
        const off = crypto.randomInt(0, img.length);
        const len = crypto.randomInt(0, Math.min(40 * B, img.length - off) + 1);
        expect(Buffer.from(s.read(off, len)).equals(Buffer.from(img.subarray(off, off + len)))).toBe(true);
      }
    }
    t.cleanup();
  });

  it('lists an incremental list with a problem, its new data readable and move/diff targets as zeros', async () => {
    const img = image(100);
    for (const version of [1, 2, 3, 4]) {
      const ota = buildBlockOta(img, {
        version,
        incrementalBlocks: [
          [40, 10],
          [90, 5],
        ],
      });
      const t = makeContext('system.new.dat', {}, { 'system.transfer.list': new BufferSource(Buffer.from(ota.list)) });
      for await (const e of otaBlockImage.entries(new BufferSource(ota.newDat), t.ctx)) {
        const s = await e.open();
        expect(s.size).toBe(img.length);
        const expected = Buffer.from(img);
        expected.fill(0, 40 * B, 50 * B);
        expected.fill(0, 90 * B, 95 * B);
        expect(sha256Source(s)).toBe(sha256Bytes(expected));
      }
      expect(t.problems).toHaveLength(1);
      expect(t.problems[0]).toMatchObject({ path: 'system', severity: 'warning', code: 'unsupported' });
      expect(t.problems[0]!.message).toMatch(/incremental .*move.*source build/);
      t.cleanup();
    }
  });

  it('reports the item unsupported when no transfer list is beside it', async () => {
    await expect(list(new Uint8Array(B), undefined)).rejects.toBeInstanceOf(UnsupportedError);
  });

  it.skipIf(!haveBrotli)('finds a model in a block OTA inside an OTA zip through scan(), the list after the data', async () => {
    const model = tinyTflite('in a block OTA');
    const padded = Buffer.concat([model, Buffer.alloc(B - (model.length % B))]);
    const ota = buildBlockOta(padded);
    const dir = path.join(tmp.dir, 'zip');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'system.new.dat.br'), brotli(ota.newDat));
    fs.writeFileSync(path.join(dir, 'system.transfer.list'), ota.list);
    fs.writeFileSync(path.join(dir, 'system.patch.dat'), '');
    // The data first: the reader waits for its sibling until the zip is listed.
    run('zip', ['-q', 'ota.zip', 'system.new.dat.br', 'system.patch.dat', 'system.transfer.list'], { cwd: dir });
    const input = path.join(dir, 'ota.zip');
    const inv = await scan([input], { containers: [zip, otaBlockImage] });
    expect(inv.problems).toEqual([]);
    expect(modelsOf(inv).map((m) => [m.location, m.sha256])).toEqual([[`${input}!/system.new.dat.br!/system`, sha256Bytes(padded)]]);
    // And from a folder on disk.
    const inv2 = await scan([path.join(dir, 'system.new.dat.br')], { containers: [otaBlockImage] });
    expect(modelsOf(inv2).map((m) => m.location)).toEqual([`${path.join(dir, 'system.new.dat.br')}!/system`]);
  });

  describe('hostile lists and data', () => {
    it('parses range sets as blockimg.cpp does', () => {
      expect(parseRangeSet('4,0,2,5,9', 'x')).toEqual([0, 2, 5, 9]);
      for (const bad of ['3,0,2,5', '4,0,2,5', '0', '2,5,5', '2,6,5', '2,0,4294967297', '2,-1,4', '2,a,4', '', '2,0,1,2']) {
        expect(() => parseRangeSet(bad, 'x'), bad).toThrow(FormatError);
      }
    });

    it('rejects bad headers and commands', () => {
      for (const text of [
        '',
        'x\n1\n',
        '5\n1\n0\n0\n',
        '0\n1\n',
        '4\n1\n',
        '4\nz\n0\n0\n',
        '4\n1\n0\n0\nnew 3,0,1\n',
        '4\n1\n0\n0\nnew\n',
        '3\n1\n0\n0\nmove abc\n',
      ]) {
        expect(() => parseTransferList(text), JSON.stringify(text)).toThrow(AibomError);
      }
      expect(parseTransferList('4\n1\n0\n0\nfrobnicate 1\nnew 2,0,1\n').unknown.get('frobnicate')).toBe(1);
    });

    it('fails a new.dat shorter than its new ranges, plain or brotli, and overlapping new ranges', async () => {
      const img = image(40);
      const ota = buildBlockOta(img);
      const short = ota.newDat.subarray(0, ota.newDat.length - 1);
      expect((await list(short, ota.list)).entries[0]!.sha256).toBe('error:truncated');
      if (haveBrotli) expect((await list(brotli(short), ota.list, 'system.new.dat.br')).entries[0]!.sha256).toBe('error:truncated');
      const longer = Buffer.concat([ota.newDat, Buffer.alloc(10)]);
      if (haveBrotli) expect((await list(brotli(longer), ota.list, 'system.new.dat.br')).entries[0]!.sha256).toBe('error:format');
      const overlap = '4\n4\n0\n0\nnew 2,0,3\nnew 2,2,4\n';
      expect((await list(new Uint8Array(7 * B), overlap)).entries[0]!.sha256).toBe('error:format');
      const broken = Buffer.from(haveBrotli ? brotli(ota.newDat) : new Uint8Array(100));
      broken.fill(0x55, 10, 60);
      expect((await list(broken, ota.list, 'system.new.dat.br')).entries[0]!.sha256).toMatch(/^error:(format|truncated)$/);
    });

    it('survives truncated and corrupted lists', async () => {
      const img = image(60);
      const ota = buildBlockOta(img, { version: 3, incrementalBlocks: [[50, 3]], maxBlocksPerCommand: 4 });
      for (let n = 0; n < ota.list.length; n += 3) await survives(ota.newDat, ota.list.slice(0, n));
      const chars = '0123456789, \nnewzro';
      for (let i = 0; i < 300; i++) {
        const a = [...ota.list];
        for (let k = 0; k < 1 + (i % 3); k++) a[crypto.randomInt(0, a.length)] = chars[crypto.randomInt(0, chars.length)]!;
        await survives(ota.newDat, a.join(''));
      }
      // Ranges at the edge of the block count bound: a 1 TiB sparse image costs nothing until read.
      expect(await survives(new Uint8Array(B), '4\n1\n0\n0\nnew 2,0,1\nerase 2,1,268435456\n')).toBe('ok');
      expect(await survives(new Uint8Array(B), '4\n1\n0\n0\nnew 2,0,1\nerase 2,1,268435457\n')).toBe('format');
    });
  });
});
