import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containers } from '../../src/containers/index.js';
import type { ContainerKind } from '../../src/containers/types.js';
import { signatureAt } from '../../src/detect/signature.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { bootImage, vendorBootImage } from '../builders/android-boot-builder.js';
import { asarFile, buildAsar } from '../builders/asar-builder.js';
import { LpBuilder } from '../builders/lp-builder.js';
import { buildBlockOta, buildPayload } from '../builders/ota-builder.js';
import { buildRkaf, buildRkfw, fakeLoader } from '../builders/rockchip-builder.js';
import { python, run, runBuffer, tempDir } from '../helpers/container-context.js';
import { hasTool } from '../helpers/corpus.js';

/*
 * Declared signatures are a promise to the orchestrator, which will soon call a reader's `match` only
 * when one of its signatures is present in the item's head (fast dispatch). A reader whose `match`
 * accepts an item lacking all of its signatures would then silently stop finding it. Every sample
 * below is real (made by the tool or the builder the reader's own tests use) and cheap; for each, every
 * registered reader that matches it must find one of its declared signatures in its head.
 */

/** Readers that declare no signature: recognised by structure (tar v7, MBR) or by name (block OTA). */
const WITHOUT_SIGNATURES = ['mbr', 'ota-block-image', 'tar'];
const KINDS: readonly ContainerKind[] = ['archive', 'compression', 'filesystem', 'partitions', 'other'];

interface Sample {
  /** The container it was made as; its reader must match it. */
  readonly id: string;
  readonly label: string;
  readonly name: string;
  readonly bytes: Uint8Array;
}

