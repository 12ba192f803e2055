import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpio } from '../../src/containers/cpio.js';
import { AibomError } from '../../src/errors.js';
import { BufferSource, SliceSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, run, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';
import { prefixLengths, survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';

const tools = hasTool('cpio');
const d = describe.skipIf(!tools);

const LONG = `deep/${'d'.repeat(120)}/${'f'.repeat(200)}.onnx`;

/**
 * Writes cpio members by hand (newc, or old binary in big-endian order), for archives GNU cpio will
 * not write: hostile names, devices, big-endian words. Written from the format description in
 * cpio(5), independently of the reader. A TRAILER!!! member and zero padding to 512 bytes are added.
 */
function writeArchive(format: 'newc' | 'binbe', members: readonly Member[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number, a: number): Buffer => Buffer.alloc((a - (n % a)) % a);
  for (const [name, mode, data, ino = 1, nlink = 1] of [...members, ['TRAILER!!!', 0, Buffer.alloc(0)] as Member]) {
    const n = Buffer.from(`${name}\0`);
    if (format === 'newc') {
      const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0, n.length, 0];
      const h = Buffer.from(`070701${fields.map((v) => v.toString(16).toUpperCase().padStart(8, '0')).join('')}`, 'latin1');
      parts.push(h, n, pad(h.length + n.length, 4), data, pad(data.length, 4));
    } else {
      const h = Buffer.alloc(26);
      [0o070707, 0, ino, mode, 0, 0, nlink, 0, 0, 0, n.length, data.length >>> 16, data.length & 0xffff].forEach((v, i) => {
        h.writeUInt16BE(v, 2 * i);
      });
      parts.push(h, n, pad(n.length, 2), data, pad(data.length, 2));
    }
  }
  const out = Buffer.concat(parts);
  return Buffer.concat([out, pad(out.length, 512)]);
}

/** name, st_mode, data, inode, nlink. */
type Member = [string, number, Buffer, number?, number?];

d('cpio reader', () => {
  let tmp: { dir: string; remove(): void };
  let tree: string;
  beforeAll(() => {
    tmp = tempDir();
    tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, path.dirname(LONG)), { recursive: true });
    fs.mkdirSync(path.join(tree, 'res/empty'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'init.rc'), 'on boot\n');
    fs.writeFileSync(path.join(tree, 'res/model.bin'), crypto.randomBytes(1024 * 1024 + 3));
    fs.writeFileSync(path.join(tree, 'res/zero-length'), '');
    fs.writeFileSync(path.join(tree, 'res/odd'), 'abcde');
    fs.writeFileSync(path.join(tree, 'résumé.txt'), 'unicode name');
    fs.writeFileSync(path.join(tree, LONG), crypto.randomBytes(5000));
    fs.symlinkSync('../init.rc', path.join(tree, 'res/link'));
    fs.symlinkSync('/system/bin/init', path.join(tree, 'init'));
    fs.linkSync(path.join(tree, 'res/model.bin'), path.join(tree, 'res/model-hard.bin'));
    run('mkfifo', [path.join(tree, 'res/fifo')]);
    // A character device too where we may make one (root, as in CI containers).
    if (process.getuid?.() === 0) run('mknod', [path.join(tree, 'res/null'), 'c', '1', '3']);
  });
  afterAll(() => tmp.remove());

  /** Builds an archive with `find . | cpio -o -H format`, extracts it with `cpio -idm`, and compares. */
  async function compareWithCpio(format: string): Promise<Listed[]> {
    const file = path.join(tmp.dir, `${format}.cpio`);
    run('sh', ['-c', `find . | LC_ALL=C sort | cpio -o -H ${format} --quiet > ${JSON.stringify(file)}`], { cwd: tree });
    const out = path.join(tmp.dir, `x-${format}`);
    fs.mkdirSync(out);
    run('sh', ['-c', `cpio -idm --quiet --no-absolute-filenames < ${JSON.stringify(file)}`], { cwd: out });
    const extracted = new Map(listTree(out).map((e) => [e.path, e]));
    const names = run('cpio', ['-t', '--quiet', '-F', file])
      .split('\n')
      .filter((n) => n !== '' && n !== '.')
      .sort();
    const verbose = run('cpio', ['-tv', '--quiet', '-F', file]).split('\n');
    const t = makeContext(`${format}.cpio`);
    const src = openFile(file);
    try {
      expect(cpio.match(createProbe(src, 'x'))).toBe(true);
      const ours = await listEntries(cpio, src, t);
      expect(ours.map((e) => e.path)).toEqual(names);
      for (const e of ours) {
        if (e.type === 'other') {
          // The FIFO and the device: 'p' or 'c' in the mode column of cpio -tv.
          expect(['p', 'c'], e.path).toContain(verbose.find((l) => l.endsWith(` ${e.path}`))?.[0]);
          continue;
        }
        if (e.type === 'hardlink') {
          // cpio -i makes both names links of one file: same content as the member with the data.
          const target = extracted.get(e.linkTarget ?? '');
          expect(extracted.get(e.path)?.sha256, e.path).toBe(target?.sha256);
          continue;
        }
        const x = extracted.get(e.path);
        expect(x?.type, e.path).toBe(e.type);
        if (e.type === 'file') expect({ size: e.size, sha256: e.sha256 }, e.path).toEqual({ size: x?.size, sha256: x?.sha256 });
        if (e.type === 'symlink') expect(e.linkTarget, e.path).toBe(x?.linkTarget);
      }
      expect(t.problems).toEqual([]);
      return ours;
    } finally {
      src.close();
      t.cleanup();
    }
  }

  it('lists a newc archive (find | cpio -o -H newc) as cpio -idm extracts it; hard links point at the member with the data', async () => {
    const ours = await compareWithCpio('newc');
    const links = ours.filter((e) => e.type === 'hardlink');
    // GNU cpio writes the data with the last link: the other is a hardlink to it.
    expect(links).toHaveLength(1);
    const names = [links[0]?.path, links[0]?.linkTarget].sort();
    expect(names).toEqual(['res/model-hard.bin', 'res/model.bin']);
    expect(ours.find((e) => e.path === LONG)).toMatchObject({ type: 'file', size: 5000 });
    expect(ours.find((e) => e.path === 'init')).toMatchObject({ type: 'symlink', linkTarget: '/system/bin/init' });
  });

  it('lists crc, odc and old binary archives as cpio -idm extracts them', async () => {
    await compareWithCpio('crc');
    // odc and bin carry the data with every link: both names are files.
    const odc = await compareWithCpio('odc');
    expect(odc.filter((e) => e.type === 'hardlink')).toEqual([]);
    fs.rmSync(path.join(tree, LONG)); // the old binary header's 16-bit sizes: keep names short
    try {
      await compareWithCpio('bin');
    } finally {
      fs.writeFileSync(path.join(tree, LONG), crypto.randomBytes(5000));
    }
  });

  it('gives members as slices of the archive (no copy)', async () => {
    const file = path.join(tmp.dir, 'slices.cpio');
    run('sh', ['-c', `find . | cpio -o -H newc --quiet > ${JSON.stringify(file)}`], { cwd: tree });
    const t = makeContext('slices.cpio');
    const src = openFile(file);
    const seen = new Map<string, ByteSource>();
    try {
      await listEntries(cpio, src, t, 'slices.cpio', { onSource: (p, s) => seen.set(p, s) });
      expect(seen.get('res/odd')).toBeInstanceOf(SliceSource);
      expect(t.temp.path).toBeUndefined();
    } finally {
      src.close();
      t.cleanup();
    }
  });

  /** Writes an archive to the temp folder too, for GNU cpio. */
  function write(name: string, format: 'newc' | 'binbe', members: Member[]): Buffer {
    const bytes = writeArchive(format, members);
    fs.writeFileSync(path.join(tmp.dir, name), bytes);
    return bytes;
  }

  it('reads a big-endian old binary archive and lists device nodes as other', async () => {
    const be = write('be.cpio', 'binbe', [
      ['dir', 0o040755, Buffer.alloc(0)],
      ['dir/file.bin', 0o100644, Buffer.from('big endian words'), 2],
      ['dir/odd', 0o100644, Buffer.from('abc'), 3],
      ['dev/null', 0o020666, Buffer.alloc(0), 4],
    ]);
    expect(be.subarray(0, 2)).toEqual(Buffer.from([0x71, 0xc7]));
    expect(cpio.match(createProbe(new BufferSource(be), 'be'))).toBe(true);
    const t = makeContext('be.cpio');
    const list = await listEntries(cpio, new BufferSource(be), t);
    expect(list).toEqual([
      { path: 'dev/null', type: 'other', size: 0 },
      { path: 'dir', type: 'directory', size: 0 },
      { path: 'dir/file.bin', type: 'file', size: 16, sha256: sha256Bytes(Buffer.from('big endian words')) },
      { path: 'dir/odd', type: 'file', size: 3, sha256: sha256Bytes(Buffer.from('abc')) },
    ]);
    // GNU cpio reads it the same way (it swaps bytes for a foreign order).
    expect(
      run('cpio', ['-t', '--quiet', '-F', path.join(tmp.dir, 'be.cpio')])
        .split('\n')
        .filter(Boolean)
        .sort(),
    ).toEqual(list.map((e) => e.path));
    expect(t.problems).toEqual([]);
  });

  it('records hostile names and duplicates, and writes nothing', async () => {
    const data = Buffer.from('x');
    const bytes = write('hostile.cpio', 'newc', [
      ['../../evil.txt', 0o100644, data, 1],
      ['/abs/evil.txt', 0o100644, data, 2],
      ['a/../../evil2.txt', 0o100644, data, 3],
      ['ok.txt', 0o100644, data, 4],
      ['ok.txt', 0o100644, data, 5],
      ['up', 0o120777, Buffer.from('../../../etc/passwd'), 6],
    ]);
    const t = makeContext('hostile.cpio');
    const list = await listEntries(cpio, new BufferSource(bytes), t);
    expect(list.map((e) => e.path)).toEqual(['../../evil.txt', 'a/../../evil2.txt', 'abs/evil.txt', 'ok.txt', 'ok.txt', 'up']);
    expect(list.find((e) => e.path === 'up')?.linkTarget).toBe('../../../etc/passwd');
    const codes = t.problems.map((p) => `${p.code}:${p.path}`).sort();
    expect(codes).toEqual(['duplicate-entry:ok.txt', 'hostile-path:../../evil.txt', 'hostile-path:a/../../evil2.txt', 'hostile-path:abs/evil.txt']);
    expect(fs.existsSync(path.join(tmp.dir, '..', 'evil.txt'))).toBe(false);
  });

  it('reads on after the trailer into a concatenated archive, as the kernel does with initramfs images', async () => {
    const a = write('a.cpio', 'newc', [['first.txt', 0o100644, Buffer.from('one')]]);
    const b = write('b.cpio', 'newc', [['lib/modules/x.ko', 0o100644, Buffer.from('two')]]);
    const t = makeContext('ab.cpio');
    const list = await listEntries(cpio, new BufferSource(Buffer.concat([a, b])), t);
    expect(list.map((e) => e.path)).toEqual(['first.txt', 'lib/modules/x.ko']);
    expect(t.problems).toEqual([]);
    // Garbage after the trailer: a warning, what came before is kept.
    const g = makeContext('g.cpio');
    const withJunk = await listEntries(cpio, new BufferSource(Buffer.concat([a, Buffer.from('JUNK')])), g);
    expect(withJunk.map((e) => e.path)).toEqual(['first.txt']);
    expect(g.problems).toEqual([expect.objectContaining({ severity: 'warning', code: 'format' })]);
  });

  it('keeps a newc hard-link group without data as empty files, and an oversized symlink target unread', async () => {
    const bytes = write('links.cpio', 'newc', [
      ['a', 0o100644, Buffer.alloc(0), 9, 2],
      ['b', 0o100644, Buffer.alloc(0), 9, 2],
      ['long-link', 0o120777, Buffer.alloc(70_000, 0x61), 10],
    ]);
    const t = makeContext('links.cpio');
    const list = await listEntries(cpio, new BufferSource(bytes), t);
    expect(list).toEqual([
      { path: 'a', type: 'file', size: 0, sha256: sha256Bytes(new Uint8Array(0)) },
      { path: 'b', type: 'file', size: 0, sha256: sha256Bytes(new Uint8Array(0)) },
      { path: 'long-link', type: 'symlink', size: 70_000 },
    ]);
    expect(t.problems).toEqual([expect.objectContaining({ path: 'long-link', code: 'format' })]);
  });

  it('stops at the entry limit with a problem', async () => {
    const bytes = write(
      'many.cpio',
      'newc',
      Array.from({ length: 10 }, (_, i): Member => [`f${i}`, 0o100644, Buffer.from([0]), i + 1]),
    );
    const t = makeContext('many.cpio', { maxEntriesPerContainer: 3 });
    const list = await listEntries(cpio, new BufferSource(bytes), t);
    expect(list).toHaveLength(3);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'limit' })]);
  });

  it('refuses hostile fields: huge namesize and filesize, non-hex digits', async () => {
    const good = write('one.cpio', 'newc', [['file', 0o100644, Buffer.from('data')]]);
    // namesize is field 11 (offset 6 + 88), filesize field 6 (offset 54).
    const patch = (at: number, text: string): Buffer => {
      const b = Buffer.from(good);
      b.write(text, at, 'latin1');
      return b;
    };
    for (const [label, bad] of [
      ['namesize', patch(94, 'FFFFFFFF')],
      ['filesize', patch(54, 'FFFFFFFF')],
      ['digits', patch(14, 'ZZZZZZZZ')],
    ] as const) {
      const t = makeContext('bad.cpio');
      await expect(listEntries(cpio, new BufferSource(bad), t), label).rejects.toBeInstanceOf(AibomError);
      t.cleanup();
    }
    // A bad header after a good member: a problem, the good member listed.
    const two = Buffer.concat([good.subarray(0, 116), Buffer.from('0707019999')]);
    const t = makeContext('two.cpio');
    expect((await listEntries(cpio, new BufferSource(two), t)).map((e) => e.path)).toEqual(['file']);
    expect(t.problems.map((p) => p.code)).toEqual(['format']);
  });

  it('survives every prefix and 300 single-byte corruptions: results, problems or typed errors, never a crash', async () => {
    const small = write('small.cpio', 'newc', [
      ['dir', 0o040755, Buffer.alloc(0)],
      ['dir/a', 0o100644, crypto.randomBytes(100), 2],
      ['dir/l', 0o120777, Buffer.from('a'), 3],
      ['dir/h1', 0o100644, Buffer.alloc(0), 4, 2],
      ['dir/h2', 0o100644, Buffer.from('hh'), 4, 2],
    ]);
    await survivesTruncations(cpio, small, prefixLengths(small.length, small.length), () => makeContext('p.cpio'));
    await survivesByteFlips(cpio, small, 300, () => makeContext('p.cpio'), { seed: 99 });
  });

  it('matches cpio magics with valid fields only', () => {
    expect(cpio.match(createProbe(new BufferSource(Buffer.from('070701' + 'Z'.repeat(104))), 'x'))).toBe(false);
    expect(cpio.match(createProbe(new BufferSource(crypto.randomBytes(4096)), 'x'))).toBe(false);
    // 0x71C7 followed by noise is not an old binary archive.
    expect(cpio.match(createProbe(new BufferSource(Buffer.concat([Buffer.from([0xc7, 0x71]), Buffer.alloc(100, 0xff)])), 'x'))).toBe(false);
  });
});
