import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tar } from '../../src/containers/tar.js';
import { UnsupportedError } from '../../src/errors.js';
import { BufferSource, SliceSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { listsTyped, survivesByteFlips } from '../helpers/hostile.js';
import { listEntries, listTree, makeContext, openFile, python, run, tempDir, type Listed } from '../helpers/container-context.js';

const tools = hasTool('tar') && hasTool('python3');
const d = describe.skipIf(!tools);

const LONG_DIR = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}`;
const LONG_FILE = `${LONG_DIR}/${'f'.repeat(90)}.onnx`; // > 100 chars and > 155-char prefix split

d('tar reader', () => {
  let tmp: { dir: string; remove(): void };
  let tree: string;
  beforeAll(() => {
    tmp = tempDir();
    tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, LONG_DIR), { recursive: true });
    fs.mkdirSync(path.join(tree, 'dir/empty'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'a.txt'), 'hello tar\n');
    fs.writeFileSync(path.join(tree, 'dir/random.bin'), crypto.randomBytes(1024 * 1024 + 3));
    fs.writeFileSync(path.join(tree, 'dir/zero-length'), '');
    fs.writeFileSync(path.join(tree, LONG_FILE), crypto.randomBytes(5000));
    fs.symlinkSync('../a.txt', path.join(tree, 'dir/link'));
    fs.symlinkSync(`../${LONG_FILE}`, path.join(tree, 'dir/longlink')); // target > 100 chars
    fs.linkSync(path.join(tree, 'a.txt'), path.join(tree, 'dir/hard'));
  });
  afterAll(() => tmp.remove());

  /** Builds `name` with GNU tar from the tree, then compares our listing with `tar -tvf` and extraction. */
  async function compareWithTar(name: string, args: string[]): Promise<Listed[]> {
    const file = path.join(tmp.dir, name);
    run('tar', ['-c', '-f', file, ...args, '-C', tree, '.']);
    const out = path.join(tmp.dir, `x-${name}`);
    fs.mkdirSync(out);
    run('tar', ['-x', '-f', file, '-C', out]);
    const extracted = new Map(listTree(out).map((e) => [e.path, e]));
    const verbose = run('tar', ['-tvf', file]).split('\n').filter(Boolean);
    const names = run('tar', ['-tf', file])
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''))
      .filter((n) => n !== '' && n !== '.')
      .sort();
    const t = makeContext(name);
    const src = openFile(file);
    try {
      const ours = await listEntries(tar, src, t);
      expect(ours.map((e) => e.path)).toEqual(names);
      for (const e of ours) {
        const x = extracted.get(e.path);
        if (e.type === 'hardlink') {
          // `tar -tvf` prints 'h... name link to target'.
          const line = verbose.find((l) => l.startsWith('h') && l.includes(` ${e.path} link to `)) ?? verbose.find((l) => l.includes(`./${e.path} link to `));
          expect(line, e.path).toBeDefined();
          expect(line?.endsWith(` link to ${e.linkTarget}`) || line?.endsWith(` link to ./${e.linkTarget?.replace(/^\.\//, '')}`)).toBe(true);
          continue;
        }
        expect(x?.type, e.path).toBe(e.type);
        if (e.type === 'file') expect({ size: e.size, sha256: e.sha256 }, e.path).toEqual({ size: x?.size, sha256: x?.sha256 });
        if (e.type === 'symlink') expect(e.linkTarget).toBe(x?.linkTarget);
      }
      expect(t.problems).toEqual([]);
      return ours;
    } finally {
      src.close();
      t.cleanup();
    }
  }

  it('matches ustar, GNU and v7 headers by magic and checksum, and nothing else', () => {
    for (const fmt of ['ustar', 'gnu', 'v7', 'pax']) {
      const file = path.join(tmp.dir, `m-${fmt}.tar`);
      run('tar', ['-c', '-f', file, `--format=${fmt}`, '-C', tree, 'a.txt']);
      expect(tar.match(createProbe(openFile(file), 'x')), fmt).toBe(true);
    }
    expect(tar.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(tar.match(createProbe(new BufferSource(new Uint8Array(4096)), 'zeros'))).toBe(false);
    // 'ustar' at 257 with a wrong checksum is not enough.
    const fake = new Uint8Array(1024);
    fake.set(Buffer.from('name.txt'), 0);
    fake.set(Buffer.from('ustar\u000000'), 257);
    expect(tar.match(createProbe(new BufferSource(fake), 'fake'))).toBe(false);
  });

  it('lists a GNU tar (long names and links through L/K records) as tar extracts it', async () => {
    const ours = await compareWithTar('gnu.tar', ['--format=gnu']);
    const bytes = fs.readFileSync(path.join(tmp.dir, 'gnu.tar'));
    expect(bytes.includes(Buffer.from('././@LongLink'))).toBe(true);
    expect(ours.find((e) => e.path === LONG_FILE)).toMatchObject({ type: 'file', size: 5000 });
    expect(ours.find((e) => e.path === 'dir/longlink')).toMatchObject({ type: 'symlink', linkTarget: `../${LONG_FILE}` });
    // GNU tar stores the second name it meets as the hardlink, in directory order.
    const hard = ours.filter((e) => e.type === 'hardlink');
    expect(hard).toHaveLength(1);
    expect([
      ['a.txt', './dir/hard'],
      ['dir/hard', './a.txt'],
    ]).toContainEqual([hard[0]?.path, hard[0]?.linkTarget]);
  });

  it('lists a pax tar (path and linkpath in x headers) as tar extracts it', async () => {
    const ours = await compareWithTar('pax.tar', ['--format=pax']);
    expect(fs.readFileSync(path.join(tmp.dir, 'pax.tar')).includes(Buffer.from(` path=./${LONG_FILE}`))).toBe(true);
    expect(ours.find((e) => e.path === LONG_FILE)).toMatchObject({ type: 'file', size: 5000 });
    expect(ours.find((e) => e.path === 'dir/longlink')?.linkTarget).toBe(`../${LONG_FILE}`);
  });

  it('lists a pax tar with a global header and a v7 tar', async () => {
    await compareWithTar('paxg.tar', ['--format=pax', '--pax-option=globexthdr.name=GLOBAL,comment=hello', '--exclude=longlink']);
    await compareWithTar('v7.tar', ['--format=v7', `--exclude=${path.basename(LONG_FILE)}`, '--exclude=longlink', `--exclude=${'e'.repeat(60)}`]);
  });

  it('gives members as slices of the archive (no copy)', async () => {
    const file = path.join(tmp.dir, 'gnu.tar');
    const t = makeContext('gnu.tar');
    const src = openFile(file);
    const seen = new Map<string, ByteSource>();
    try {
      await listEntries(tar, src, t, 'gnu.tar', { onSource: (p, s) => seen.set(p, s) });
      expect(seen.get('dir/random.bin')).toBeInstanceOf(SliceSource);
      expect(t.temp.path).toBeUndefined();
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('records hostile names and duplicates, lists links with their targets, and writes nothing', async () => {
    const work = path.join(tmp.dir, 'hostile');
    fs.mkdirSync(work);
    const file = path.join(work, 'hostile.tar');
    python(
      [
        'import tarfile,sys,io',
        "with tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT) as t:",
        "  for n in ['../../evil.txt','/abs/evil.txt','a/../../evil2.txt','ok.txt','ok.txt']:",
        '    i=tarfile.TarInfo(n); b=n.encode(); i.size=len(b); t.addfile(i, io.BytesIO(b))',
        "  s=tarfile.TarInfo('up'); s.type=tarfile.SYMTYPE; s.linkname='../../../etc/passwd'; t.addfile(s)",
        "  s=tarfile.TarInfo('abs'); s.type=tarfile.SYMTYPE; s.linkname='/etc/shadow'; t.addfile(s)",
        "  s=tarfile.TarInfo('inside/ok'); s.type=tarfile.SYMTYPE; s.linkname='../ok.txt'; t.addfile(s)",
        "  h=tarfile.TarInfo('hl'); h.type=tarfile.LNKTYPE; h.linkname='../outside'; t.addfile(h)",
      ].join('\n'),
      [file],
    );
    const t = makeContext('hostile.tar');
    const src = openFile(file);
    try {
      const list = await listEntries(tar, src, t);
      expect(list.map((e) => `${e.type}:${e.path}`)).toEqual([
        'file:../../evil.txt',
        'file:a/../../evil2.txt',
        'symlink:abs',
        'file:abs/evil.txt',
        'hardlink:hl',
        'symlink:inside/ok',
        'file:ok.txt',
        'file:ok.txt',
        'symlink:up',
      ]);
      const hostile = t.problems.filter((p) => p.code === 'hostile-path');
      expect(hostile.map((p) => p.path).sort()).toEqual(['../../evil.txt', 'a/../../evil2.txt', 'abs/evil.txt']);
      // Links are recorded with their targets; whether they climb out is the scan's judgement.
      expect(list.find((e) => e.path === 'up')?.linkTarget).toBe('../../../etc/passwd');
      expect(list.find((e) => e.path === 'hl')?.linkTarget).toBe('../outside');
      expect(t.problems.filter((p) => p.code === 'symlink')).toEqual([]);
      expect(t.problems.filter((p) => p.code === 'duplicate-entry').map((p) => p.path)).toEqual(['ok.txt']);
      expect(fs.readdirSync(work)).toEqual(['hostile.tar']);
      expect(fs.existsSync('/abs/evil.txt')).toBe(false);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('lists a GNU sparse member but refuses to open it', async () => {
    const sparse = path.join(tmp.dir, 'sparse-src');
    fs.mkdirSync(sparse);
    const fd = fs.openSync(path.join(sparse, 'holes.img'), 'w');
    fs.writeSync(fd, Buffer.from('start'), 0, 5, 0);
    fs.writeSync(fd, Buffer.from('end'), 0, 3, 4 * 1024 * 1024);
    fs.closeSync(fd);
    for (const fmt of ['gnu', 'pax']) {
      const file = path.join(tmp.dir, `sparse-${fmt}.tar`);
      run('tar', ['-c', '-S', `--format=${fmt}`, '-f', file, '-C', sparse, 'holes.img']);
      const t = makeContext(path.basename(file));
      const entries = [];
      for await (const e of tar.entries(openFile(file), t.ctx)) entries.push(e);
      expect(
        entries.map((e) => e.path),
        fmt,
      ).toEqual(fmt === 'gnu' ? ['holes.img'] : [expect.stringMatching(/holes\.img$/)]);
      await expect(entries[0]?.open()).rejects.toBeInstanceOf(UnsupportedError);
      t.cleanup();
    }
  });

  it('stops at two zero blocks and ignores what follows', async () => {
    run('tar', ['-c', '-f', path.join(tmp.dir, 'one.tar'), '-C', tree, 'a.txt']);
    const one = fs.readFileSync(path.join(tmp.dir, 'one.tar'));
    const t = makeContext('trailing.tar');
    const list = await listEntries(tar, new BufferSource(Buffer.concat([one, crypto.randomBytes(3000)])), t);
    expect(list.map((e) => e.path)).toEqual(['a.txt']);
    expect(t.problems).toEqual([]);
  });

  it('bounds members by maxEntriesPerContainer', async () => {
    const file = path.join(tmp.dir, 'many.tar');
    python("import tarfile,sys,io\nwith tarfile.open(sys.argv[1],'w') as t:\n  for i in range(300): t.addfile(tarfile.TarInfo('f%d' % i), io.BytesIO(b''))", [
      file,
    ]);
    const t = makeContext('many.tar', { maxEntriesPerContainer: 100 });
    const list = await listEntries(tar, openFile(file), t);
    expect(list).toHaveLength(100);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'limit' })]);
  });

  it('survives every prefix of a small tar: problems or fewer entries, never a crash', async () => {
    const small = path.join(tmp.dir, 'small-src');
    fs.mkdirSync(path.join(small, 'd'), { recursive: true });
    fs.writeFileSync(path.join(small, 'd/one.txt'), 'one '.repeat(200));
    fs.writeFileSync(path.join(small, `d/${'n'.repeat(120)}.bin`), crypto.randomBytes(700));
    fs.symlinkSync('one.txt', path.join(small, 'd/ln'));
    const file = path.join(tmp.dir, 'small.tar');
    run('tar', ['-c', '-b', '1', '--format=pax', '-f', file, '-C', small, 'd']);
    const full = fs.readFileSync(file);
    const complete = await listEntries(tar, new BufferSource(full), makeContext('small.tar'));
    expect(complete).toHaveLength(4);
    for (let n = 0; n <= full.length; n++) {
      await listsTyped(tar, full.subarray(0, n), makeContext('small.tar'), `prefix ${n}`, (list, label, t) => {
        expect(list.length, label).toBeLessThanOrEqual(complete.length);
        for (const e of list) {
          const real = complete.find((c) => c.path === e.path);
          expect(e, label).toEqual(real); // a listed member is always whole
        }
        // Cut inside a header or a member's data: a problem says so.
        if (list.length < complete.length && n % 512 !== 0) expect(t.problems.length, label).toBeGreaterThan(0);
      });
    }
  });
  it('survives 500 single-byte corruptions: a listing or typed errors, never a crash', async () => {
    await survivesByteFlips(tar, fs.readFileSync(path.join(tmp.dir, 'small.tar')), 500, () => makeContext('c'));
  });
});
