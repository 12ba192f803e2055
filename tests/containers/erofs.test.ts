import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erofs } from '../../src/containers/erofs/index.js';
import { MetaReader, inodeEnd, readInode, readSuper, type ErofsInode } from '../../src/containers/erofs/erofs-format.js';
import type { EntryProblem } from '../../src/containers/types.js';
import { AibomError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { ExtentSource, type Extent } from '../../src/io/extent-source.js';
import { createProbe } from '../../src/probe.js';
import { scan } from '../../src/scan/index.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, python, run, sha256Source, tempDir, type Listed } from '../helpers/container-context.js';
import { modelsOf } from '../helpers/inventory.js';

const tools = hasTool('mkfs.erofs') && hasTool('fsck.erofs');
const d = describe.skipIf(!tools);

const LONG_NAME = 'L'.repeat(254); // mkfs.erofs 1.5 refuses 255-byte names
const DEEP = Array.from({ length: 30 }, (_, i) => `d${i}`).join('/');

/** Deterministic compressible text: rows that LZ4 squeezes well. */
function text(n: number, seed = 0): Buffer {
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const row = `row ${i + seed}: the quick brown fox ${(i * i + seed) % 9973} jumps over the lazy dog\n`;
    parts.push(row);
    len += row.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

/** Writes the source tree the images are built from: every size and layout edge the brief names. */
function buildTree(root: string): void {
  const w = (rel: string, data: Uint8Array | string): void => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  };
  w('a/h.txt', 'hello erofs\n');
  w('empty', '');
  w('sizes/one', crypto.randomBytes(1));
  w('sizes/r4095', crypto.randomBytes(4095));
  w('sizes/r4096', crypto.randomBytes(4096));
  w('sizes/r4097', crypto.randomBytes(4097));
  w('sizes/t4097', text(4097));
  w('big/text-1m.txt', text(1024 * 1024)); // compressible: many pclusters
  w('big/random-3m.bin', crypto.randomBytes(3 * 1024 * 1024)); // incompressible: stored plain
  // Alternating random and text runs: compressed files with plain pclusters inside.
  w('big/mixed.bin', Buffer.concat(Array.from({ length: 12 }, (_, i) => (i % 2 ? crypto.randomBytes(65536) : text(65536, i))).concat([text(1234)])));
  for (const n of [5000, 9000, 20000, 65537]) w(`small/t${n}.txt`, text(n, n)); // compressed tails (ztailpacking)
  w('zeros.bin', new Uint8Array(300_000));
  const sparse = fs.openSync(path.join(root, 'sparse.bin'), 'w');
  fs.writeSync(sparse, 'tail', 1 << 20);
  fs.writeSync(sparse, 'end', 3 << 20);
  fs.closeSync(sparse);
  w(`${DEEP}/leaf.txt`, 'leaf');
  w(LONG_NAME, 'long name');
  w('unicodé ✓.txt', 'unicode');
  for (let i = 0; i < 2000; i++) w(`many/entry-${String(i).padStart(4, '0')}-${'x'.repeat(i % 40)}`, i % 7 === 0 ? `n${i}` : '');
  fs.linkSync(path.join(root, 'small/t5000.txt'), path.join(root, 'hardlink'));
  fs.symlinkSync('a/h.txt', path.join(root, 'link'));
  fs.symlinkSync('../../../etc/passwd', path.join(root, 'a/escape'));
  fs.symlinkSync('t'.repeat(1000), path.join(root, 'long-link'));
  // Inline xattrs (i_xattr_icount): the reader must skip them to find inline data and indexes.
  for (let i = 0; i < 4; i++) w(`xattr/x${i}`, text(100 + i * 3000, i));
  try {
    python(
      "import os,sys\nfor i in range(4):\n  p=os.path.join(sys.argv[1],'xattr','x%d'%i)\n  os.setxattr(p,'user.k',b'v'*(i*37+1))\n  if i>1: os.setxattr(p,'user.a.longer.name',b'w'*300)",
      [root],
    );
  } catch {
    console.warn('SKIP: user xattrs are not supported here; images are built without them.');
  }
  if (hasTool('mkfifo')) run('mkfifo', [path.join(root, 'fifo')]);
}

/** mkfs.erofs option sets 1.5 supports, each read by a different part of the reader. */
const VARIANTS: [string, string[]][] = [
  ['plain', []],
  ['lz4', ['-zlz4']],
  ['lz4hc', ['-zlz4hc,12']],
  ['big-pcluster', ['-zlz4', '-C65536']], // compact indexes with CBLKCNT
  ['legacy-lz4', ['-zlz4', '-Elegacy-compress']], // full indexes, no LZ4_0PADDING
  ['legacy-lz4hc-big', ['-zlz4hc', '-C16384', '-Elegacy-compress']], // full indexes, big pclusters, 0PADDING
  ['ztailpacking', ['-zlz4', '-Eztailpacking']],
  ['ztailpacking-big', ['-zlz4', '-C32768', '-Eztailpacking']],
  ['chunked', ['--chunksize=8192']],
  ['compact-no-xattrs', ['-zlz4', '-x-1', '-Eforce-inode-compact']],
  ['extended-noinline', ['-zlz4', '-Eforce-inode-extended,noinline_data']],
];

function problemsOf(t: { problems: EntryProblem[] }): EntryProblem[] {
  return t.problems;
}

/** Lists an image, opening and hashing every file; every error must be typed (never a crash). */
async function listAll(
  src: ByteSource,
  limits: Parameters<typeof makeContext>[1] = {},
): Promise<{ entries: Map<string, Listed>; problems: EntryProblem[]; errors: AibomError[]; order: string[] }> {
  const t = makeContext('x.img', limits);
  const entries = new Map<string, Listed>();
  const errors: AibomError[] = [];
  const order: string[] = [];
  const typed = (err: unknown): AibomError => {
    if (!(err instanceof AibomError)) throw err;
    return err;
  };
  try {
    for await (const e of erofs.entries(src, t.ctx)) {
      order.push(e.path);
      const item: Listed = { path: e.path, type: e.type };
      if (e.linkTarget !== undefined) item.linkTarget = e.linkTarget;
      if (e.type === 'file') {
        try {
          const s = await e.open();
          item.sha256 = sha256Source(s);
          item.size = s.size;
        } catch (err) {
          errors.push(typed(err));
          item.sha256 = `error:${typed(err).code}`;
        }
      }
      entries.set(e.path, item);
    }
  } catch (err) {
    errors.push(typed(err));
  } finally {
    t.cleanup();
  }
  return { entries, problems: problemsOf(t), errors, order };
}

// --- A minimal independent walk, to find the bytes the hostile tests patch. ---

interface Located {
  nid: number;
  inode: ErofsInode;
  /** Absolute offset of the dirent naming it. */
  dirent: number;
}

/** The data bytes of a flat (plain or inline) inode, with the image offset of each byte run. */
function flatRuns(image: Buffer, inode: ErofsInode, blk: number): { at: number; offset: number; length: number }[] {
  if (inode.layout === 0) return [{ at: 0, offset: inode.iu * blk, length: inode.size }];
  const head = (Math.ceil(inode.size / blk) - 1) * blk;
  return [
    { at: 0, offset: inode.iu * blk, length: head },
    { at: head, offset: inodeEnd(inode), length: inode.size - head },
  ];
}

/** Finds `rel` by walking directories from the root (flat directories only, as mkfs.erofs writes). */
function locate(image: Buffer, rel: string): Located {
  const src = new BufferSource(image);
  const sb = readSuper(src);
  const meta = new MetaReader(src, sb.blkSize);
  let dir = readInode(sb, meta, sb.rootNid);
  let found: Located | undefined;
  for (const name of rel.split('/')) {
    found = undefined;
    for (const run of flatRuns(image, dir, sb.blkSize)) {
      for (let b = 0; b < run.length && found === undefined; b += sb.blkSize) {
        const base = run.offset + b;
        const max = Math.min(sb.blkSize, run.length - b);
        const count = image.readUInt16LE(base + 8) / 12;
        for (let i = 0; i < count; i++) {
          const off = image.readUInt16LE(base + i * 12 + 8);
          const end = i + 1 < count ? image.readUInt16LE(base + (i + 1) * 12 + 8) : max;
          const n = image
            .subarray(base + off, base + end)
            .toString('utf8')
            .replace(/\0.*$/s, '');
          if (n === name) {
            const nid = Number(image.readBigUInt64LE(base + i * 12));
            found = { nid, inode: readInode(sb, meta, nid), dirent: base + i * 12 };
            break;
          }
        }
      }
    }
    if (found === undefined) throw new Error(`test helper: ${rel} not found`);
    dir = found.inode;
  }
  return found!;
}

d('erofs reader', () => {
  let tmp: { dir: string; remove(): void };
  let tree: string;
  const images = new Map<string, string>();
  beforeAll(() => {
    tmp = tempDir('aibom-erofs-');
    tree = path.join(tmp.dir, 'tree');
    buildTree(tree);
  });
  afterAll(() => tmp.remove());

  function mkfs(name: string, args: string[], from = tree): string {
    const file = path.join(tmp.dir, `${name}.img`);
    if (!images.has(file)) {
      run('mkfs.erofs', ['-T0', '--all-root', '--quiet', ...args, file, from]);
      images.set(file, file);
    }
    return file;
  }

  /** What fsck.erofs extracts, sorted by path. */
  function extract(file: string): Listed[] {
    const out = `${file}.x`;
    if (!fs.existsSync(out)) run('fsck.erofs', [`--extract=${out}`, file]);
    return listTree(out);
  }

  it('matches the superblock magic at offset 1024 with a valid block size, and nothing else', () => {
    const file = mkfs('plain', []);
    expect(erofs.match(createProbe(openFile(file), 'system.img'))).toBe(true);
    const head = fs.readFileSync(file).subarray(0, 65536);
    expect(erofs.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(erofs.match(createProbe(new BufferSource(new Uint8Array(8192)), 'zeros'))).toBe(false);
    expect(erofs.match(createProbe(new BufferSource(head.subarray(0, 1100)), 'short'))).toBe(false);
    const badBits = Buffer.from(head);
    badBits[1024 + 12] = 17; // blkszbits 17: 128 KiB blocks are outside the format
    expect(erofs.match(createProbe(new BufferSource(badBits), 'bits'))).toBe(false);
  });

  for (const [name, args] of VARIANTS) {
    it(`lists ${name} (mkfs.erofs ${args.join(' ') || 'uncompressed'}) exactly as fsck.erofs --extract does`, async () => {
      const file = mkfs(name, args);
      const theirs = extract(file);
      const t = makeContext(`${name}.img`);
      const src = openFile(file);
      try {
        const ours = await listEntries(erofs, src, t);
        // fsck.erofs extracts FIFOs as FIFOs, which listTree does not list: ours is the one 'other'.
        const others = ours.filter((e) => e.type === 'other');
        expect(others.map((e) => e.path)).toEqual(hasTool('mkfifo') ? ['fifo'] : []);
        const comparable = ours
          .filter((e) => e.type !== 'other')
          .map((e) =>
            e.type === 'file'
              ? { path: e.path, type: e.type, size: e.size, sha256: e.sha256 }
              : e.type === 'symlink'
                ? { path: e.path, type: e.type, linkTarget: e.linkTarget }
                : { path: e.path, type: e.type },
          );
        expect(comparable).toEqual(theirs);
        expect(t.problems).toEqual([]);
      } finally {
        src.close();
        t.cleanup();
      }
    });
  }

  // erofs-utils 1.5 (Debian bookworm, CI) writes none of these; a newer mkfs.erofs named by
  // AIBOM_MKFS_EROFS (built from erofs-utils 1.9) does. Its own fsck.erofs fails to extract packed
  // inodes, so the source tree itself is the oracle here.
  const newer = process.env.AIBOM_MKFS_EROFS;
  const NEWER_VARIANTS: string[][] = [
    ['-zlz4hc', '-Efragments'],
    ['-zlz4', '-C16384', '-Eall-fragments,dedupe'],
    ['-zlz4', '-Elegacy-compress,fragments,dedupe'],
    ['-zlz4hc', '-C65536', '-Ededupe,ztailpacking'],
    ['-zdeflate', '-Eztailpacking'],
    ['-zzstd', '-C65536', '-Efragments'],
    ['-b512', '-zlz4', '-Eztailpacking'],
    ['-b2048', '-zlz4', '-C16384'],
    ['-b1024', '--chunksize=4096', '-Eforce-chunk-indexes'],
  ];
  for (const args of NEWER_VARIANTS) {
    it.skipIf(newer === undefined)(
      `lists an image of a newer mkfs.erofs ${args.join(' ')} as its source tree${newer === undefined ? ' (SKIP: AIBOM_MKFS_EROFS names no newer mkfs.erofs)' : ''}`,
      async () => {
        const file = path.join(tmp.dir, `newer${args.join('')}.img`.replace(/[^\w.=-]/g, '_'));
        run(newer!, ['-T0', '--all-root', '--quiet', ...args, file, tree]);
        const t = makeContext('newer.img');
        const src = openFile(file);
        try {
          const ours = (await listEntries(erofs, src, t))
            .filter((e) => e.type !== 'other')
            .map((e) =>
              e.type === 'file'
                ? { path: e.path, type: e.type, size: e.size, sha256: e.sha256 }
                : e.type === 'symlink'
                  ? { path: e.path, type: e.type, linkTarget: e.linkTarget }
                  : { path: e.path, type: e.type },
            );
          expect(ours).toEqual(listTree(tree));
          expect(t.problems).toEqual([]);
        } finally {
          src.close();
          t.cleanup();
        }
      },
    );
  }

  it.skipIf(newer === undefined)('lists a newer -zlzma image with each MicroLZMA file unsupported, and refuses -E48bit', async () => {
    const lzma = path.join(tmp.dir, 'newer-lzma.img');
    run(newer!, ['-T0', '--all-root', '--quiet', '-zlzma', lzma, tree]);
    const r = await listAll(openFile(lzma));
    expect(r.problems).toEqual([]);
    expect(r.errors.length).toBeGreaterThan(5);
    expect(r.errors.every((e) => e instanceof UnsupportedError && e.message.startsWith('LZMA-compressed EROFS file not scanned'))).toBe(true);
    expect(r.entries.size).toBe(listTree(tree).length + (hasTool('mkfifo') ? 1 : 0));
    const wide = path.join(tmp.dir, 'newer-48bit.img');
    run(newer!, ['-T0', '--all-root', '--quiet', '-zlz4', '-E48bit', wide, tree]);
    const w = await listAll(openFile(wide));
    expect(w.entries.size).toBe(0);
    expect(w.errors).toEqual([expect.any(UnsupportedError)]);
  });

  it('walks depth-first in on-disk (name) order, each directory before its contents', async () => {
    const src = openFile(mkfs('lz4', ['-zlz4']));
    try {
      const { order } = await listAll(src);
      const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
      // Pre-order with siblings sorted by name bytes: comparing path segment lists gives exactly that.
      const expected = [...order].sort((a, b) => {
        const x = a.split('/');
        const y = b.split('/');
        for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return byteOrder(x[i]!, y[i]!);
        return x.length - y.length;
      });
      expect(order).toEqual(expected);
      expect(order.indexOf('many')).toBeLessThan(order.indexOf('many/entry-0000-'));
      expect(order.filter((p) => p.startsWith('many/'))).toHaveLength(2000);
    } finally {
      src.close();
    }
  });

  it('opens compressed files as ExtentSources that decode one pcluster per read, and flat files as slices', async () => {
    const src = openFile(mkfs('lz4', ['-zlz4']));
    const t = makeContext('lz4.img');
    try {
      const opened = new Map<string, ByteSource>();
      for await (const e of erofs.entries(src, t.ctx))
        if (e.type === 'file' && ['big/text-1m.txt', 'big/mixed.bin', 'big/random-3m.bin'].includes(e.path)) opened.set(e.path, await e.open());
      const textSrc = opened.get('big/text-1m.txt');
      expect(textSrc).toBeInstanceOf(ExtentSource);
      const extents = (textSrc as unknown as { extents: Extent[] }).extents;
      expect(extents.length).toBeGreaterThan(10);
      expect(extents.every((x) => x.kind === 'decoded')).toBe(true);
      // Every extent decodes on its own (lazily, nothing before a read) to its declared length.
      let decodes = 0;
      const counted = extents.map((x) => (x.kind === 'decoded' ? { ...x, decode: () => (decodes++, x.decode.call(x)) } : x));
      const lazy = new ExtentSource(textSrc!.size, counted, { what: 'counted', resources: t.resources });
      expect(decodes).toBe(0);
      expect(Buffer.from(lazy.read(10, 100)).equals(text(1024 * 1024).subarray(10, 110))).toBe(true);
      expect(decodes).toBe(1);
      // Plain pclusters inside a compressed file are slices of the image (no copy).
      const mixed = (opened.get('big/mixed.bin') as unknown as { extents: Extent[] }).extents;
      expect(mixed.some((x) => x.kind === 'source') && mixed.some((x) => x.kind === 'decoded')).toBe(true);
      expect(opened.get('big/random-3m.bin')).not.toBeInstanceOf(BufferSource);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('finds a model inside an EROFS partition in a real scan, named by its path inside', async () => {
    const root = path.join(tmp.dir, 'model-tree');
    fs.mkdirSync(path.join(root, 'etc/models'), { recursive: true });
    const model = new OnnxBuilder()
      .producer('aibom-test', '1.0')
      .opset('', 17)
      .input('x', 'float32', [4])
      .node('Relu', ['x'], ['y'])
      .output('y', 'float32', [4])
      .build();
    fs.writeFileSync(path.join(root, 'etc/models/m.onnx'), model);
    fs.writeFileSync(path.join(root, 'etc/filler.txt'), text(200_000));
    const file = mkfs('model', ['-zlz4'], root);
    const inv = await scan([file], { containers: [erofs] });
    expect(modelsOf(inv).map((m) => m.location)).toEqual([`${file}!/etc/models/m.onnx`]);
    expect(inv.problems).toEqual([]);
  });

  it('reports files on the blob device of a multi-device image as unsupported, and lists the rest', async () => {
    const blob = path.join(tmp.dir, 'blob.img');
    const file = mkfs('blobdev', ['--chunksize=4096', `--blobdev=${blob}`]);
    const { entries, errors, problems } = await listAll(openFile(file));
    expect(problems).toEqual([]);
    expect(entries.get('big/text-1m.txt')?.sha256).toBe('error:unsupported');
    expect(errors.every((e) => e instanceof UnsupportedError && /extra device 1/.test(e.message))).toBe(true);
    expect(entries.get('link')).toMatchObject({ type: 'symlink', linkTarget: 'a/h.txt' });
    expect(entries.size).toBe(extract(mkfs('plain', [])).length + (hasTool('mkfifo') ? 1 : 0));
  });

  it('stops listing at maxEntriesPerContainer with a limit problem', async () => {
    const { entries, problems } = await listAll(openFile(mkfs('plain', [])), { maxEntriesPerContainer: 100 });
    expect(entries.size).toBe(100);
    expect(problems).toEqual([expect.objectContaining({ code: 'limit', message: expect.stringMatching(/maxEntriesPerContainer 100/) })]);
  });

  it('does not enter directories nested more than 256 levels deep', async () => {
    const root = path.join(tmp.dir, 'deep-tree');
    const deep = Array.from({ length: 260 }, () => 'd').join('/');
    fs.mkdirSync(path.join(root, deep), { recursive: true });
    fs.writeFileSync(path.join(root, deep, 'f'), 'x');
    const { entries, problems } = await listAll(openFile(mkfs('deep', [], root)));
    expect(entries.size).toBe(256);
    expect(problems).toEqual([expect.objectContaining({ code: 'limit', message: expect.stringMatching(/more than 256 levels/) })]);
  });

  describe('hostile images', () => {
    let small: string;
    beforeAll(() => {
      small = path.join(tmp.dir, 'small-tree');
      fs.mkdirSync(path.join(small, 'a/b/c'), { recursive: true });
      fs.writeFileSync(path.join(small, 'a/b/c/file.txt'), 'in c\n');
      fs.writeFileSync(path.join(small, 'a/b/sibling.txt'), 'sibling\n');
      fs.writeFileSync(path.join(small, 'a/b/zz-last.txt'), 'last\n');
      fs.writeFileSync(path.join(small, 'zz.txt'), text(200_000, 7));
      fs.writeFileSync(path.join(small, 'other.txt'), text(50_000, 3));
      fs.writeFileSync(path.join(small, 'rand.bin'), crypto.randomBytes(10_000));
    });

    /** A patched copy of an image of the small tree, listed; `patch` edits the bytes in place. */
    async function patched(
      name: string,
      args: string[],
      patch: (img: Buffer) => void,
    ): Promise<Awaited<ReturnType<typeof listAll>> & { oracle: Map<string, Listed> }> {
      const file = mkfs(name, ['-Enoinline_data', ...args], small);
      const oracle = new Map(extract(file).map((e) => [e.path, e]));
      const img = Buffer.from(fs.readFileSync(file));
      patch(img);
      return { ...(await listAll(new BufferSource(img))), oracle };
    }

    it('records a dirent pointing at an ancestor or at its own directory, and lists the rest', async () => {
      for (const target of ['a', 'a/b']) {
        const r = await patched('loop', [], (img) => {
          const c = locate(img, 'a/b/c');
          img.writeBigUInt64LE(BigInt(locate(img, target).nid), c.dirent);
        });
        expect(r.errors).toEqual([]);
        expect(r.problems).toEqual([expect.objectContaining({ path: 'a/b/c', code: 'format', message: expect.stringMatching(/already walked/) })]);
        expect([...r.entries.keys()].sort()).toEqual([...r.oracle.keys()].filter((p) => !p.startsWith('a/b/c')).sort());
      }
    });

    it('records a directory block whose nameoff is out of range, keeping the other directories', async () => {
      for (const [which, value] of [
        ['sibling.txt', 0xfff0],
        ['c', 0],
      ] as const) {
        const r = await patched('nameoff', [], (img) => {
          img.writeUInt16LE(value, locate(img, `a/b/${which}`).dirent + 8);
        });
        expect(r.errors).toEqual([]);
        expect(r.problems).toEqual([expect.objectContaining({ path: 'a/b', code: 'format', message: expect.stringMatching(/nameoff|name from/) })]);
        for (const p of ['zz.txt', 'other.txt', 'rand.bin', 'a', 'a/b']) expect(r.entries.get(p), p).toEqual(r.oracle.get(p));
      }
    });

    it('fails only the file whose lcluster index points past the image', async () => {
      const r = await patched('lcluster', ['-zlz4hc', '-Elegacy-compress'], (img) => {
        // Full indexes: 8-byte map header, 8 reserved bytes, then z_erofs_lcluster_index; blkaddr at +4.
        const zz = locate(img, 'zz.txt').inode;
        const first = Math.ceil(inodeEnd(zz) / 8) * 8 + 16;
        expect(img.readUInt16LE(first) & 3).toBe(1); // a HEAD1 lcluster
        img.writeUInt32LE(0x0fffffff, first + 4);
      });
      expect(r.entries.get('zz.txt')?.sha256).toBe('error:truncated');
      expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/past the end/)]);
      for (const p of ['other.txt', 'rand.bin', 'a/b/c/file.txt']) expect(r.entries.get(p), p).toEqual(r.oracle.get(p));
    });

    it('fails fast, with a typed error, on a file whose i_size claims far more than the image holds', async () => {
      for (const args of [['-zlz4hc'], ['-zlz4hc', '-Elegacy-compress'], ['--chunksize=4096'], []]) {
        const r = await patched(`isize${args.join('')}`, args, (img) => {
          const zz = locate(img, 'zz.txt').inode;
          if (zz.inodeSize === 32) img.writeUInt32LE(0xffffffff, zz.iloc + 8);
          else img.writeBigUInt64LE(1n << 50n, zz.iloc + 8);
        });
        expect(r.entries.get('zz.txt')?.sha256, args.join(' ')).toMatch(/^error:(truncated|format)$/);
        for (const p of ['other.txt', 'rand.bin', 'a/b/c/file.txt']) expect(r.entries.get(p), p).toEqual(r.oracle.get(p));
      }
    });

    it('fails only the file whose LZ4 pcluster is corrupt, when it is read', async () => {
      const r = await patched('lz4-corrupt', ['-zlz4hc', '-Elegacy-compress'], (img) => {
        const zz = locate(img, 'zz.txt').inode;
        const first = Math.ceil(inodeEnd(zz) / 8) * 8 + 16;
        const block = img.readUInt32LE(first + 4) * 4096;
        img.fill(0xff, block, block + 4096);
      });
      expect(r.entries.get('zz.txt')?.sha256).toMatch(/^error:(format|truncated)$/);
      expect(r.errors).toHaveLength(1);
      for (const p of ['other.txt', 'rand.bin', 'a/b/c/file.txt', 'a/b/zz-last.txt']) expect(r.entries.get(p), p).toEqual(r.oracle.get(p));
    });

    it('names LZMA as the reason a file is not scanned, and refuses unknown incompatible features', async () => {
      const r = await patched('lzma', ['-zlz4hc'], (img) => {
        const zz = locate(img, 'zz.txt').inode;
        img[Math.ceil(inodeEnd(zz) / 8) * 8 + 6] = 0x01; // h_algorithmtype: HEAD1 = 1 (MicroLZMA)
      });
      expect(r.entries.get('zz.txt')?.sha256).toBe('error:unsupported');
      expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^LZMA-compressed EROFS file not scanned/)]);
      expect(r.entries.get('other.txt')).toEqual(r.oracle.get('other.txt'));

      const u = await patched('incompat', [], (img) => {
        img.writeUInt32LE(img.readUInt32LE(1024 + 80) | 0x80, 1024 + 80); // feature_incompat: 48BIT
      });
      expect(u.entries.size).toBe(0);
      expect(u.errors).toEqual([expect.any(UnsupportedError)]);
    });

    it('survives truncation at a spread of lengths with typed errors only', async () => {
      const file = mkfs('trunc', ['-zlz4hc', '-Eztailpacking'], small);
      const img = fs.readFileSync(file);
      const lengths = [0, 1, 1023, 1024, 1100, 1151, 1152, 2048, 4095, 4096, 4097, 8192];
      for (let k = 1; k < 24; k++) lengths.push(Math.floor((img.length * k) / 24));
      lengths.push(img.length - 1);
      for (const n of lengths) {
        const r = await listAll(new BufferSource(img.subarray(0, n)));
        if (n < 1152)
          expect(
            r.errors.map((e) => e.code),
            `length ${n}`,
          ).toEqual(['truncated']);
      }
    });

    it('survives random corruption of metadata with typed errors only, and never hangs', async () => {
      const file = mkfs('fuzz', ['-zlz4hc', '-C16384', '-Eztailpacking'], small);
      const img = fs.readFileSync(file);
      const sb = readSuper(new BufferSource(img));
      // Metadata (superblock, inodes, indexes, inline data, directories) sits around the meta area.
      const metaStart = sb.metaBase;
      const metaEnd = Math.min(img.length, metaStart + 16 * sb.blkSize);
      let seed = 12345;
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed % n;
      };
      const started = Date.now();
      for (let iter = 0; iter < 300; iter++) {
        const copy = Buffer.from(img);
        for (let k = 0, n = 1 + rnd(8); k < n; k++) {
          const at = iter % 3 === 0 ? 1024 + rnd(128) : metaStart + rnd(metaEnd - metaStart);
          copy[at] = rnd(256);
        }
        await listAll(new BufferSource(copy)); // throws only if something untyped escaped
      }
      expect(Date.now() - started).toBeLessThan(30_000);
    });
  });
});
