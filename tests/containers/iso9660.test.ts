import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso9660 } from '../../src/containers/iso9660.js';
import { BufferSource, SliceSource, type ByteSource } from '../../src/io/byte-source.js';
import { ExtentSource } from '../../src/io/extent-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, run, runBuffer, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';
import { survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';

const tools = hasTool('genisoimage') && hasTool('isoinfo') && hasTool('7z');
const d = describe.skipIf(!tools);

const LONG = 'A very long file name with spaces and more than sixty four characters in it.onnx';

const byPath = (a: Listed, b: Listed): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

d('iso9660 reader', () => {
  let tmp: { dir: string; remove(): void };
  let tree: string;
  beforeAll(() => {
    tmp = tempDir();
    tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'dir/sub'), { recursive: true });
    fs.mkdirSync(path.join(tree, 'empty'));
    fs.writeFileSync(path.join(tree, 'readme.txt'), 'hello iso\n');
    fs.writeFileSync(path.join(tree, 'dir/model.onnx'), crypto.randomBytes(300 * 1024 + 7));
    fs.writeFileSync(path.join(tree, 'dir/sub/noext'), 'x');
    fs.writeFileSync(path.join(tree, 'dir/sub/zero'), '');
    fs.writeFileSync(path.join(tree, `dir/${LONG}`), crypto.randomBytes(100));
    fs.writeFileSync(path.join(tree, 'Mixed Case.Bin'), crypto.randomBytes(5000));
    fs.symlinkSync('../readme.txt', path.join(tree, 'dir/link'));
  });
  afterAll(() => tmp.remove());

  function make(name: string, args: string[], from = tree): string {
    const file = path.join(tmp.dir, name);
    run('genisoimage', ['-quiet', ...args, '-o', file, from]);
    return file;
  }

  async function ours(file: string): Promise<{ list: Listed[]; problems: unknown[]; sources: ByteSource[] }> {
    const src = openFile(file);
    const t = makeContext(path.basename(file));
    const sources: ByteSource[] = [];
    try {
      expect(iso9660.match(createProbe(src, path.basename(file)))).toBe(true);
      const list = await listEntries(iso9660, src, t, path.basename(file), { onSource: (_p, s) => sources.push(s) });
      return { list, problems: t.problems, sources };
    } finally {
      src.close();
      t.cleanup();
    }
  }

  /** What 7z extracts: files and directories with sizes and sha256. */
  function sevenZip(file: string): Listed[] {
    const out = path.join(tmp.dir, `x-${path.basename(file)}`);
    run('7z', ['x', '-y', `-o${out}`, file]);
    return listTree(out);
  }

  it('reads Rock Ridge names, symlinks and content as isoinfo -R lists and extracts them', async () => {
    const file = make('rr.iso', ['-J', '-R']);
    // isoinfo -R -l: one "Directory listing of /x/" block per directory, then mode ... name [-> target].
    const listing = run('isoinfo', ['-R', '-l', '-i', file]);
    const expected: Listed[] = [];
    let dir = '';
    for (const line of listing.split('\n')) {
      const head = /^Directory listing of (\/.*)$/.exec(line);
      if (head) {
        dir = head[1]!.replace(/^\//, '');
        continue;
      }
      const m = /^([dl-])[rwxsStT-]{9}\s.*?\]\s+(.*?)\s*$/.exec(line);
      if (!m) continue;
      let name = m[2]!;
      if (name === '.' || name === '..') continue;
      const p = dir + name;
      if (m[1] === 'd') expected.push({ path: p, type: 'directory' });
      else if (m[1] === 'l') {
        const [n, target] = name.split(' -> ');
        name = n!;
        expected.push({ path: dir + name, type: 'symlink', linkTarget: target! });
      } else {
        const bytes = runBuffer('isoinfo', ['-R', '-x', `/${p}`, '-i', file]);
        expected.push({ path: p, type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) });
      }
    }
    expected.sort(byPath);
    expect(expected.find((e) => e.path === `dir/${LONG}`)).toBeDefined();
    expect(expected.find((e) => e.path === 'dir/link')).toEqual({ path: 'dir/link', type: 'symlink', linkTarget: '../readme.txt' });
    const got = await ours(file);
    expect(got.list).toEqual(expected);
    expect(got.problems).toEqual([]);
    expect(got.sources.every((s) => s instanceof SliceSource)).toBe(true);
    // And the tree genisoimage was given, for good measure.
    expect(got.list.filter((e) => e.type !== 'directory')).toEqual(listTree(tree).filter((e) => e.type !== 'directory'));
  });

  it('reads Joliet names (UCS-2, 64-character limit) as 7z extracts them when there is no Rock Ridge', async () => {
    const file = make('joliet.iso', ['-J']);
    const got = await ours(file);
    const x = sevenZip(file);
    expect(x.find((e) => e.path.startsWith('dir/A very long file name') && e.path.length === 'dir/'.length + 64)).toBeDefined();
    expect(got.list).toEqual(x);
    expect(got.problems).toEqual([]);
  });

  it("reads plain ISO 9660 names without ';1' and a trailing '.', as 7z extracts them", async () => {
    const file = make('plain.iso', []);
    const got = await ours(file);
    const x = sevenZip(file);
    expect(x.map((e) => e.path)).toContain('DIR/SUB/NOEXT');
    expect(x.map((e) => e.path)).toContain('README.TXT');
    expect(got.list).toEqual(x);
    expect(got.problems).toEqual([]);
  });

  it('follows Rock Ridge deep-directory relocation (CL/RE) as Linux mounts it', async () => {
    const deep = path.join(tmp.dir, 'deep');
    const rel = 'a/b/c/d/e/f/g/h/i/j';
    fs.mkdirSync(path.join(deep, rel), { recursive: true });
    fs.writeFileSync(path.join(deep, rel, 'deep.txt'), 'deep\n');
    const file = make('deep.iso', ['-R'], deep);
    // isoinfo does not follow 'CL': it shows the relocated directory under rr_moved, where we fetch the bytes.
    expect(run('isoinfo', ['-R', '-f', '-i', file])).toContain('/rr_moved/h/i/j/deep.txt');
    const bytes = runBuffer('isoinfo', ['-R', '-x', '/rr_moved/h/i/j/deep.txt', '-i', file]);
    const got = await ours(file);
    expect(got.list).toEqual([...listTree(deep), { path: 'rr_moved', type: 'directory' }].sort(byPath));
    expect(got.list.find((e) => e.path === `${rel}/deep.txt`)?.sha256).toBe(sha256Bytes(bytes));
    expect(got.problems).toEqual([]);
  });

  it('joins multi-extent files into one ExtentSource, as 7z extracts them', async () => {
    const src = path.join(tmp.dir, 'me');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'part1.bin'), crypto.randomBytes(4096));
    fs.writeFileSync(path.join(src, 'part2.bin'), crypto.randomBytes(3000));
    fs.writeFileSync(path.join(src, 'zz.txt'), 'z');
    const file = make('me.iso', [], src);
    // Make PART1.BIN's record "not final" (flag 0x80 at record byte 25) and give PART2.BIN its name:
    // the layout genisoimage -iso-level 3 writes for files over 4 GiB, at a testable size.
    const img = fs.readFileSync(file);
    const i = img.indexOf('PART1.BIN;1');
    const j = img.indexOf('PART2.BIN;1');
    img[i - 33 + 25] = (img[i - 33 + 25] as number) | 0x80;
    img.write('PART1.BIN;1', j, 'latin1');
    fs.writeFileSync(file, img);
    const got = await ours(file);
    const x = sevenZip(file);
    expect(x.find((e) => e.path === 'PART1.BIN')?.size).toBe(7096);
    expect(got.list).toEqual(x);
    expect(got.sources.some((s) => s instanceof ExtentSource)).toBe(true);

    // A "not final" extent followed by another name: a problem, the orphan is not listed.
    const orphan = Buffer.from(fs.readFileSync(path.join(tmp.dir, 'me.iso')));
    orphan.write('PART2.BIN;1', j, 'latin1');
    const t = makeContext('orphan.iso');
    const list = await listEntries(iso9660, new BufferSource(orphan), t);
    expect(list.map((e) => e.path)).toEqual(['PART2.BIN', 'ZZ.TXT']);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'format', message: expect.stringContaining('no final extent') })]);
  });

  it('walks a looping directory once, and reports directories and files past the end', async () => {
    const file = make('loop.iso', []);
    const img = Buffer.from(fs.readFileSync(file));
    // Point DIR's record (in the root) at the root's own extent: a loop.
    const root = img.readUInt32LE(16 * 2048 + 156 + 2);
    const k = img.indexOf('DIR', root * 2048 + 68);
    img.writeUInt32LE(root, k - 33 + 2);
    img.writeUInt32BE(root, k - 33 + 6);
    const t = makeContext('loop.iso');
    const list = await listEntries(iso9660, new BufferSource(img), t);
    expect(list.map((e) => e.path)).toContain('README.TXT');
    expect(t.problems).toEqual([expect.objectContaining({ code: 'format', message: expect.stringContaining('already walked') })]);

    // Cut the image after its directories: the files past the cut fail to open with 'truncated'.
    const full = fs.readFileSync(path.join(tmp.dir, 'plain.iso'));
    const cut = await listEntries(iso9660, new BufferSource(full.subarray(0, 40 * 2048)), makeContext('cut.iso'));
    expect(cut.some((e) => e.sha256 === 'error:truncated')).toBe(true);
  });

  it('does not match random bytes, zeros or a near miss', () => {
    expect(iso9660.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'r'))).toBe(false);
    expect(iso9660.match(createProbe(new BufferSource(new Uint8Array(65536)), 'z'))).toBe(false);
    const near = Buffer.alloc(65536);
    near.write('CD001', 16 * 2048 + 1, 'latin1');
    expect(iso9660.match(createProbe(new BufferSource(near), 'n'))).toBe(false); // version byte 0
  });

  it('survives truncation at a spread of lengths and 300 byte flips in its metadata: typed errors or problems only', async () => {
    const small = path.join(tmp.dir, 'small');
    fs.mkdirSync(path.join(small, 'd/e'), { recursive: true });
    fs.writeFileSync(path.join(small, 'd/one.txt'), 'one '.repeat(300));
    fs.writeFileSync(path.join(small, 'd/e/two.bin'), crypto.randomBytes(3000));
    fs.symlinkSync('one.txt', path.join(small, 'd/ln'));
    const good = fs.readFileSync(make('small.iso', ['-J', '-R'], small));
    const meta = (good.indexOf('two.bin') >> 11) + 1; // blocks holding descriptors and directories
    const cuts: number[] = [];
    for (let n = 0; n <= good.length; n += n < 20 * 2048 ? 2048 : 1999) cuts.push(n);
    await survivesTruncations(iso9660, good, cuts, () => makeContext('cut.iso'));
    // Flips in the descriptors and directories (from sector 16 to the last metadata block).
    await survivesByteFlips(iso9660, good, 300, () => makeContext('flip.iso'), { seed: 5, from: 16 * 2048, to: meta * 2048 });
  });
});
