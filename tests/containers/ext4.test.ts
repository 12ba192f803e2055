import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DIR_DEPTH } from '../../src/containers/ext4/ext4.js';
import { ext4 } from '../../src/containers/ext4/index.js';
import { ExtVolume } from '../../src/containers/ext4/ext4-volume.js';
import { u16le, u32le } from '../../src/io/binary.js';
import { AibomError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { ExtentSource } from '../../src/io/extent-source.js';
import { createProbe } from '../../src/probe.js';
import { scan } from '../../src/scan/index.js';
import { zip } from '../../src/containers/zip.js';
import { TfliteBuilder, buildZip } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, run, tempDir, type Listed } from '../helpers/container-context.js';
import { modelsOf } from '../helpers/inventory.js';

const tools = hasTool('mke2fs') && hasTool('debugfs') && hasTool('e2fsck') && hasTool('mkfifo');
const d = describe.skipIf(!tools);

const MiB = 1024 * 1024;
/** Targets of the symlinks: one fast (< 60 bytes, in i_block), one slow (a data block). */
const SHORT_TARGET = '../a.txt';
const LONG_TARGET = `../dir/nested/${'../nested/'.repeat(8)}deep/file.bin`;
const UNICODE_DIR = 'ünïcødé';
const UNICODE_FILE = `${UNICODE_DIR}/файл-😀.txt`;
const HTREE_COUNT = 3000;
const HOLES_BIG = 67 * MiB + 17;
const HOLES_SMALL = 3 * MiB + 17;
const HTREE_SMALL = 40;

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Runs a tool that may exit 1 for "fixed something" (e2fsck); anything above is a failure. */
function runOk(cmd: string, args: string[], maxStatus = 0): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status === null || r.status > maxStatus) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Writes debugfs commands (-w) to an image. */
function debugfsWrite(img: string, commands: string[]): void {
  const r = spawnSync('debugfs', ['-w', '-f', '-', img], { input: commands.join('\n'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`debugfs failed: ${r.stderr}`);
}

/** Inode number of a path, as debugfs sees it. */
function inodeOf(img: string, p: string): number {
  const m = /Inode: (\d+)/.exec(run('debugfs', ['-R', `stat "/${p}"`, img]));
  if (!m) throw new Error(`no inode for ${p}`);
  return Number(m[1]);
}

function isTyped(err: unknown): boolean {
  return err instanceof AibomError;
}

d('ext4 reader', () => {
  let tmp: { dir: string; remove(): void };
  let light: string;
  /** 67 MiB of holes instead of 3 MiB (triple indirect blocks at 1 KiB). */
  let holesTree: string;
  /** 3000 names instead of 40 (an htree with an index level at 1 KiB). */
  let htreeTree: string;
  let small: string;
  beforeAll(() => {
    tmp = tempDir('aibom-ext4-');
    const rnd = prng(42);
    const bytes = (n: number): Buffer => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = rnd() & 0xff;
      return b;
    };
    /**
     * The tree given to mke2fs -d. Two options make it costly, so each is used by one variant:
     * `holes`, a 67 MiB file of holes with data past 64.3 MiB, where a 1 KiB-block map needs its
     * triple indirect block; `htree`, 3000 names of 40+ characters, an htree with an index level
     * once e2fsck -D has indexed it at 1 KiB blocks.
     */
    const makeTree = (tree: string, big: { holes?: boolean; htree?: boolean }): void => {
      const put = (rel: string, data: string | Uint8Array): void => {
        fs.mkdirSync(path.dirname(path.join(tree, rel)), { recursive: true });
        fs.writeFileSync(path.join(tree, rel), data);
      };
      put('a.txt', 'hello ext4\n');
      put('empty', '');
      fs.mkdirSync(path.join(tree, 'emptydir'));
      for (const n of [1, 59, 60, 61, 1023, 1025, 4095, 4097, 70001]) put(`sizes/s-${n}`, bytes(n));
      put('dir/nested/deep/file.bin', bytes(MiB + 3));
      fs.linkSync(path.join(tree, 'a.txt'), path.join(tree, 'dir/hard'));
      fs.mkdirSync(path.join(tree, 'links'));
      fs.symlinkSync(SHORT_TARGET, path.join(tree, 'links/short'));
      fs.symlinkSync(LONG_TARGET, path.join(tree, 'links/long'));
      fs.symlinkSync('nowhere', path.join(tree, 'links/dangling'));
      fs.symlinkSync(`../${UNICODE_FILE}`, path.join(tree, 'links/unicode'));
      put(UNICODE_FILE, 'unicode\n');
      // Holes (a sparse file), and 400 islands: more extents than a depth-1 tree holds with 1 KiB blocks.
      fs.mkdirSync(path.join(tree, 'sparse'));
      const holesSize = big.holes ? HOLES_BIG : HOLES_SMALL;
      const fd = fs.openSync(path.join(tree, 'sparse/holes'), 'w');
      fs.ftruncateSync(fd, holesSize);
      for (const at of big.holes ? [0, MiB, 10 * MiB, 66 * MiB, holesSize - 5000] : [0, MiB, holesSize - 5000]) fs.writeSync(fd, bytes(5000), 0, 5000, at);
      fs.closeSync(fd);
      const fi = fs.openSync(path.join(tree, 'sparse/islands'), 'w');
      fs.ftruncateSync(fi, 400 * 8192);
      for (let i = 0; i < 400; i++) fs.writeSync(fi, bytes(1024), 0, 1024, i * 8192 + 4096);
      fs.closeSync(fi);
      fs.mkdirSync(path.join(tree, 'htree'));
      const count = big.htree ? HTREE_COUNT : HTREE_SMALL;
      for (let i = 0; i < count; i++) {
        fs.writeFileSync(path.join(tree, 'htree', `entry-${String(i).padStart(5, '0')}-${'n'.repeat(30)}`), i % 100 === 0 ? bytes(i + 1) : '');
      }
      run('mkfifo', [path.join(tree, 'fifo')]);
    };
    light = path.join(tmp.dir, 'light');
    holesTree = path.join(tmp.dir, 'holes');
    htreeTree = path.join(tmp.dir, 'htree');
    makeTree(light, {});
    makeTree(holesTree, { holes: true });
    makeTree(htreeTree, { htree: true });

    small = path.join(tmp.dir, 'small');
    fs.mkdirSync(path.join(small, 'dir/nested/deep'), { recursive: true });
    fs.writeFileSync(path.join(small, 'a.txt'), 'hello small\n');
    fs.writeFileSync(path.join(small, 'b.txt'), 'second\n');
    fs.writeFileSync(path.join(small, 'dir/nested/deep/file.bin'), bytes(20000));
    fs.writeFileSync(path.join(small, 'dir/c.txt'), 'c\n');
    fs.symlinkSync(LONG_TARGET, path.join(small, 'dir/long'));
    const fs2 = fs.openSync(path.join(small, 'islands'), 'w');
    fs.ftruncateSync(fs2, 400 * 8192);
    for (let i = 0; i < 400; i++) fs.writeSync(fs2, bytes(1024), 0, 1024, i * 8192 + 4096);
    fs.closeSync(fs2);
  });
  afterAll(() => tmp?.remove());

  /** mke2fs -d over `from`, then e2fsck -fyD so that big directories get htree indexes. */
  function build(name: string, args: string[], from = light, size = '48M'): string {
    const img = path.join(tmp.dir, `${name}.img`);
    runOk('mke2fs', ['-q', '-F', '-d', from, ...args, img, size]);
    runOk('e2fsck', ['-fyD', img], 1);
    return img;
  }

  /**
   * What debugfs extracts: `rdump /` into a folder, listed with types, sizes, sha256 and link targets.
   * debugfs 1.47.0 dumps an inline-data file as its whole 60-byte i_block (plus any system.data
   * value) whatever its i_size; with `inline`, each dumped file is cut to the size `ls -l` prints.
   */
  function rdump(img: string, inline = false): Listed[] {
    const out = path.join(tmp.dir, `${path.basename(img)}.out`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out);
    runOk('debugfs', ['-R', `rdump / ${out}`, img]);
    if (inline) {
      for (const dir of [
        '',
        ...listTree(out)
          .filter((e) => e.type === 'directory')
          .map((e) => e.path),
      ]) {
        for (const line of run('debugfs', ['-R', `ls -l "/${dir}"`, img]).split('\n')) {
          // "  ino  mode (type)  uid  gid  size  date time name"
          const m = /^\s*\d+\s+(\d+)\s+\(\d+\)\s+\d+\s+\d+\s+(\d+)\s+\S+\s+\S+\s(.*)$/.exec(line);
          if (!m || !/^10\d{4}$/.test(m[1]!)) continue; // regular files: octal mode 10xxxx
          // debugfs prints bytes outside ASCII as \xHH escapes.
          const name = Buffer.from(
            m[3]!.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          ).toString('utf8');
          const file = path.join(out, dir, name);
          if (fs.statSync(file).size > Number(m[2])) fs.truncateSync(file, Number(m[2]));
        }
      }
    }
    const listed = listTree(out);
    fs.rmSync(out, { recursive: true, force: true });
    return listed;
  }

  async function ours(
    img: string,
    limits = {},
  ): Promise<{ listed: Listed[]; problems: ReturnType<typeof makeContext>['problems']; sources: Map<string, ByteSource> }> {
    const t = makeContext(path.basename(img), limits);
    const src = openFile(img);
    const sources = new Map<string, ByteSource>();
    try {
      const listed = await listEntries(ext4, src, t, t.ctx.name, { onSource: (p, s) => sources.set(p, s) });
      return { listed, problems: t.problems, sources };
    } finally {
      src.close();
      t.cleanup();
    }
  }

  /** Lists `img` with our reader and with debugfs rdump: same paths, types, sizes, contents, targets. */
  async function compare(img: string, inline = false): Promise<Listed[]> {
    const expected = rdump(img, inline);
    const { listed, problems, sources } = await ours(img);
    expect(problems).toEqual([]);
    // rdump writes no FIFOs or devices: those are checked by type below.
    expect(listed.filter((e) => e.type !== 'other')).toEqual(expected);
    expect(listed.filter((e) => e.type === 'other').map((e) => e.path)).toEqual(['fifo']);
    for (const s of sources.values()) expect(s).toBeInstanceOf(ExtentSource);
    return listed;
  }

  /** Each variant's mke2fs options, and which costly part of the tree it gets. */
  const variants: [string, string[], ('holes' | 'htree')?][] = [
    ['ext2-1k-128', ['-t', 'ext2', '-b', '1024', '-I', '128'], 'holes'],
    ['ext2-nofiletype', ['-t', 'ext2', '-O', '^filetype']],
    ['ext3-4k', ['-t', 'ext3', '-b', '4096']],
    ['ext4', ['-t', 'ext4']],
    ['ext4-1k-32bit', ['-t', 'ext4', '-b', '1024', '-O', '^64bit'], 'htree'],
    ['ext4-1k-64bit', ['-t', 'ext4', '-b', '1024', '-O', '64bit', '-I', '512']],
    ['ext4-inline', ['-t', 'ext4', '-O', 'inline_data']],
    ['ext4-blockmap', ['-t', 'ext4', '-O', '^extent,^64bit']],
    ['ext4-meta-bg', ['-t', 'ext4', '-b', '1024', '-O', 'meta_bg,^resize_inode']],
    ['ext4-bigalloc', ['-t', 'ext4', '-O', 'bigalloc', '-C', '16384']],
    ['ext4-casefold', ['-t', 'ext4', '-O', 'casefold,encrypt']],
    ['ext4-64k', ['-t', 'ext4', '-b', '65536', '-N', '8192']],
  ];
  const built = new Map<string, string>();
  /** The image of one variant, built once (tests filtered with -t still find it). */
  function variant(name: string): string {
    const known = built.get(name);
    if (known !== undefined) return known;
    const [, args, big] = variants.find((v) => v[0] === name)!;
    const img = build(name, args, big === 'holes' ? holesTree : big === 'htree' ? htreeTree : light, name === 'ext4-64k' ? '96M' : '48M');
    built.set(name, img);
    return img;
  }
  for (const [name, args, big] of variants) {
    it(`lists ${name} (mke2fs ${args.join(' ')}) as debugfs rdump extracts it`, async () => {
      const img = variant(name);
      const listed = await compare(img, args.includes('inline_data'));
      expect(listed.find((e) => e.path === 'links/long')?.linkTarget).toBe(LONG_TARGET);
      expect(listed.find((e) => e.path === 'sparse/holes')?.size).toBe(big === 'holes' ? HOLES_BIG : HOLES_SMALL);
      expect(listed.filter((e) => e.path.startsWith('htree/'))).toHaveLength(big === 'htree' ? HTREE_COUNT : HTREE_SMALL);
      expect(listed.find((e) => e.path === UNICODE_FILE)?.type).toBe('file');
    });
  }

  it('builds the variants it claims: htree index, triple indirect, depth-2 extents, inline data', () => {
    const stat = (img: string, p: string): string => run('debugfs', ['-R', `stat "/${p}"`, img]);
    const e2 = variant('ext2-1k-128');
    const e4 = variant('ext4-1k-32bit');
    const inl = variant('ext4-inline');
    // EXT4_INDEX_FL 0x1000 on the big directory, and an index level below the root.
    expect(stat(e4, 'htree')).toMatch(/Flags: 0x81000/);
    expect(run('debugfs', ['-R', 'htree /htree', e4])).toMatch(/Indirect levels: 1/);
    expect(stat(e2, 'sparse/holes')).toMatch(/\(TIND\)/);
    expect(run('debugfs', ['-R', 'ex /sparse/islands', e4])).toMatch(/^ 2\/ 2 /m);
    expect(stat(inl, 'sizes/s-59')).toMatch(/Size of inline data: 60/);
    expect(stat(inl, 'dir/nested')).toMatch(/Flags: 0x10000000/);
  });

  it('reads uninitialized extents as zeros, whatever their blocks hold', async () => {
    const img = build('uninit', ['-t', 'ext4'], small, '8M');
    fs.writeFileSync(path.join(tmp.dir, 'one'), 'start\n');
    debugfsWrite(img, [`write ${path.join(tmp.dir, 'one')} prealloc`, 'fallocate /prealloc 1 20', `sif /prealloc size ${20 * 4096 + 100}`]);
    // Fill the preallocated blocks with 0xAA: a reader that ignores the uninit bit returns them.
    const vol = new ExtVolume(new BufferSource(fs.readFileSync(img)));
    const inode = vol.readInode(inodeOf(img, 'prealloc'));
    const runs = vol.runs(inode, 21, 'prealloc');
    expect(runs.some((r) => r.uninit)).toBe(true);
    const fd = fs.openSync(img, 'r+');
    for (const r of runs.filter((x) => x.uninit)) fs.writeSync(fd, Buffer.alloc(r.count * 4096, 0xaa), 0, r.count * 4096, r.physical * 4096);
    fs.closeSync(fd);
    const expected = rdump(img);
    const { listed, problems } = await ours(img);
    expect(problems).toEqual([]);
    expect(listed).toEqual(expected);
    const zeros = crypto
      .createHash('sha256')
      .update(Buffer.concat([Buffer.from('start\n'), Buffer.alloc(20 * 4096 + 100 - 6)]))
      .digest('hex');
    expect(listed.find((e) => e.path === 'prealloc')?.sha256).toBe(zeros);
  });

  it('lists devices, FIFOs and sockets as other', async () => {
    const img = build('nodes', ['-t', 'ext4'], small, '8M');
    debugfsWrite(img, ['mknod devnull c 1 3', 'mknod disk b 8 0', 'mknod pipe p']);
    const { listed, problems } = await ours(img);
    expect(problems).toEqual([]);
    expect(listed.filter((e) => e.type === 'other').map((e) => e.path)).toEqual(['devnull', 'disk', 'pipe']);
  });

  it('lets scan() find a model inside an APK inside the file system, at img!/path!/member', async () => {
    const model = new TfliteBuilder()
      .description('ext4 end to end')
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
    const root = path.join(tmp.dir, 'e2e-root');
    fs.mkdirSync(path.join(root, 'system/app/Pay'), { recursive: true });
    fs.writeFileSync(path.join(root, 'system/app/Pay/Pay.apk'), buildZip([['assets/ocr.tflite', model]], 0));
    fs.writeFileSync(path.join(root, 'system/model.tflite'), model);
    const img = build('e2e', ['-t', 'ext4'], root, '8M');
    const inv = await scan([img], { containers: [zip, ext4] });
    const sha = crypto.createHash('sha256').update(model).digest('hex');
    expect(modelsOf(inv).map((m) => [m.location, m.sha256])).toEqual([
      [`${img}!/system/app/Pay/Pay.apk!/assets/ocr.tflite`, sha],
      [`${img}!/system/model.tflite`, sha],
    ]);
    expect(inv.problems).toEqual([]);
  });

  it('matches ext2, ext3 and ext4 superblocks, and nothing else', () => {
    for (const t of ['ext2', 'ext3', 'ext4']) {
      const img = path.join(tmp.dir, `m-${t}.img`);
      runOk('mke2fs', ['-q', '-F', '-t', t, img, '4M']);
      expect(ext4.match(createProbe(openFile(img), 'x')), t).toBe(true);
      const bytes = fs.readFileSync(img);
      bytes[1080] = 0x54; // s_magic
      expect(ext4.match(createProbe(new BufferSource(bytes), 'x'))).toBe(false);
    }
    expect(ext4.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(ext4.match(createProbe(new BufferSource(new Uint8Array(65536)), 'z'))).toBe(false);
    expect(ext4.match(createProbe(new BufferSource(new Uint8Array(1500)), 'short'))).toBe(false);
  });

  it('reports encrypted files and directories, and scans the rest', async () => {
    const img = build('encrypted', ['-t', 'ext4', '-O', 'encrypt'], small, '8M');
    // EXT4_ENCRYPT_FL 0x800, kept beside EXT4_EXTENTS_FL 0x80000.
    debugfsWrite(img, ['sif /a.txt flags 0x80800', 'sif /dir/nested flags 0x80800']);
    const { listed, problems } = await ours(img);
    expect(listed.find((e) => e.path === 'a.txt')?.sha256).toBe('error:encrypted');
    expect(listed.find((e) => e.path === 'b.txt')?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(listed.find((e) => e.path === 'dir/nested')?.type).toBe('directory');
    expect(listed.some((e) => e.path.startsWith('dir/nested/'))).toBe(false);
    expect(problems).toEqual([expect.objectContaining({ path: 'dir/nested', code: 'encrypted' })]);
  });

  it('refuses features it cannot read with UnsupportedError', async () => {
    const img = build('unsup', ['-t', 'ext4'], small, '8M');
    for (const [bit, text] of [
      [0x1000, /dirdata/],
      [0x1, /compression/],
      [0x8, /journal device/],
      [0x40000000, /unknown incompatible features 0x40000000/],
    ] as const) {
      const bytes = fs.readFileSync(img);
      bytes.writeUInt32LE((bytes.readUInt32LE(1024 + 0x60) | bit) >>> 0, 1024 + 0x60); // s_feature_incompat
      const t = makeContext('unsup');
      const err = await listEntries(ext4, new BufferSource(bytes), t).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsupportedError);
      expect((err as Error).message).toMatch(text);
    }
  });

  it(`stops descending past ${MAX_DIR_DEPTH} nested directories with a limit problem`, async () => {
    const root = path.join(tmp.dir, 'deep-root');
    const deepest = path.join(root, ...Array<string>(MAX_DIR_DEPTH + 4).fill('d'));
    fs.mkdirSync(deepest, { recursive: true });
    fs.writeFileSync(path.join(deepest, 'bottom.txt'), 'x');
    const img = build('deep', ['-t', 'ext4'], root, '8M');
    const { listed, problems } = await ours(img);
    const dirs = listed.filter((e) => e.type === 'directory');
    expect(Math.max(...dirs.map((e) => e.path.split('/').length))).toBe(MAX_DIR_DEPTH);
    expect(listed.some((e) => e.path.endsWith('bottom.txt'))).toBe(false);
    expect(problems).toEqual([expect.objectContaining({ code: 'limit', path: Array<string>(MAX_DIR_DEPTH).fill('d').join('/') })]);
  });

  it('stops at maxEntriesPerContainer with a limit problem', async () => {
    const img = variant('ext4');
    const { listed, problems } = await ours(img, { maxEntriesPerContainer: 20 });
    expect(listed.length).toBe(20);
    expect(problems).toEqual([expect.objectContaining({ code: 'limit' })]);
  });

  describe('hostile images', () => {
    /** Lists and opens everything; only typed errors and problems are allowed. */
    async function survive(bytes: Uint8Array): Promise<{ listed: Listed[]; problems: { code: string; path?: string; message: string }[] }> {
      const t = makeContext('hostile.img');
      try {
        const listed = await listEntries(ext4, new BufferSource(bytes), t);
        for (const e of listed) expect(e.sha256 ?? '', e.path).not.toMatch(/^error:(unknown|internal)/);
        for (const p of t.problems) expect(p.code).not.toBe('internal');
        return { listed, problems: t.problems };
      } catch (err) {
        if (!isTyped(err)) throw err;
        return { listed: [], problems: [{ code: (err as AibomError).code, message: (err as Error).message }] };
      } finally {
        t.cleanup();
      }
    }

    /** The byte offset of the directory entry `name` in directory `dir` (found with our parser). */
    function direntOffset(bytes: Buffer, img: string, dir: string, name: string): number {
      const vol = new ExtVolume(new BufferSource(bytes));
      const inode = vol.readInode(dir === '' ? 2 : inodeOf(img, dir));
      const bs = vol.sb.blockSize;
      for (const r of vol.runs(inode, Math.ceil(inode.size / bs), dir)) {
        for (let i = 0; i < r.count; i++) {
          const base = (r.physical + i) * bs;
          for (let at = 0; at + 8 <= bs; ) {
            const len = u16le(bytes, base + at + 4, 'test image');
            if (len < 8) break;
            const nameLen = bytes[base + at + 6]!;
            if (bytes.subarray(base + at + 8, base + at + 8 + nameLen).toString() === name) return base + at;
            at += len;
          }
        }
      }
      throw new Error(`${name} not found in ${dir}`);
    }

    let img1k: string;
    let img2: string;
    beforeAll(() => {
      img1k = build('hostile-1k', ['-t', 'ext4', '-b', '1024', '-O', '^64bit'], small, '8M');
      img2 = build('hostile-ext2', ['-t', 'ext2', '-b', '1024'], small, '8M');
    });

    it('survives every spread of truncated prefixes', async () => {
      for (const img of [img1k, img2]) {
        const whole = fs.readFileSync(img);
        const cuts = [0, 100, 1024, 1080, 1500, 2047, 2048, 3072, 4096, 8192, 20000, 65536, 200000, 500000, 1000000, 2000000, 4000000, whole.length - 1];
        for (let i = 1; i < 12; i++) cuts.push(Math.floor((whole.length * i) / 12) + 7);
        for (const cut of cuts) {
          const { problems } = await survive(whole.subarray(0, Math.min(cut, whole.length)));
          if (cut < 2048) expect(problems[0]?.code).toBe('truncated');
        }
      }
    });

    it('survives random corruption of the superblock, descriptors, inodes, directories and extent nodes', async () => {
      for (const img of [img1k, img2]) {
        const whole = fs.readFileSync(img);
        const vol = new ExtVolume(new BufferSource(whole));
        const { blockSize: bs, inodeSize } = vol.sb;
        const root = vol.readInode(2);
        const islands = vol.readInode(inodeOf(img, 'islands'));
        // [offset, length] of the structures worth hitting: a random flip anywhere else mostly lands in data.
        const regions: [number, number][] = [
          [1024, 1024], // superblock
          [(bs === 1024 ? 2 : 1) * bs, bs], // group descriptors
          [vol.inodeTable(0) * bs, 32 * inodeSize], // the first 32 inodes: root, lost+found and the tree
          ...vol.runs(root, Math.ceil(root.size / bs), 'root').map((r): [number, number] => [r.physical * bs, bs]),
          [islands.offset, inodeSize],
        ];
        if (vol.usesExtents(islands))
          regions.push([u32le(islands.iblock, 16, 'test image') * bs, bs]); // the index node
        else regions.push([u32le(islands.iblock, 48, 'test image') * bs, bs], [u32le(islands.iblock, 52, 'test image') * bs, bs]); // indirect blocks
        const rnd = prng(7);
        for (let round = 0; round < 40; round++) {
          const bytes = Buffer.from(whole);
          for (let k = 0; k < 8; k++) {
            const [at, len] = regions[rnd() % regions.length]!;
            bytes[at + (rnd() % len)] = rnd() & 0xff;
          }
          await survive(bytes);
        }
      }
    });

    it('reports a directory entry pointing back to an ancestor and does not follow it', async () => {
      const bytes = fs.readFileSync(img1k);
      const at = direntOffset(bytes, img1k, 'dir/nested/deep', 'file.bin');
      bytes.writeUInt32LE(inodeOf(img1k, 'dir'), at);
      const { listed, problems } = await survive(bytes);
      expect(listed.find((e) => e.path === 'dir/nested/deep/file.bin')?.type).toBe('directory');
      expect(listed.some((e) => e.path.startsWith('dir/nested/deep/file.bin/'))).toBe(false);
      expect(problems).toEqual([
        expect.objectContaining({ path: 'dir/nested/deep/file.bin', code: 'format', message: expect.stringMatching(/directory loop/) }),
      ]);
      // The same through debugfs: a hard link to the root inside a subdirectory.
      const linked = path.join(tmp.dir, 'rootloop.img');
      fs.copyFileSync(img1k, linked);
      debugfsWrite(linked, ['link / dir/rootloop']);
      const r = await survive(fs.readFileSync(linked));
      expect(r.problems).toEqual([expect.objectContaining({ path: 'dir/rootloop', message: expect.stringMatching(/directory loop/) })]);
    });

    it('rejects an extent tree whose index points to itself or twice to one node', async () => {
      const whole = fs.readFileSync(img1k);
      const vol = new ExtVolume(new BufferSource(whole));
      const inode = vol.readInode(inodeOf(img1k, 'islands'));
      expect(u16le(inode.iblock, 6, 'test image')).toBe(2); // eh_depth 2: root -> index node -> leaves
      const node = u32le(inode.iblock, 12 + 4, 'test image'); // first ei_leaf_lo of the root
      const nodeAt = node * 1024;
      expect(u16le(whole, nodeAt, 'test image')).toBe(0xf30a);
      // 1: the index node's first entry points to the index node itself.
      const self = Buffer.from(whole);
      self.writeUInt32LE(node, nodeAt + 12 + 4);
      // 2: ... and claims depth 2 again, so only the visited set stops it.
      const selfDepth = Buffer.from(self);
      selfDepth.writeUInt16LE(2, nodeAt + 6);
      // 3: the index node's first two entries point to the same leaf.
      const twice = Buffer.from(whole);
      expect(u16le(whole, nodeAt + 2, 'test image')).toBeGreaterThan(1); // eh_entries
      twice.writeUInt32LE(u32le(whole, nodeAt + 12 + 4, 'test image'), nodeAt + 24 + 4);
      for (const bytes of [self, selfDepth, twice]) {
        const { listed } = await survive(bytes);
        expect(listed.find((e) => e.path === 'islands')?.sha256).toBe('error:format');
        expect(listed.find((e) => e.path === 'a.txt')?.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
    });

    it('reports rec_len 0, inode numbers past the count, unused inodes and blocks past the image', async () => {
      const whole = fs.readFileSync(img1k);
      const vol = new ExtVolume(new BufferSource(whole));
      // rec_len 0 on the entry of b.txt: the rest of that root block is skipped with a problem.
      const recLen0 = Buffer.from(whole);
      recLen0.writeUInt16LE(0, direntOffset(recLen0, img1k, '', 'b.txt') + 4);
      let r = await survive(recLen0);
      expect(r.problems).toEqual([{ severity: 'error', code: 'format', message: expect.stringMatching(/rec_len 0/) }]);
      expect(r.listed.some((e) => e.path === 'b.txt')).toBe(false);
      // An inode number past s_inodes_count.
      const past = Buffer.from(whole);
      past.writeUInt32LE(vol.sb.inodesCount + 5, direntOffset(past, img1k, '', 'a.txt'));
      r = await survive(past);
      expect(r.problems).toEqual([expect.objectContaining({ path: 'a.txt', code: 'format', message: expect.stringMatching(/inode number/) })]);
      // An unused inode (i_mode 0).
      const unused = Buffer.from(whole);
      unused.writeUInt32LE(vol.sb.inodesCount - 1, direntOffset(unused, img1k, '', 'a.txt'));
      r = await survive(unused);
      expect(r.problems).toEqual([expect.objectContaining({ path: 'a.txt', message: expect.stringMatching(/not in use/) })]);
      // An extent starting past the file system: ee_start_lo of file.bin's first extent.
      const far = Buffer.from(whole);
      const fileInode = vol.readInode(inodeOf(img1k, 'dir/nested/deep/file.bin'));
      far.writeUInt32LE(0x7ffffff0, fileInode.offset + 0x28 + 12 + 8);
      r = await survive(far);
      expect(r.listed.find((e) => e.path === 'dir/nested/deep/file.bin')?.sha256).toBe('error:format');
      // A block map entry past the file system (ext2), via debugfs.
      const e2 = path.join(tmp.dir, 'blockpast.img');
      fs.copyFileSync(img2, e2);
      debugfsWrite(e2, ['sif /dir/nested/deep/file.bin block[2] 0x7ffffff0']);
      r = await survive(fs.readFileSync(e2));
      expect(r.listed.find((e) => e.path === 'dir/nested/deep/file.bin')?.sha256).toBe('error:format');
      // File blocks past the end of a cut image: 'truncated', and a problem for the image itself.
      const cut = whole.subarray(0, whole.length / 2);
      r = await survive(cut);
      expect(r.problems[0]).toMatchObject({ code: 'truncated' });
    });

    it('stops at maxDecompressedBytes of holes: a terabyte sparse file is not hashed', async () => {
      const huge = path.join(tmp.dir, 'huge.img');
      fs.copyFileSync(img1k, huge);
      debugfsWrite(huge, [`sif /islands size ${2 ** 40}`]);
      const r = await survive(fs.readFileSync(huge));
      expect(r.listed.find((e) => e.path === 'islands')).toMatchObject({ size: 2 ** 40, sha256: 'error:limit' });
      expect(r.listed.find((e) => e.path === 'a.txt')?.sha256).toMatch(/^[0-9a-f]{64}$/);
    });

    it('reports block-map loops in ext2 indirect blocks', async () => {
      const e2 = path.join(tmp.dir, 'indloop.img');
      fs.copyFileSync(img2, e2);
      const vol = new ExtVolume(new BufferSource(fs.readFileSync(e2)));
      const inode = vol.readInode(inodeOf(e2, 'dir/nested/deep/file.bin'));
      const ind = u32le(inode.iblock, 48, 'test image'); // i_block[12], the single indirect block
      // i_block[13] (double indirect) := the single indirect block: its pointers are data blocks,
      // read as indirect blocks, then the same block again through i_block[14].
      debugfsWrite(e2, [
        `sif /dir/nested/deep/file.bin block[IND] ${ind}`,
        `sif /dir/nested/deep/file.bin block[DIND] ${ind}`,
        `sif /dir/nested/deep/file.bin size ${70 * MiB}`,
      ]);
      const r = await survive(fs.readFileSync(e2));
      expect(r.listed.find((e) => e.path === 'dir/nested/deep/file.bin')?.sha256).toBe('error:format');
    });
  });
});
