import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzip } from '../../src/containers/gzip.js';
import { squashfs } from '../../src/containers/squashfs/index.js';
import { tar } from '../../src/containers/tar.js';
import type { ContainerEntry } from '../../src/containers/types.js';
import { AibomError, FormatError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { ExtentSource, type Extent } from '../../src/io/extent-source.js';
import { createProbe } from '../../src/probe.js';
import { scan } from '../../src/scan/index.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { TfliteBuilder } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, run, sha256Bytes, sha256Source, tempDir, type Listed } from '../helpers/container-context.js';
import { modelsOf } from '../helpers/inventory.js';

const tools = hasTool('mksquashfs') && hasTool('unsquashfs');
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const d = describe.skipIf(!tools);

/** Builds `img` from `tree` with mksquashfs (quiet, no progress, fixed time so runs are reproducible). */
function mksquashfs(tree: string, img: string, args: string[]): void {
  run('mksquashfs', [tree, img, '-noappend', '-no-progress', '-quiet', '-all-root', '-mkfs-time', '0', ...args]);
}

/** True when this mksquashfs writes legacy LZMA images (a build option; decided at collection time). */
function canWriteLzma(): boolean {
  if (!tools) return false;
  const probe = tempDir('aibom-sqlzma-');
  try {
    fs.mkdirSync(path.join(probe.dir, 'tree'));
    mksquashfs(path.join(probe.dir, 'tree'), path.join(probe.dir, 'lzma.squashfs'), ['-comp', 'lzma']);
    return true;
  } catch {
    console.warn('SKIP: this mksquashfs cannot write -comp lzma; the legacy LZMA test is skipped.');
    return false;
  } finally {
    probe.remove();
  }
}

/** Lists every entry of an image by our reader; file contents hashed (errors recorded as `error:<code>`). */
async function ours(
  img: string | Uint8Array,
  name = 'image.squashfs',
): Promise<{ list: Listed[]; problems: { path?: string; code: string; message: string }[] }> {
  const t = makeContext(name);
  const src: ByteSource = typeof img === 'string' ? openFile(img) : new BufferSource(img);
  try {
    const list = await listEntries(squashfs, src, t);
    return { list, problems: t.problems };
  } finally {
    if (typeof img === 'string') (src as ReturnType<typeof openFile>).close();
    t.cleanup();
  }
}

/** Reads the whole walk of a hostile image: only aibom's typed errors may escape, from the walk or an open. */
async function hostileWalk(bytes: Uint8Array): Promise<{ entries: number; errors: string[] }> {
  const t = makeContext('hostile.squashfs');
  const errors: string[] = [];
  let entries = 0;
  try {
    for await (const e of squashfs.entries(new BufferSource(bytes), t.ctx)) {
      entries++;
      if (e.type !== 'file') continue;
      try {
        sha256Source(await e.open());
      } catch (err) {
        if (!(err instanceof AibomError)) throw err;
        errors.push(`${e.path}:${err.code}`);
      }
    }
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    errors.push(`walk:${err.code}`);
  } finally {
    t.cleanup();
  }
  return { entries, errors };
}

/** Superblock and table offsets of an image, read independently of the reader (squashfs_fs.h). */
function superblock(img: Buffer): { blockSize: number; inodeTable: number; directoryTable: number; rootInode: number } {
  return {
    blockSize: img.readUInt32LE(12),
    rootInode: Number(img.readBigUInt64LE(32)),
    inodeTable: Number(img.readBigUInt64LE(64)),
    directoryTable: Number(img.readBigUInt64LE(72)),
  };
}

/**
 * In an image with uncompressed metadata (-noI), finds the directory entry named `name`: returns the
 * byte offset of its 8-byte entry header (offset u16, inode delta i16, type u16, size - 1 u16).
 */
function findDirEntry(img: Buffer, name: string, from: number): number {
  const n = Buffer.from(name);
  for (let at = img.indexOf(n, from); at >= 0; at = img.indexOf(n, at + 1)) {
    if (img.readUInt16LE(at - 2) === n.length - 1 && img.readUInt16LE(at - 4) <= 7) return at - 8;
  }
  throw new Error(`no directory entry ${name}`);
}

/** Absolute offset of the inode a directory entry points at (single-block uncompressed inode table). */
function inodeOf(img: Buffer, entryAt: number): number {
  const sb = superblock(img);
  return sb.inodeTable + 2 + img.readUInt16LE(entryAt);
}

d('squashfs reader', () => {
  let tmp: { dir: string; remove(): void };
  let tree: string;
  beforeAll(() => {
    tmp = tempDir('aibom-squashfs-');
    tree = path.join(tmp.dir, 'tree');
    const w = (rel: string, data: string | Uint8Array): void => {
      fs.mkdirSync(path.dirname(path.join(tree, rel)), { recursive: true });
      fs.writeFileSync(path.join(tree, rel), data);
    };
    w('a.txt', 'hello squashfs\n');
    w('empty', '');
    w('nested/deeper/deepest/leaf.txt', 'leaf\n');
    fs.mkdirSync(path.join(tree, 'nested/empty-dir'), { recursive: true });
    for (const n of [1, 4095, 4096, 4097, 131071, 131072, 131073, 300_001]) w(`sizes/odd-${n}.bin`, crypto.randomBytes(n));
    w('sizes/text-200k.txt', 'model weights tensor layer '.repeat(8000));
    w('big/random-3m.bin', crypto.randomBytes(3 * 1024 * 1024 + 123));
    // A sparse file: data, 2.5 MiB of holes, data. mksquashfs stores all-zero blocks as size 0.
    const fd = fs.openSync(path.join(tree, 'big/sparse.img'), 'w');
    fs.writeSync(fd, crypto.randomBytes(70_000), 0, 70_000, 0);
    fs.writeSync(fd, Buffer.from('end of sparse file'), 0, 18, 2_700_000);
    fs.closeSync(fd);
    w('unicode/模型.onnx', 'not a model');
    w('unicode/café ☕/🚀.bin', crypto.randomBytes(777));
    // 2000 entries in one folder: in the gzip image only (each image with them costs seconds to extract).
    for (let i = 0; i < 2000; i++) w(`many/f${String(i).padStart(4, '0')}.txt`, `file ${i}\n`.repeat(i % 7));
    // x86-64 executables, where mksquashfs -Xbcj x86 picks the BCJ filter for some blocks.
    for (const tool of ['unsquashfs', 'mksquashfs']) w(`bin/${tool}`, fs.readFileSync(run('sh', ['-c', `command -v ${tool}`]).trim()));
    fs.symlinkSync('../a.txt', path.join(tree, 'nested/link-up'));
    fs.symlinkSync('/etc/passwd', path.join(tree, 'abs-link'));
    fs.symlinkSync('does/not/exist', path.join(tree, 'dangling'));
    fs.linkSync(path.join(tree, 'sizes/odd-4097.bin'), path.join(tree, 'hardlink.bin'));
    run('mkfifo', [path.join(tree, 'nested/fifo')]);
  });
  afterAll(() => tmp.remove());

  /** The gzip image of the whole tree (made by the first listing test, or here when run alone). */
  function gzipImage(): string {
    const img = path.join(tmp.dir, 'gzip.squashfs');
    if (!fs.existsSync(img)) mksquashfs(tree, img, []);
    return img;
  }

  /** Makes an image with `args`, extracts it with unsquashfs, and checks our listing equals the extraction. */
  async function compare(label: string, args: string[], withMany = false): Promise<{ img: string; list: Listed[] }> {
    const img = path.join(tmp.dir, `${label}.squashfs`);
    // '-e' takes the rest of the command line: it goes last.
    mksquashfs(tree, img, withMany ? args : [...args, '-e', 'many']);
    const out = path.join(tmp.dir, `x-${label}`);
    run('unsquashfs', ['-no-progress', '-quiet', '-d', out, img]);
    const expected = listTree(out);
    fs.rmSync(out, { recursive: true, force: true });
    const { list, problems } = await ours(img);
    expect(problems, label).toEqual([]);
    // unsquashfs makes the fifo too; listTree keeps files, directories and symlinks only.
    expect(list.filter((e) => e.type === 'other').map((e) => e.path)).toEqual(['nested/fifo']);
    expect(
      list.filter((e) => e.type !== 'other'),
      label,
    ).toEqual(expected);
    return { img, list };
  }

  it('matches by magic and version only', () => {
    const img = path.join(tmp.dir, 'match.squashfs');
    mksquashfs(path.join(tree, 'nested'), img, []);
    expect(squashfs.match(createProbe(openFile(img), 'x'))).toBe(true);
    expect(squashfs.match(createProbe(new BufferSource(crypto.randomBytes(4096)), 'r'))).toBe(false);
    const fake = Buffer.alloc(4096);
    fake.write('hsqs', 0);
    fake.writeUInt16LE(7, 28); // no such major version
    expect(squashfs.match(createProbe(new BufferSource(fake), 'f'))).toBe(false);
  });

  it('lists a gzip image (the default) as unsquashfs extracts it', async () => {
    const { img, list } = await compare('gzip', [], true);
    expect(list.find((e) => e.path === 'nested/link-up')).toEqual({ path: 'nested/link-up', type: 'symlink', linkTarget: '../a.txt' });
    expect(list.find((e) => e.path === 'big/sparse.img')?.size).toBe(2_700_018);
    expect(list.filter((e) => e.path.startsWith('many/'))).toHaveLength(2000);
    // Directory order: squashfs sorts names, the walk is depth-first.
    const t = makeContext('gzip.squashfs');
    const order: string[] = [];
    for await (const e of squashfs.entries(openFile(img), t.ctx)) order.push(e.path);
    expect(order.slice(0, 4)).toEqual(['a.txt', 'abs-link', 'big', 'big/random-3m.bin']);
    expect(order.indexOf('many/f0000.txt')).toBe(order.indexOf('many') + 1);
  });

  it('lists xz, lz4 (and -Xhc), zstd and lzo images', async () => {
    await compare('xz', ['-comp', 'xz']);
    await compare('lz4', ['-comp', 'lz4']);
    const { img } = await compare('lz4hc', ['-comp', 'lz4', '-Xhc']);
    // Compressor options (flag 0x0400) follow the superblock: lz4 version 1, flags 1 (HC).
    expect(fs.readFileSync(img).readUInt16LE(24) & 0x0400).toBe(0x0400);
    await compare('zstd', ['-comp', 'zstd']);
    await compare('lzo', ['-comp', 'lzo']);
    await compare('lzo1x1', ['-comp', 'lzo', '-Xalgorithm', 'lzo1x_1']);
  });

  it('lists images with 4 KiB and 1 MiB blocks', async () => {
    await compare('b4k', ['-b', '4096']);
    await compare('b1m', ['-comp', 'zstd', '-b', '1048576']);
  });

  it('lists uncompressed images (metadata, data, fragments) with data as slices of the image', async () => {
    const { img } = await compare('plain', ['-noI', '-noD', '-noF', '-noX']);
    // The sparse file has an extended file inode (type 9, it records the bytes saved) whose block
    // list holds size-0 (sparse) blocks.
    const bytes = fs.readFileSync(img);
    const at = inodeOf(bytes, findDirEntry(bytes, 'sparse.img', superblock(bytes).directoryTable));
    expect(bytes.readUInt16LE(at)).toBe(9);
    const sizes = Array.from({ length: Math.ceil(2_700_018 / 131072) - 1 }, (_, i) => bytes.readUInt32LE(at + 56 + 4 * i));
    expect(sizes.filter((x) => x === 0).length).toBeGreaterThan(10);
    const t = makeContext('plain.squashfs');
    for await (const e of squashfs.entries(openFile(img), t.ctx)) {
      if (e.path !== 'big/random-3m.bin') continue;
      const s = await e.open();
      expect(s).toBeInstanceOf(ExtentSource);
      // A read inside one stored block is a view of the image's read, no decoding.
      expect(s.read(5, 100)).toHaveLength(100);
    }
  });

  it('lists images without fragments and with fragments always used', async () => {
    await compare('nofrag', ['-no-fragments']);
    await compare('alwaysfrag', ['-always-use-fragments', '-b', '65536']);
  });

  it('decodes xz images made with BCJ filters (as OpenWrt builds them)', async () => {
    const { img } = await compare('xzbcj', ['-comp', 'xz', '-Xbcj', 'x86,arm']);
    // Count the xz streams whose first block has two filters (BCJ + LZMA2): the test must exercise them.
    const bytes = fs.readFileSync(img);
    let bcj = 0;
    for (let at = bytes.indexOf(XZ_MAGIC); at >= 0; at = bytes.indexOf(XZ_MAGIC, at + 6)) if ((bytes[at + 13]! & 3) === 1) bcj++;
    expect(bcj).toBeGreaterThan(0);
  });

  it.skipIf(!canWriteLzma())('reports a legacy LZMA image as unsupported (SKIP when this mksquashfs cannot write -comp lzma)', async () => {
    const img = path.join(tmp.dir, 'lzma.squashfs');
    mksquashfs(path.join(tree, 'nested'), img, ['-comp', 'lzma']);
    await expect(ours(img)).rejects.toThrow(UnsupportedError);
    await expect(ours(img)).rejects.toThrow(/LZMA/);
  });

  it('reports big-endian and version 3 images as unsupported, naming them', async () => {
    const img = fs.readFileSync(gzipImage());
    const be = Buffer.from(img);
    be.write('sqsh', 0);
    be.writeUInt16BE(3, 28);
    be.writeUInt16BE(1, 30);
    expect(squashfs.match(createProbe(new BufferSource(be), 'be'))).toBe(true);
    await expect(ours(be)).rejects.toThrow(/big-endian.*3\.1/);
    const v3 = Buffer.from(img);
    v3.writeUInt16LE(3, 28);
    await expect(ours(v3)).rejects.toThrow(UnsupportedError);
    await expect(ours(v3)).rejects.toThrow(/version 3\.0/);
  });

  it('maps files lazily: stored blocks as slices, compressed blocks and fragment tails decoded on read', async () => {
    const t = makeContext('gzip.squashfs');
    const src = openFile(gzipImage());
    const extentsOf = (s: ByteSource): Extent[] => (s as unknown as { extents: Extent[] }).extents;
    try {
      for await (const e of squashfs.entries(src, t.ctx)) {
        if (e.path === 'big/random-3m.bin') {
          // Random data does not compress: mksquashfs stores its blocks, and the tail goes to a fragment.
          const x = extentsOf(await e.open());
          expect(x.slice(0, -1).every((k) => k.kind === 'source')).toBe(true);
          expect(x).toHaveLength(Math.ceil((3 * 1024 * 1024 + 123) / 131072));
        }
        if (e.path === 'sizes/text-200k.txt') {
          const s = await e.open();
          const x = extentsOf(s);
          expect(x.map((k) => k.kind)).toEqual(['decoded', 'decoded']);
          expect(x[1]?.length).toBe(216_000 - 131072); // the tail, from a fragment block
          expect(Buffer.from(s.read(131070, 10)).toString()).toBe('model weights tensor layer '.repeat(8000).slice(131070, 131080));
        }
      }
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('finds models inside a squashfs image (and a tar.gz in it) in a real scan, named by their paths', async () => {
    const root = path.join(tmp.dir, 'model-tree');
    fs.mkdirSync(path.join(root, 'usr/share/models'), { recursive: true });
    const onnx = new OnnxBuilder()
      .producer('aibom-test', '1.0')
      .opset('', 17)
      .input('x', 'float32', [4])
      .node('Relu', ['x'], ['y'])
      .output('y', 'float32', [4])
      .build();
    const tflite = new TfliteBuilder()
      .description('model in a squashfs fragment')
      .subgraph((sg) => sg.name('main').tensor('in', 'float32', [1, 4]).tensor('out', 'float32', [1, 4]).operator('RELU', [0], [1]).inputs([0]).outputs([1]))
      .build();
    fs.writeFileSync(path.join(root, 'usr/share/models/relu.onnx'), onnx);
    fs.writeFileSync(path.join(root, 'usr/share/models/small.tflite'), tflite);
    fs.copyFileSync(path.join(tree, 'bin/unsquashfs'), path.join(root, 'usr/bin-unsquashfs'));
    const inner = path.join(tmp.dir, 'inner');
    fs.mkdirSync(inner);
    fs.writeFileSync(path.join(inner, 'packed.onnx'), onnx);
    run('tar', ['-czf', path.join(root, 'usr/share/models/bundle.tar.gz'), '-C', inner, 'packed.onnx']);
    const img = path.join(tmp.dir, 'models.squashfs');
    mksquashfs(root, img, ['-comp', 'xz', '-Xbcj', 'x86']);
    const inv = await scan([img], { containers: [squashfs, gzip, tar] });
    const found = modelsOf(inv)
      .map((m) => [m.location, m.sha256])
      .sort();
    expect(found).toEqual([
      [`${img}!/usr/share/models/bundle.tar.gz!/packed.onnx`, sha256Bytes(onnx)],
      [`${img}!/usr/share/models/relu.onnx`, sha256Bytes(onnx)],
      [`${img}!/usr/share/models/small.tflite`, sha256Bytes(tflite)],
    ]);
    expect(inv.problems).toEqual([]);
  });

  it('opens the same inode (a hard link) with one identity', async () => {
    const t = makeContext('gzip.squashfs');
    const src = openFile(gzipImage());
    const ids = new Map<string, string | undefined>();
    for await (const e of squashfs.entries(src, t.ctx)) {
      if (e.path === 'hardlink.bin' || e.path === 'sizes/odd-4097.bin') ids.set(e.path, (await e.open()).identity);
    }
    expect(ids.get('hardlink.bin')).toBeDefined();
    expect(ids.get('hardlink.bin')).toBe(ids.get('sizes/odd-4097.bin'));
    src.close();
  });

  describe('hostile images', () => {
    let loopTree: string;
    beforeAll(() => {
      loopTree = path.join(tmp.dir, 'loop-tree');
      fs.mkdirSync(path.join(loopTree, 'loop'), { recursive: true });
      fs.mkdirSync(path.join(loopTree, 'loop/inner'));
      fs.writeFileSync(path.join(loopTree, 'frag.txt'), 'a small file in a fragment\n');
      fs.writeFileSync(path.join(loopTree, 'blocks.bin'), crypto.randomBytes(300_000));
      fs.writeFileSync(path.join(loopTree, 'text.txt'), 'compressible '.repeat(20_000));
      fs.writeFileSync(path.join(loopTree, 'loop/inner/deep.txt'), 'deep\n');
    });

    function plainImage(extra: string[] = []): Buffer {
      const img = path.join(tmp.dir, `loop-${extra.join('')}.squashfs`);
      mksquashfs(loopTree, img, ['-noI', ...extra]);
      return fs.readFileSync(img);
    }

    it('does not follow a directory entry that points at an ancestor', async () => {
      const img = plainImage();
      const sb = superblock(img);
      const loop = findDirEntry(img, 'loop', sb.directoryTable);
      const inner = findDirEntry(img, 'inner', sb.directoryTable);
      // 'loop/inner' now names the inode of 'loop' (same inode block 0: a single-block table).
      img.writeUInt16LE(img.readUInt16LE(loop), inner);
      const { list, problems } = await ours(img);
      expect(list.map((e) => e.path)).toEqual(['blocks.bin', 'frag.txt', 'loop', 'text.txt']);
      expect(problems.map((p) => p.path)).toEqual(['loop/inner']);
      expect(problems[0]?.message).toMatch(/already listed/);
      // The root itself, from a subdirectory.
      const img2 = plainImage();
      const inner2 = findDirEntry(img2, 'inner', sb.directoryTable);
      img2.writeUInt16LE(sb.rootInode % 65536, inner2);
      const r2 = await ours(img2);
      expect(r2.problems.map((p) => p.path)).toEqual(['loop/inner']);
    });

    it('fails only the file whose fragment index is past the table', async () => {
      const img = plainImage();
      const at = inodeOf(img, findDirEntry(img, 'frag.txt', superblock(img).directoryTable));
      expect(img.readUInt16LE(at)).toBe(2); // a basic file inode
      img.writeUInt32LE(0x7fff0000, at + 20); // fragment index
      const { list } = await ours(img);
      expect(list.find((e) => e.path === 'frag.txt')?.sha256).toBe('error:format');
      expect(list.filter((e) => e.sha256?.startsWith('error:'))).toHaveLength(1);
    });

    it('fails only the file whose block list overflows or whose size runs past the table', async () => {
      const img = plainImage();
      const at = inodeOf(img, findDirEntry(img, 'blocks.bin', superblock(img).directoryTable));
      img.writeUInt32LE(0x00ffffff, at + 32); // first block size: 16 MiB, more than a block
      let r = await ours(img);
      expect(r.list.find((e) => e.path === 'blocks.bin')?.sha256).toBe('error:format');
      expect(r.list.filter((e) => e.sha256?.startsWith('error:'))).toHaveLength(1);
      const img2 = plainImage();
      img2.writeUInt32LE(0xfffff000, at + 28); // file_size: 4 GiB, a block list longer than the table
      r = await ours(img2);
      expect(r.list.find((e) => e.path === 'blocks.bin')?.sha256).toMatch(/^error:(truncated|format)$/);
      expect(r.list.filter((e) => e.sha256?.startsWith('error:'))).toHaveLength(1);
    });

    it('fails only the file whose compressed block is corrupt', async () => {
      for (const comp of ['gzip', 'xz', 'lz4', 'zstd', 'lzo']) {
        const img = plainImage(['-comp', comp]);
        const at = inodeOf(img, findDirEntry(img, 'text.txt', superblock(img).directoryTable));
        const start = img.readUInt32LE(at + 16);
        const size = img.readUInt32LE(at + 32) & ~(1 << 24);
        for (let k = 0; k < 16; k++) {
          const at = start + Math.floor((size * k) / 16);
          img.writeUInt8(img.readUInt8(at) ^ 0x5a, at);
        }
        const { list, problems } = await ours(img);
        expect(problems, comp).toEqual([]);
        const failed = list.filter((e) => e.sha256?.startsWith('error:'));
        expect(
          failed.map((e) => e.path),
          comp,
        ).toEqual(['text.txt']);
      }
    });

    it('rejects truncated images with typed errors', async () => {
      const img = fs.readFileSync(gzipImage());
      const cuts = [0, 1, 4, 50, 95, 96, 97, 4096];
      for (let i = 1; i < 24; i++) cuts.push(Math.floor((img.length * i) / 24));
      for (const n of cuts) {
        const r = await hostileWalk(img.subarray(0, n));
        expect(r.errors.length, `cut ${n}`).toBeGreaterThan(0);
      }
    });

    it('survives random corruption of metadata with typed errors only', async () => {
      for (const comp of ['gzip', 'xz', 'lz4', 'zstd', 'lzo']) {
        const img = plainImage(['-comp', comp]);
        const sb = superblock(img);
        // The same tree with compressed metadata, so that corrupt metadata blocks go through each decoder.
        const packedFile = path.join(tmp.dir, `loop-packed-${comp}.squashfs`);
        mksquashfs(loopTree, packedFile, ['-comp', comp]);
        const packed = fs.readFileSync(packedFile);
        for (let i = 0; i < 60; i++) {
          // Alternate between uncompressed metadata (-noI) and compressed metadata.
          const base = i % 2 === 0 ? img : packed;
          const bad = Buffer.from(base);
          const from = i % 2 === 0 ? sb.inodeTable : i % 4 === 1 ? superblock(packed).inodeTable : 96;
          for (let k = 0; k < 1 + (i % 5); k++) {
            const at = from + crypto.randomInt(bad.length - from);
            bad[at] = crypto.randomInt(256);
          }
          await hostileWalk(bad); // throws if anything but an AibomError escapes
        }
      }
    });

    it('stops a directory with a huge declared listing and lists no more than maxEntriesPerContainer', async () => {
      const img = plainImage();
      const at = inodeOf(img, findDirEntry(img, 'loop', superblock(img).directoryTable));
      expect(img.readUInt16LE(at)).toBe(1); // a basic directory inode
      img.writeUInt16LE(0xffff, at + 24); // file_size: a 64 KiB listing in a tiny table
      const { list, problems } = await ours(img);
      expect(list.map((e) => e.path)).toContain('loop');
      expect(problems.some((p) => p.path === 'loop' && /cannot be listed/.test(p.message))).toBe(true);

      const t = makeContext('many.squashfs', { maxEntriesPerContainer: 100 });
      const entries: ContainerEntry[] = [];
      for await (const e of squashfs.entries(openFile(gzipImage()), t.ctx)) entries.push(e);
      expect(entries).toHaveLength(100);
      expect(t.problems.map((p) => p.code)).toEqual(['limit']);
    });

    it('lists directories nested deeper than it enters, with a problem', async () => {
      const deep = path.join(tmp.dir, 'deep-tree');
      const leaf = path.join(deep, ...Array.from({ length: 300 }, () => 'd'));
      fs.mkdirSync(leaf, { recursive: true });
      fs.writeFileSync(path.join(leaf, 'bottom.txt'), 'bottom');
      const img = path.join(tmp.dir, 'deep.squashfs');
      mksquashfs(deep, img, []);
      const { list, problems } = await ours(img);
      expect(list).toHaveLength(256);
      expect(problems.map((p) => p.code)).toEqual(['limit']);
    });

    it('reports a bad superblock field by name', async () => {
      const img = plainImage();
      const bad = Buffer.from(img);
      bad.writeUInt32LE(3000, 12); // block_size
      await expect(ours(bad)).rejects.toThrow(/block_size 3000/);
      const bad2 = Buffer.from(img);
      bad2.writeBigUInt64LE(BigInt(img.length + 4096), 40); // bytes_used
      await expect(ours(bad2)).rejects.toThrow(FormatError);
      const bad3 = Buffer.from(img);
      bad3.writeUInt16LE(9, 20); // compression id
      await expect(ours(bad3)).rejects.toThrow(/compression id 9/);
    });
  });
});
