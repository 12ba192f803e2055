import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rockchip } from '../../src/containers/rockchip.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource, SliceSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { buildRkaf, buildRkfw, fakeLoader, rkcrc, type RkItem } from '../builders/rockchip-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, python, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';
import { survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';

const d = describe.skipIf(!hasTool('python3'));

/**
 * An independent reader in python3 (struct), written from rkafp.h as afptool -unpack reads it: items
 * from 0x8C, 112 bytes each (count at 0x88, 35 slots when the header is 4096 bytes), 'SELF' and
 * 'RESERVED' skipped, 'parameter' unwrapped (position + 8, size - 12). Prints path, size, sha256.
 */
const UNPACK = `
import sys, struct, json, hashlib
b = open(sys.argv[1], 'rb').read()
base = 0
if b[:4] == b'RKFW':
    base = struct.unpack_from('<I', b, 0x21)[0]
    ld, ll = struct.unpack_from('<II', b, 0x19)
    out = [{'path': 'boot.bin', 'size': ll, 'sha256': hashlib.sha256(b[ld:ld+ll]).hexdigest()}]
else:
    out = []
a = b[base:]
assert a[:4] == b'RKAF'
n = struct.unpack_from('<I', a, 0x88)[0]
for i in range(n):
    name, fname, nsize, pos, naddr, padded, size = struct.unpack_from('<32s60sIIIII', a, 0x8c + 112 * i)
    name = name.split(b'\\0')[0].decode(); fname = fname.split(b'\\0')[0].decode()
    if fname in ('SELF', 'RESERVED'): continue
    if name == 'parameter': pos += 8; size -= 12
    out.append({'path': fname, 'size': size, 'sha256': hashlib.sha256(a[pos:pos+size]).hexdigest()})
print(json.dumps(out))
`;

function items(): { items: RkItem[]; files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>([
    ['package-file', Buffer.from('package-file package-file\nbootloader Image/MiniLoaderAll.bin\nparameter Image/parameter.txt\n')],
    [
      'Image/parameter.txt',
      Buffer.from('FIRMWARE_VER:1.2.3\nMACHINE_MODEL:RK3568\nCMDLINE:mtdparts=rk29xxnand:0x00002000@0x00004000(uboot),-@0x00010000(userdata:grow)\n'),
    ],
    ['Image/MiniLoaderAll.bin', crypto.randomBytes(4000)],
    ['Image/boot.img', crypto.randomBytes(70_000)],
    ['Image/system.img', crypto.randomBytes(300_001)],
    ['Image/misc.img', Buffer.alloc(2048)],
  ]);
  const list: RkItem[] = [
    { name: 'package-file', fileName: 'package-file', data: files.get('package-file')! },
    { name: 'parameter', fileName: 'Image/parameter.txt', data: files.get('Image/parameter.txt')!, nandAddr: 0 },
    { name: 'bootloader', fileName: 'Image/MiniLoaderAll.bin', data: files.get('Image/MiniLoaderAll.bin')! },
    { name: 'boot', fileName: 'Image/boot.img', data: files.get('Image/boot.img')!, nandAddr: 0x8000, nandSize: 0x10000 },
    { name: 'system', fileName: 'Image/system.img', data: files.get('Image/system.img')!, nandAddr: 0x20000, nandSize: 0x100000 },
    { name: 'misc', fileName: 'Image/misc.img', data: files.get('Image/misc.img')! },
    { name: 'backup', fileName: 'RESERVED' },
    { name: 'update-script', fileName: 'SELF' },
  ];
  return { items: list, files };
}

const expectedOf = (files: Map<string, Buffer>): Listed[] =>
  [...files].map(([p, b]) => ({ path: p, type: 'file', size: b.length, sha256: sha256Bytes(b) })).sort((a, b) => (a.path < b.path ? -1 : 1));

d('rockchip reader', () => {
  let tmp: { dir: string; remove(): void };
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.remove());

  function pythonUnpack(img: Buffer): Listed[] {
    const file = path.join(tmp.dir, `u-${crypto.randomBytes(4).toString('hex')}.img`);
    fs.writeFileSync(file, img);
    const out = JSON.parse(python(UNPACK, [file])) as { path: string; size: number; sha256: string }[];
    return out.map((e) => ({ path: e.path, type: 'file', size: e.size, sha256: e.sha256 })).sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  it('writes the layout afptool documents (builder self-check: magic, length, CRC, item fields)', () => {
    const { items: list } = items();
    const rkaf = buildRkaf({ items: list });
    expect(rkaf.subarray(0, 4).toString('latin1')).toBe('RKAF');
    expect(rkaf.readUInt32LE(4)).toBe(rkaf.length - 4);
    expect(rkaf.readUInt32LE(rkaf.length - 4)).toBe(rkcrc(rkaf.subarray(0, rkaf.length - 4)));
    expect(rkaf.readUInt32LE(0x88)).toBe(8);
    // Item 0 at 0x8C: name, file name, then position 2048 (right after the header).
    expect(rkaf.subarray(0x8c, 0x8c + 12).toString('latin1')).toBe('package-file');
    expect(rkaf.readUInt32LE(0x8c + 0x60)).toBe(2048);
  });

  it('lists a bare RKAF package as the independent python unpacker extracts it', async () => {
    const { items: list, files } = items();
    const img = buildRkaf({ items: list });
    const src = new BufferSource(img);
    expect(rockchip.match(createProbe(src, 'update.img'))).toBe(true);
    const t = makeContext('update.img');
    const seen: unknown[] = [];
    const ours = await listEntries(rockchip, src, t, 'update.img', { onSource: (_p, s) => seen.push(s) });
    expect(ours).toEqual(expectedOf(files));
    expect(ours).toEqual(pythonUnpack(img));
    expect(seen.every((s) => s instanceof SliceSource)).toBe(true);
    expect(t.problems).toEqual([]);
  });

  it('lists an RKFW update.img: the loader as boot.bin and the RKAF items one level down', async () => {
    const { items: list, files } = items();
    const loader = fakeLoader();
    const img = buildRkfw(loader, buildRkaf({ items: list }));
    const src = new BufferSource(img);
    expect(rockchip.match(createProbe(src, 'update.img'))).toBe(true);
    const t = makeContext('update.img');
    const ours = await listEntries(rockchip, src, t);
    files.set('boot.bin', loader);
    expect(ours).toEqual(expectedOf(files));
    expect(ours).toEqual(pythonUnpack(img));
    expect(t.problems).toEqual([]);
  });

  it('recurses into a packaged image that is itself a container (a zip here)', async () => {
    const zipFile = path.join(tmp.dir, 'oem.zip');
    python("import zipfile,sys\nwith zipfile.ZipFile(sys.argv[1],'w') as z: z.writestr('models/m.bin', b'weights'*100)", [zipFile]);
    const img = buildRkfw(fakeLoader(), buildRkaf({ items: [{ name: 'oem', fileName: 'Image/oem.img', data: fs.readFileSync(zipFile) }] }));
    const t = makeContext('update.img');
    const ours = await listEntries(rockchip, new BufferSource(img), t, 'update.img', { recurse: true });
    expect(ours.map((e) => e.path)).toEqual(['Image/oem.img', 'Image/oem.img!/models/m.bin', 'boot.bin']);
  });

  it('reads the 4096-byte RK3562 header with more than 16 items, and lists A/B copies of one file once', async () => {
    const files = new Map<string, Buffer>();
    const list: RkItem[] = [];
    for (let i = 0; i < 20; i++) {
      const b = crypto.randomBytes(1000 + i);
      files.set(`Image/p${i}.img`, b);
      list.push({ name: `p${i}`, fileName: `Image/p${i}.img`, data: b });
    }
    const img = buildRkaf({ items: list, headerSize: 4096 });
    // Slot 20 repeats slot 19 (uboot_a / uboot_b naming one file): the count says 21.
    img.copy(img, 0x8c + 20 * 112, 0x8c + 19 * 112, 0x8c + 20 * 112);
    img.write('p19_b\0', 0x8c + 20 * 112, 'latin1');
    img.writeUInt32LE(21, 0x88);
    const t = makeContext('update.img');
    const ours = await listEntries(rockchip, new BufferSource(img), t);
    expect(ours).toEqual(expectedOf(files));
    expect(t.problems).toEqual([]);
    // A count of exactly 16 with used slots after it is read on, as rk3562's afptool does.
    img.writeUInt32LE(16, 0x88);
    expect(await listEntries(rockchip, new BufferSource(img), makeContext('u.img'))).toEqual(expectedOf(files));
  });

  it('records hostile names, items past the end and impossible counts', async () => {
    const data = crypto.randomBytes(5000);
    const img = buildRkaf({
      items: [
        { name: 'evil', fileName: '../../etc/passwd', data },
        { name: 'big', fileName: 'Image/big.img', data },
        { name: 'ok', fileName: 'Image/ok.img', data },
      ],
    });
    img.writeUInt32LE(0xffffffff, 0x8c + 112 + 0x6c); // big: 4 GiB file size
    let t = makeContext('h.img');
    const ours = await listEntries(rockchip, new BufferSource(img), t);
    expect(ours.map((e) => e.path)).toEqual(['../../etc/passwd', 'Image/ok.img']);
    expect(t.problems.map((p) => [p.path, p.code])).toEqual([
      ['../../etc/passwd', 'hostile-path'],
      ['Image/big.img', 'truncated'],
    ]);

    const many = Buffer.from(img);
    many.writeUInt32LE(1000, 0x88);
    expect(rockchip.match(createProbe(new BufferSource(many), 'm'))).toBe(false);
    await expect(listEntries(rockchip, new BufferSource(many), makeContext('m'))).rejects.toThrow(FormatError);

    // RKFW whose image offset lies past the end, and whose loader does.
    const fw = buildRkfw(fakeLoader(), img);
    const far = Buffer.from(fw);
    far.writeUInt32LE(fw.length + 10, 0x21);
    await expect(listEntries(rockchip, new BufferSource(far), makeContext('f'))).rejects.toThrow(FormatError);
    const badLoader = Buffer.from(fw);
    badLoader.writeUInt32LE(0xfffffff0, 0x1d);
    t = makeContext('l');
    expect((await listEntries(rockchip, new BufferSource(badLoader), t)).map((e) => e.path)).toEqual(['../../etc/passwd', 'Image/ok.img']);
    expect(t.problems.map((p) => p.path)).toContain('boot.bin');
  });

  it('does not match random bytes, zeros, or an RKAF whose length exceeds the file', () => {
    expect(rockchip.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(rockchip.match(createProbe(new BufferSource(new Uint8Array(65536)), 'z'))).toBe(false);
    const rkaf = buildRkaf({ items: items().items });
    expect(rockchip.match(createProbe(new BufferSource(rkaf.subarray(0, 10_000)), 'cut'))).toBe(false);
  });

  it('survives every 997th prefix and 300 byte flips in the headers: typed errors or problems only', async () => {
    const good = buildRkfw(fakeLoader(), buildRkaf({ items: items().items }));
    const cuts: number[] = [];
    for (let n = 0; n <= good.length; n += n < 6000 ? 97 : 997) cuts.push(n);
    await survivesTruncations(
      rockchip,
      good,
      cuts,
      () => makeContext('cut.img'),
      (list, label) => {
        for (const e of list) expect(e.sha256 ?? '', label).not.toMatch(/^error/);
      },
    );
    // One flip in three in the RKFW header, the others in the RKAF header and its item table.
    const rkafAt = good.readUInt32LE(0x21);
    await survivesByteFlips(rockchip, good, 300, () => makeContext('flip.img'), {
      seed: 11,
      pick: (next, i) => (i % 3 === 0 ? next(0x66) : rkafAt + next(0x8c + 8 * 112)),
    });
  });
});
