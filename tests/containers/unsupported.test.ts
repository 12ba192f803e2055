import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asar } from '../../src/containers/asar.js';
import { containers } from '../../src/containers/index.js';
import { gpt } from '../../src/containers/gpt.js';
import { iso9660 } from '../../src/containers/iso9660.js';
import { mbr } from '../../src/containers/mbr.js';
import { rockchip } from '../../src/containers/rockchip.js';
import { unsupported } from '../../src/containers/unsupported.js';
import { UnsupportedError } from '../../src/errors.js';
import { scan } from '../../src/index.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { buildAsar, asarFile } from '../builders/asar-builder.js';
import { buildRkaf } from '../builders/rockchip-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { makeContext, python, run, tempDir } from '../helpers/container-context.js';

const tools = hasTool('mkfs.ubifs') && hasTool('ubinize') && hasTool('mkfs.jffs2') && hasTool('mkfs.cramfs') && hasTool('genisoimage') && hasTool('python3');
const d = describe.skipIf(!tools);

d('unsupported reader', () => {
  let tmp: { dir: string; remove(): void };
  /** Image file -> the format its problem must name (and the code). */
  const images = new Map<string, { format: string; code: 'unsupported' | 'encrypted' }>();
  /** Files that must not be matched. */
  const negatives: string[] = [];

  beforeAll(() => {
    tmp = tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'd'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'd/a.txt'), 'hello\n');
    fs.writeFileSync(path.join(tree, 'model.bin'), crypto.randomBytes(20_000));
    const out = (n: string): string => path.join(tmp.dir, n);

    // Real images, made by mtd-utils and util-linux.
    run('mkfs.ubifs', ['-r', tree, '-m', '2048', '-e', '126976', '-c', '64', '-o', out('rootfs.ubifs')]);
    fs.writeFileSync(out('ubi.ini'), `[vol]\nmode=ubi\nimage=${out('rootfs.ubifs')}\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_flags=autoresize\n`);
    run('ubinize', ['-o', out('rootfs.ubi'), '-m', '2048', '-p', '128KiB', out('ubi.ini')]);
    run('mkfs.jffs2', ['-r', tree, '-l', '-o', out('le.jffs2')]);
    run('mkfs.jffs2', ['-r', tree, '-b', '-o', out('be.jffs2')]);
    run('mkfs.jffs2', ['-r', tree, '-l', '-n', '-o', out('nocm.jffs2')]); // no cleanmarkers: starts with a dirent/inode node
    run('mkfs.cramfs', [tree, out('rootfs.cramfs')]);
    images.set('rootfs.ubifs', { format: 'UBIFS', code: 'unsupported' });
    images.set('rootfs.ubi', { format: 'UBI', code: 'unsupported' });
    images.set('le.jffs2', { format: 'JFFS2', code: 'unsupported' });
    images.set('be.jffs2', { format: 'JFFS2', code: 'unsupported' });
    images.set('nocm.jffs2', { format: 'JFFS2', code: 'unsupported' });
    images.set('rootfs.cramfs', { format: 'CramFS', code: 'unsupported' });

    // Headers with no Debian builder here, written from the on-disk layouts.
    const romfs = Buffer.alloc(4096);
    romfs.write('-rom1fs-', 0, 'latin1');
    romfs.writeUInt32BE(4096, 8);
    romfs.write('vol', 16, 'latin1');
    fs.writeFileSync(out('rootfs.romfs'), romfs);
    images.set('rootfs.romfs', { format: 'RomFS', code: 'unsupported' });
    const f2fs = Buffer.alloc(8192);
    f2fs.writeUInt32LE(0xf2f52010, 1024);
    f2fs.writeUInt16LE(1, 1028); // major version
    f2fs.writeUInt16LE(15, 1030);
    fs.writeFileSync(out('userdata.f2fs'), f2fs);
    images.set('userdata.f2fs', { format: 'F2FS', code: 'unsupported' });
    const luks = Buffer.alloc(4096);
    luks.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0x00, 0x02], 0);
    fs.writeFileSync(out('userdata.luks'), luks);
    images.set('userdata.luks', { format: 'LUKS', code: 'encrypted' });
    const wty = Buffer.alloc(4096);
    wty.write('IMAGEWTY', 0, 'latin1');
    fs.writeFileSync(out('phoenix.img'), wty);
    images.set('phoenix.img', { format: 'Allwinner IMAGEWTY', code: 'unsupported' });
    const aml = Buffer.alloc(4096);
    aml.writeUInt32LE(2, 4);
    aml.writeUInt32LE(0x27b51956, 8);
    fs.writeFileSync(out('aml_upgrade_package.img'), aml);
    images.set('aml_upgrade_package.img', { format: 'Amlogic upgrade package', code: 'unsupported' });

    // Negatives: random bytes, text, a zip, and images the other readers handle.
    fs.writeFileSync(out('random.bin'), crypto.randomBytes(100_000));
    fs.writeFileSync(out('notes.txt'), 'UBI# JFFS2 -rom1fs- IMAGEWTY are words in this text\n'.repeat(100));
    python("import zipfile,sys\nwith zipfile.ZipFile(sys.argv[1],'w') as z: z.writestr('a.txt', 'x')", [out('a.zip')]);
    run('genisoimage', ['-quiet', '-R', '-o', out('cd.iso'), tree]);
    fs.writeFileSync(out('update.img'), buildRkaf({ items: [{ name: 'boot', fileName: 'boot.img', data: Buffer.from('boot') }] }));
    fs.writeFileSync(out('app.asar'), buildAsar({ 'a.js': asarFile('x') }));
    negatives.push('random.bin', 'notes.txt', 'a.zip', 'cd.iso', 'update.img', 'app.asar');
  });
  afterAll(() => tmp.remove());

  it('records exactly one problem naming the format for each image, in a real scan', async () => {
    for (const [name, { format, code }] of images) {
      const file = path.join(tmp.dir, name);
      const inv = await scan([file], { containers: [unsupported] });
      expect(inv.problems, name).toEqual([
        {
          location: file,
          // The scan grades 'unsupported' as a warning and 'encrypted' as an error.
          severity: code === 'encrypted' ? 'error' : 'warning',
          code,
          message: expect.stringContaining(`${format} ${code === 'encrypted' ? 'encrypted volume' : 'image'} recognised but not scanned`),
        },
      ]);
    }
  });

  it('matches nothing else: random bytes, text, a zip, and the images other readers handle', async () => {
    for (const name of negatives) {
      const file = path.join(tmp.dir, name);
      const src = FileSource.open(file);
      try {
        expect(unsupported.match(createProbe(src, name)), name).toBe(false);
      } finally {
        src.close();
      }
      const inv = await scan([file], { containers: [unsupported] });
      expect(inv.problems, name).toEqual([]);
    }
  });

  it('collides with no other reader: no registered or sibling reader matches these images', () => {
    const others = [...containers.filter((c) => c.id !== 'unsupported'), gpt, mbr, iso9660, rockchip, asar];
    for (const name of images.keys()) {
      const src = FileSource.open(path.join(tmp.dir, name));
      try {
        const probe = createProbe(src, name);
        expect(unsupported.match(probe), name).toBe(true);
        expect(
          others.filter((c) => c.match(probe)).map((c) => c.id),
          name,
        ).toEqual([]);
      } finally {
        src.close();
      }
    }
  });

  it('throws UnsupportedError from entries() and lists nothing; a JFFS2 magic with a bad CRC is not matched', async () => {
    const t = makeContext('le.jffs2');
    const src = FileSource.open(path.join(tmp.dir, 'le.jffs2'));
    try {
      const it = unsupported.entries(src, t.ctx)[Symbol.asyncIterator]();
      await expect(it.next()).rejects.toBeInstanceOf(UnsupportedError);
    } finally {
      src.close();
    }
    const bad = Buffer.from(fs.readFileSync(path.join(tmp.dir, 'le.jffs2')).subarray(0, 4096));
    bad[8] = (bad[8] as number) ^ 1;
    expect(unsupported.match(createProbe(new BufferSource(bad), 'bad'))).toBe(false);
    // 0x1985 alone, as any file may start with, is not enough.
    expect(unsupported.match(createProbe(new BufferSource(Buffer.from([0x85, 0x19, 0x02, 0xe0, 0x30, 0, 0, 0, 1, 2, 3, 4])), 'x'))).toBe(false);
  });
});