describe('declared container signatures', () => {
  let tmp: { dir: string; remove(): void };
  const samples: Sample[] = [];

  beforeAll(() => {
    tmp = tempDir();
    const file = (n: string): string => path.join(tmp.dir, n);
    const add = (id: string, label: string, bytes: Uint8Array, name = label): void => {
      samples.push({ id, label, name, bytes });
    };
    const tool = (...cmds: string[]): boolean => cmds.every((c) => hasTool(c));
    const data = Buffer.concat([crypto.randomBytes(5000), Buffer.alloc(20_000, 7)]);
    const tree = file('tree');
    fs.mkdirSync(path.join(tree, 'd'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'd/a.txt'), 'hello\n');
    fs.writeFileSync(path.join(tree, 'model.bin'), data);

    // Compression wrappers.
    add('gzip', 'gzip', zlib.gzipSync(data));
    if (tool('xz')) add('xz', 'xz', runBuffer('xz', ['-c'], data));
    if (tool('zstd')) add('zstd', 'zstd', runBuffer('zstd', ['-c', '-q'], data));
    if (tool('bzip2')) for (const level of ['-1', '-9']) add('bzip2', `bzip2 ${level}`, runBuffer('bzip2', ['-c', level], data));
    if (tool('lz4')) {
      const frame = runBuffer('lz4', ['-c', '-q'], data);
      add('lz4', 'lz4 frame', frame);
      add('lz4', 'lz4 legacy', runBuffer('lz4', ['-c', '-q', '-l'], data));
      // A skippable frame (magic 0x184D2A53, 4 bytes of content) before the frame: valid LZ4.
      add('lz4', 'lz4 after a skippable frame', Buffer.concat([Buffer.from([0x53, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]), frame]));
    }

    // Archives.
    if (tool('python3')) {
      const zipScript = "import zipfile,sys\nwith zipfile.ZipFile(sys.argv[1],'w') as z:\n  [z.writestr(n, 'x'*100) for n in sys.argv[2:]]";
      python(zipScript, [file('a.zip'), 'a.txt', 'b/c.txt']);
      python(zipScript, [file('empty.zip')]);
      add('zip', 'zip', fs.readFileSync(file('a.zip')));
      add('zip', 'empty zip', fs.readFileSync(file('empty.zip')));
    }
    if (tool('tar')) {
      for (const format of ['ustar', 'gnu', 'pax', 'v7']) {
        run('tar', ['-c', `--format=${format}`, '-f', file(`${format}.tar`), '-C', tree, 'd', 'model.bin']);
        add('tar', `tar ${format}`, fs.readFileSync(file(`${format}.tar`)));
      }
    }
    if (tool('cpio')) {
      for (const format of ['newc', 'crc', 'odc', 'bin']) {
        run('sh', ['-c', `find . | LC_ALL=C sort | cpio -o -H ${format} --quiet > ${JSON.stringify(file(`${format}.cpio`))}`], { cwd: tree });
        add('cpio', `cpio ${format}`, fs.readFileSync(file(`${format}.cpio`)));
      }
    }
    add('asar', 'asar', buildAsar({ a: asarFile('hello'), d: { b: asarFile(data) } }));

    // File systems.
    if (tool('mksquashfs')) {
      run('mksquashfs', [tree, file('fs.sqfs'), '-noappend', '-no-progress', '-quiet']);
      add('squashfs', 'squashfs', fs.readFileSync(file('fs.sqfs')));
    }
    if (tool('mkfs.erofs')) {
      run('mkfs.erofs', ['--quiet', '-zlz4', file('fs.erofs'), tree]);
      add('erofs', 'erofs', fs.readFileSync(file('fs.erofs')));
    }
    if (tool('mke2fs')) {
      for (const t of ['ext2', 'ext4']) {
        run('mke2fs', ['-q', '-F', '-t', t, '-d', tree, file(`fs.${t}`), '2M']);
        add('ext4', t, fs.readFileSync(file(`fs.${t}`)));
      }
    }
    if (tool('genisoimage')) {
      run('genisoimage', ['-quiet', '-R', '-o', file('fs.iso'), tree]);
      add('iso9660', 'iso9660', fs.readFileSync(file('fs.iso')));
    }

    // Partitioned images.
    if (tool('sgdisk')) {
      fs.writeFileSync(file('gpt.img'), Buffer.alloc(4 * 1024 * 1024));
      run('sgdisk', ['-o', '-n', '1:2048:4095', file('gpt.img')]);
      const gptImage = fs.readFileSync(file('gpt.img'));
      add('gpt', 'gpt', gptImage);
      // The primary header damaged: matched by its protective MBR, for the backup header.
      const damaged = Buffer.from(gptImage);
      damaged.fill(0, 512, 1024);
      add('gpt', 'gpt with a damaged primary header', damaged);
    }
    if (tool('sfdisk')) {
      fs.writeFileSync(file('mbr.img'), Buffer.alloc(4 * 1024 * 1024));
      run('sh', ['-c', `printf 'label: dos\\n2048,2048,83\\n' | sfdisk -q ${JSON.stringify(file('mbr.img'))}`]);
      add('mbr', 'mbr', fs.readFileSync(file('mbr.img')));
    }
    if (tool('img2simg')) {
      fs.writeFileSync(file('raw.img'), Buffer.concat([data, Buffer.alloc(64 * 1024)]));
      run('img2simg', [file('raw.img'), file('sparse.img')]);
      add('android-sparse', 'android-sparse', fs.readFileSync(file('sparse.img')));
    }
    const kernel = crypto.randomBytes(3000);
    add('android-boot', 'boot v2', bootImage({ version: 2, kernel, ramdisk: data, dtb: Buffer.from('dtb') }));
    add('android-boot', 'boot v4', bootImage({ version: 4, kernel, ramdisk: data }));
    add('android-boot', 'vendor_boot v4', vendorBootImage({ version: 4, ramdisks: [{ name: 'a', data }] }));
    const rkaf = buildRkaf({ items: [{ name: 'parameter', fileName: 'parameter.txt', data: Buffer.from('FIRMWARE_VER: 1.0\n') }] });
    add('rockchip', 'RKAF', rkaf);
    add('rockchip', 'RKFW', buildRkfw(fakeLoader(), rkaf));
    add('super', 'super', new LpBuilder().partition('system_a').build());
    const image = Buffer.concat([data, Buffer.alloc(4096 * 8 - data.length)]);
    add('ota-payload', 'payload.bin', buildPayload({ partitions: [{ name: 'boot', image, kinds: ['REPLACE'], chunkBlocks: 4 }] }), 'payload.bin');
    add('ota-block-image', 'system.new.dat', buildBlockOta(image).newDat, 'system.new.dat');

    // Formats reported as not scanned, made by mtd-utils and util-linux.
    if (tool('mkfs.ubifs', 'ubinize')) {
      run('mkfs.ubifs', ['-r', tree, '-m', '2048', '-e', '126976', '-c', '64', '-o', file('fs.ubifs')]);
      fs.writeFileSync(file('ubi.ini'), `[vol]\nmode=ubi\nimage=${file('fs.ubifs')}\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\n`);
      run('ubinize', ['-o', file('fs.ubi'), '-m', '2048', '-p', '128KiB', file('ubi.ini')]);
      add('unsupported', 'UBIFS', fs.readFileSync(file('fs.ubifs')));
      add('unsupported', 'UBI', fs.readFileSync(file('fs.ubi')));
    }
    if (tool('mkfs.jffs2')) {
      for (const endian of ['-l', '-b']) {
        run('mkfs.jffs2', ['-r', tree, endian, '-o', file(`fs${endian}.jffs2`)]);
        add('unsupported', `JFFS2 ${endian}`, fs.readFileSync(file(`fs${endian}.jffs2`)));
      }
    }
    if (tool('mkfs.cramfs')) {
      run('mkfs.cramfs', [tree, file('fs.cramfs')]);
      add('unsupported', 'CramFS', fs.readFileSync(file('fs.cramfs')));
    }
  }, 120_000);
  afterAll(() => tmp.remove());

  it('every reader declares a kind and a signature list; only structure- or name-based readers leave it empty', () => {
    for (const c of containers) {
      expect(KINDS, c.id).toContain(c.kind);
      expect(Array.isArray(c.signatures), c.id).toBe(true);
      for (const s of c.signatures) expect(s.offset, c.id).toBeGreaterThanOrEqual(0);
    }
    expect(
      containers
        .filter((c) => c.signatures.length === 0)
        .map((c) => c.id)
        .sort(),
    ).toEqual(WITHOUT_SIGNATURES);
  });

  it('each sample is matched by the reader it was made for', () => {
    for (const s of samples) {
      const reader = containers.find((c) => c.id === s.id);
      expect(reader?.match(createProbe(new BufferSource(s.bytes), s.name)), s.label).toBe(true);
    }
  });

  it('no reader with signatures matches a sample lacking all of them', () => {
    for (const s of samples) {
      const probe = createProbe(new BufferSource(s.bytes), s.name);
      for (const c of containers) {
        if (c.signatures.length === 0 || !c.match(probe)) continue;
        expect(
          c.signatures.some((sig) => signatureAt(probe.head, sig)),
          `${c.id} matches the ${s.label} sample, whose head holds none of its declared signatures`,
        ).toBe(true);
      }
    }
  });

  it('covers every registered reader with at least one sample (when the tools are installed)', () => {
    const covered = new Set(samples.map((s) => s.id));
    const missing = containers.map((c) => c.id).filter((id) => !covered.has(id));
    if (missing.length > 0) console.warn(`SKIP: no sample for ${missing.join(', ')} (tools missing).`);
    const allTools = [
      'xz',
      'zstd',
      'bzip2',
      'lz4',
      'python3',
      'tar',
      'cpio',
      'mksquashfs',
      'mkfs.erofs',
      'mke2fs',
      'genisoimage',
      'sgdisk',
      'sfdisk',
      'img2simg',
      'mkfs.jffs2',
    ];
    if (allTools.every((t) => hasTool(t))) expect(missing).toEqual([]);
  });
});
