import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidBoot } from '../../src/containers/android-boot.js';
import { cpio } from '../../src/containers/cpio.js';
import { gzip } from '../../src/containers/gzip.js';
import { lz4 } from '../../src/containers/lz4.js';
import { FormatError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, SliceSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { scan } from '../../src/scan/index.js';
import { bootImage, vendorBootImage } from '../builders/android-boot-builder.js';
import { TfliteBuilder } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, run, runBuffer, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';
import { survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';
import { modelsOf } from '../helpers/inventory.js';

const tools = hasTool('mkbootimg') && hasTool('unpack_bootimg');

/** Listed entry of one section of known content. */
const section = (p: string, data: Uint8Array): Listed => ({ path: p, type: 'file', size: data.length, sha256: sha256Bytes(data) });
const sorted = (l: Listed[]): Listed[] => [...l].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

/** Our listing of an image held in memory, with the problems recorded. */
async function list(bytes: Uint8Array, name = 'boot.img'): Promise<{ entries: Listed[]; problems: { code: string; path?: string; message: string }[] }> {
  const t = makeContext(name);
  try {
    const entries = await listEntries(androidBoot, new BufferSource(bytes), t);
    return { entries, problems: t.problems };
  } finally {
    t.cleanup();
  }
}

/** A tiny TFLite model whose description makes it unique. */
function model(description: string): Uint8Array {
  return new TfliteBuilder()
    .description(description)
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('in', 'float32', [1, 4])
        .tensor('w', 'float32', [4, 4], { data: new Uint8Array(64).fill(3) })
        .tensor('out', 'float32', [1, 4])
        .operator('FULLY_CONNECTED', [0, 1], [2])
        .inputs([0])
        .outputs([2]),
    )
    .build();
}

describe.skipIf(!tools)('android-boot reader (against mkbootimg / unpack_bootimg)', () => {
  let tmp: { dir: string; remove(): void };
  const file = (name: string): string => path.join(tmp.dir, name);
  // Odd sizes, so that every section ends inside a page.
  const kernel = crypto.randomBytes(100_001);
  const ramdisk = zlib.gzipSync(Buffer.concat([Buffer.from('070701'), crypto.randomBytes(30_000)]));
  const second = crypto.randomBytes(5_003);
  const dtbo = crypto.randomBytes(7_777);
  const dtb = crypto.randomBytes(2_049);
  beforeAll(() => {
    tmp = tempDir();
    for (const [n, b] of [
      ['kernel', kernel],
      ['ramdisk', ramdisk],
      ['second', second],
      ['dtbo', dtbo],
      ['dtb', dtb],
    ] as const)
      fs.writeFileSync(file(n), b);
  });
  afterAll(() => tmp.remove());

  /** Builds with Debian mkbootimg, unpacks with unpack_bootimg, and compares the non-empty outputs with our sections. */
  async function compareWithUnpack(name: string, args: string[]): Promise<Listed[]> {
    const img = file(name);
    run('mkbootimg', [...args, ...(args.includes('--vendor_boot') ? [] : ['-o', img])], { cwd: tmp.dir });
    const out = file(`x-${name}`);
    run('unpack_bootimg', ['--boot_img', img, '--out', out]);
    const expected = listTree(out).filter((e) => e.size !== 0);
    const src = openFile(img);
    const t = makeContext(name);
    try {
      expect(androidBoot.match(createProbe(src, name))).toBe(true);
      const ours = await listEntries(androidBoot, src, t);
      expect(ours).toEqual(expected);
      expect(t.problems).toEqual([]);
      return ours;
    } finally {
      src.close();
      t.cleanup();
    }
  }

  it('lists a v0 boot image (page 2048: kernel, ramdisk, second) as unpack_bootimg extracts it', async () => {
    const ours = await compareWithUnpack('v0.img', [
      '--header_version',
      '0',
      '--pagesize',
      '2048',
      '--kernel',
      'kernel',
      '--ramdisk',
      'ramdisk',
      '--second',
      'second',
      '--cmdline',
      'console=ttyS0',
    ]);
    expect(ours.map((e) => e.path)).toEqual(['kernel', 'ramdisk', 'second']);
  });

  it('lists a v1 image (page 4096) and a v2 image (page 16384, second, dtb) as unpack_bootimg extracts them', async () => {
    const v1 = await compareWithUnpack('v1.img', ['--header_version', '1', '--pagesize', '4096', '--kernel', 'kernel', '--ramdisk', 'ramdisk']);
    expect(v1.map((e) => e.path)).toEqual(['kernel', 'ramdisk']);
    const v2 = await compareWithUnpack('v2.img', [
      '--header_version',
      '2',
      '--pagesize',
      '16384',
      '--kernel',
      'kernel',
      '--ramdisk',
      'ramdisk',
      '--second',
      'second',
      '--dtb',
      'dtb',
    ]);
    expect(v2.map((e) => e.path)).toEqual(['dtb', 'kernel', 'ramdisk', 'second']);
  });

  it('lists the recovery_dtbo of v1 and v2 recovery images at its recorded offset', async () => {
    // Debian's mkbootimg 29 cannot write --recovery_dtbo (a float offset under Python 3): our builder does.
    const v1 = bootImage({ version: 1, pageSize: 2048, kernel, ramdisk, recoveryDtbo: dtbo });
    expect(await list(v1, 'recovery.img')).toEqual({
      entries: sorted([section('kernel', kernel), section('ramdisk', ramdisk), section('recovery_dtbo', dtbo)]),
      problems: [],
    });
    const v2 = bootImage({ version: 2, pageSize: 4096, kernel, ramdisk, second, recoveryDtbo: dtbo, dtb });
    const all = sorted([
      section('kernel', kernel),
      section('ramdisk', ramdisk),
      section('second', second),
      section('recovery_dtbo', dtbo),
      section('dtb', dtb),
    ]);
    expect(await list(v2, 'recovery.img')).toEqual({ entries: all, problems: [] });
    // A recorded offset elsewhere (here: one page further, with the bytes moved there) is followed, with a warning.
    const at = Number(v2.readBigUInt64LE(1636));
    const moved = Buffer.concat([v2.subarray(0, at), Buffer.alloc(4096), v2.subarray(at)]);
    moved.writeBigUInt64LE(BigInt(at + 4096), 1636);
    const r = await list(moved, 'recovery.img');
    expect(r.entries.find((e) => e.path === 'recovery_dtbo')).toEqual(section('recovery_dtbo', dtbo));
    expect(r.problems.map((p) => p.code)).toEqual(['format']);
  });

  it('lists a v3 boot image and a v3 vendor_boot image as unpack_bootimg extracts them', async () => {
    const v3 = await compareWithUnpack('v3.img', ['--header_version', '3', '--kernel', 'kernel', '--ramdisk', 'ramdisk']);
    expect(v3.map((e) => e.path)).toEqual(['kernel', 'ramdisk']);
    const vendor = await compareWithUnpack('vendor_boot.img', [
      '--header_version',
      '3',
      '--pagesize',
      '4096',
      '--vendor_boot',
      file('vendor_boot.img'),
      '--vendor_ramdisk',
      'ramdisk',
      '--dtb',
      'dtb',
    ]);
    expect(vendor.map((e) => e.path)).toEqual(['dtb', 'vendor_ramdisk']);
  });

  it('reads a v3 vendor_boot with page 2048, whose 2112-byte header takes two pages', async () => {
    // Debian's unpack_bootimg 29 assumes a one-page header and so misreads this image: compared with the inputs.
    const img = file('vendor_boot-2048.img');
    run('mkbootimg', ['--header_version', '3', '--pagesize', '2048', '--vendor_boot', img, '--vendor_ramdisk', 'ramdisk', '--dtb', 'dtb'], { cwd: tmp.dir });
    const bytes = fs.readFileSync(img);
    expect(bytes.subarray(4096, 4096 + 16)).toEqual(ramdisk.subarray(0, 16));
    expect((await list(bytes, 'vendor_boot.img')).entries).toEqual(sorted([section('vendor_ramdisk', ramdisk), section('dtb', dtb)]));
  });

  it('lists our v4 boot (with boot signature), init_boot and vendor_boot v4 (ramdisk table, bootconfig) images', async () => {
    const signature = crypto.randomBytes(4096);
    const v4 = bootImage({ version: 4, kernel, ramdisk, signature, cmdline: 'console=ttyS0' });
    expect(await list(v4)).toEqual({
      entries: sorted([section('kernel', kernel), section('ramdisk', ramdisk), section('signature', signature)]),
      problems: [],
    });
    const initBoot = bootImage({ version: 4, ramdisk });
    expect(await list(initBoot, 'init_boot.img')).toEqual({ entries: [section('ramdisk', ramdisk)], problems: [] });

    const platform = crypto.randomBytes(3_001);
    const dlkm = crypto.randomBytes(12_345);
    const bootconfig = Buffer.from('androidboot.hardware=test\nandroidboot.selinux=permissive\n');
    for (const pageSize of [2048, 4096, 16384]) {
      const vb = vendorBootImage({
        version: 4,
        pageSize,
        ramdisks: [
          { name: 'platform', type: 1, data: platform },
          { name: 'dlkm', type: 3, data: dlkm },
        ],
        dtb,
        bootconfig,
      });
      expect(await list(vb, 'vendor_boot.img'), `page ${pageSize}`).toEqual({
        entries: sorted([
          section('vendor_ramdisk/platform', platform),
          section('vendor_ramdisk/dlkm', dlkm),
          section('dtb', dtb),
          section('bootconfig', bootconfig),
        ]),
        problems: [],
      });
    }
    // mkbootimg's plain --vendor_ramdisk: one unnamed entry covering the section, listed as `vendor_ramdisk`.
    const single = vendorBootImage({ version: 4, ramdisks: [{ name: '', data: platform }], dtb });
    expect((await list(single)).entries).toEqual(sorted([section('vendor_ramdisk', platform), section('dtb', dtb)]));
    // Unnamed entries among several are numbered as AOSP's unpack_bootimg numbers its files.
    const unnamed = vendorBootImage({
      version: 4,
      ramdisks: [
        { name: '', data: platform },
        { name: '', data: dlkm },
      ],
      dtb,
    });
    expect((await list(unnamed)).entries.map((e) => e.path)).toEqual(['dtb', 'vendor_ramdisk/vendor_ramdisk00', 'vendor_ramdisk/vendor_ramdisk01']);
  });

  it('gives sections as slices of the image (no copy)', async () => {
    const img = file('v0.img');
    const t = makeContext('v0.img');
    const src = openFile(img);
    const seen: ByteSource[] = [];
    try {
      await listEntries(androidBoot, src, t, 'v0.img', { onSource: (_p, s) => seen.push(s) });
      expect(seen.length).toBe(3);
      for (const s of seen) expect(s).toBeInstanceOf(SliceSource);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('reads a pre-v1 Qualcomm image whose header_version field holds dt_size', async () => {
    const dt = crypto.randomBytes(9_000);
    const img = bootImage({ version: 0, pageSize: 2048, kernel, ramdisk, second });
    img.writeUInt32LE(dt.length, 40);
    const withDt = Buffer.concat([img, dt]);
    expect((await list(withDt)).entries).toEqual(
      sorted([section('kernel', kernel), section('ramdisk', ramdisk), section('second', second), section('dt', dt)]),
    );
  });

  it('records sections that run past the end and lists the others; refuses a bad page size and unknown versions', async () => {
    const v2 = bootImage({ version: 2, pageSize: 2048, kernel, ramdisk, dtb });
    // Cut inside the ramdisk: the kernel is listed, ramdisk and dtb are problems.
    const cut = v2.subarray(0, 2048 + 100_352 + 1000);
    const r = await list(cut);
    expect(r.entries.map((e) => e.path)).toEqual(['kernel']);
    expect(r.problems.map((p) => `${p.code}:${p.path}`)).toEqual(['truncated:ramdisk', 'truncated:dtb']);
    // kernel_size 0xFFFFFFFF.
    const huge = Buffer.from(v2);
    huge.writeUInt32LE(0xffffffff, 8);
    const h = await list(huge);
    expect(h.entries).toEqual([]);
    expect(h.problems.every((p) => p.code === 'truncated')).toBe(true);
    // page_size 3.
    const page = Buffer.from(v2);
    page.writeUInt32LE(3, 36);
    await expect(list(page)).rejects.toBeInstanceOf(FormatError);
    // Version 5 with a v3 layout (page_size field in reserved words is 0), and a vendor_boot v9.
    const v5 = bootImage({ version: 3, kernel, ramdisk });
    v5.writeUInt32LE(5, 40);
    await expect(list(v5)).rejects.toBeInstanceOf(UnsupportedError);
    const vb = vendorBootImage({ version: 3, ramdisks: [{ name: '', data: ramdisk }], dtb });
    vb.writeUInt32LE(9, 8);
    await expect(list(vb)).rejects.toBeInstanceOf(UnsupportedError);
  });

  it('falls back to the whole vendor ramdisk section when the table is hostile, and records hostile names', async () => {
    const a = crypto.randomBytes(1000);
    const b = crypto.randomBytes(2000);
    const good = vendorBootImage({
      version: 4,
      pageSize: 4096,
      ramdisks: [
        { name: 'a', data: a },
        { name: 'b', data: b },
      ],
      dtb,
    });
    // Table at: header page + section (3000 -> 4096) + dtb (-> 4096) = 12288; entry 1 offset field at +108+4.
    const tableAt = 4096 + 4096 + 4096;
    expect(good.readUInt32LE(tableAt + 108)).toBe(2000);
    const whole = section('vendor_ramdisk', Buffer.concat([a, b]));
    for (const [label, patch] of [
      ['entry out of the section', (x: Buffer) => x.writeUInt32LE(2500, tableAt + 108 + 4)],
      ['entry_num 2^32-1', (x: Buffer) => x.writeUInt32LE(0xffffffff, 2116)],
      ['entry_size 4', (x: Buffer) => x.writeUInt32LE(4, 2120)],
      ['entries beyond the table size', (x: Buffer) => x.writeUInt32LE(108, 2112)],
    ] as const) {
      const bad = Buffer.from(good);
      patch(bad);
      const r = await list(bad);
      expect(r.entries, label).toEqual(sorted([whole, section('dtb', dtb)]));
      expect(
        r.problems.map((p) => p.code),
        label,
      ).toEqual(['format']);
    }
    const hostile = vendorBootImage({
      version: 4,
      ramdisks: [
        { name: '../../evil', data: a },
        { name: 'x', data: b },
        { name: 'x', data: a },
      ],
      dtb,
    });
    const r = await list(hostile);
    expect(r.entries.map((e) => e.path)).toEqual(['dtb', 'vendor_ramdisk/../../evil', 'vendor_ramdisk/x', 'vendor_ramdisk/x']);
    expect(r.problems.map((p) => p.code).sort()).toEqual(['duplicate-entry', 'hostile-path']);
  });

  it('survives a spread of prefix lengths and 300 single-byte corruptions of every kind of image', async () => {
    const images = [
      bootImage({ version: 0, kernel, ramdisk, second }),
      bootImage({ version: 2, pageSize: 4096, kernel, ramdisk, recoveryDtbo: dtbo, dtb }),
      bootImage({ version: 4, kernel, ramdisk, signature: second }),
      vendorBootImage({
        version: 4,
        ramdisks: [
          { name: 'a', data: dtbo },
          { name: 'b', data: second },
        ],
        dtb,
        bootconfig: Buffer.from('x=1\n'),
      }),
    ];
    for (const [i, img] of images.entries()) {
      const cuts = [0, 7, 8, 40, 44, 100, 1579, 1584, 1632, 1660, 2111, 2127, 2128, 4095, 4096, 4097, 9000, img.length - 1].map((n) => Math.min(n, img.length));
      await survivesTruncations(androidBoot, img, cuts, () => makeContext('boot.img'));
      // Corrupt the header page mostly: that is where the structure is.
      await survivesByteFlips(androidBoot, img, 300, () => makeContext('boot.img'), {
        seed: 7 + i,
        pick: (next) => next(Math.min(img.length, 4096 + next(3) * 4096)),
      });
    }
  });

  it('matches boot and vendor_boot magics only', () => {
    expect(androidBoot.match(createProbe(new BufferSource(bootImage({ version: 3, kernel, ramdisk })), 'x'))).toBe(true);
    expect(androidBoot.match(createProbe(new BufferSource(vendorBootImage({ version: 4, ramdisks: [{ name: 'a', data: ramdisk }] })), 'x'))).toBe(true);
    expect(androidBoot.match(createProbe(new BufferSource(crypto.randomBytes(4096)), 'x'))).toBe(false);
    expect(androidBoot.match(createProbe(new BufferSource(Buffer.from('ANDROID!')), 'x'))).toBe(false);
  });

  it('finds models inside gzip and lz4-legacy cpio ramdisks through scan() (boot v2 from mkbootimg, vendor_boot v4)', async () => {
    const tree = file('ramdisk-tree');
    fs.mkdirSync(path.join(tree, 'res'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'init.rc'), 'on boot\n');
    const bootModel = model('model in the boot ramdisk');
    fs.writeFileSync(path.join(tree, 'res/model.tflite'), bootModel);
    const newc = runBuffer('sh', ['-c', `cd ${JSON.stringify(tree)} && find . | cpio -o -H newc --quiet`]);
    fs.writeFileSync(file('ramdisk.cpio.gz'), zlib.gzipSync(newc));
    const dir = file('scan');
    fs.mkdirSync(dir);
    const boot = path.join(dir, 'boot.img');
    run('mkbootimg', ['--header_version', '2', '--kernel', 'kernel', '--ramdisk', 'ramdisk.cpio.gz', '--dtb', 'dtb', '-o', boot], { cwd: tmp.dir });

    const vendorTree = file('vendor-tree');
    fs.mkdirSync(path.join(vendorTree, 'lib/modules'), { recursive: true });
    const dlkmModel = model('model in a vendor ramdisk fragment');
    fs.writeFileSync(path.join(vendorTree, 'lib/modules/npu.tflite'), dlkmModel);
    const vendorNewc = runBuffer('sh', ['-c', `cd ${JSON.stringify(vendorTree)} && find . | cpio -o -H newc --quiet`]);
    const lz4Legacy = runBuffer('lz4', ['-q', '-c', '-l'], vendorNewc);
    const vendor = path.join(dir, 'vendor_boot.img');
    fs.writeFileSync(
      vendor,
      vendorBootImage({
        version: 4,
        ramdisks: [
          { name: 'platform', data: zlib.gzipSync(Buffer.from('not a cpio')) },
          { name: 'dlkm', type: 3, data: lz4Legacy },
        ],
        dtb,
      }),
    );

    const inv = await scan([boot, vendor], { containers: [androidBoot, gzip, lz4, cpio] });
    // A compressed cpio is one level, as a compressed tar is: no `ramdisk.out` hop.
    const found = modelsOf(inv)
      .map((m) => [m.location, m.sha256])
      .sort();
    expect(found).toHaveLength(2);
    expect(found[0]?.[0]).toMatch(new RegExp(`^${boot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}!/ramdisk!/res/model\\.tflite$`));
    expect(found[0]?.[1]).toBe(sha256Bytes(bootModel));
    expect(found[1]?.[0]).toMatch(new RegExp(`^${vendor.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}!/vendor_ramdisk/dlkm!/lib/modules/npu\\.tflite$`));
    expect(found[1]?.[1]).toBe(sha256Bytes(dlkmModel));
    expect(inv.problems).toEqual([]);
  });
});
