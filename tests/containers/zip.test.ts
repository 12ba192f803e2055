import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zip } from '../../src/containers/zip.js';
import { LimitError, UnsupportedError } from '../../src/errors.js';
import { BufferSource, SliceSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from '../helpers/corpus.js';
import { prefixLengths, survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';
import { listEntries, listTree, makeContext, openFile, peakRssMiB, python, run, rssMiB, tempDir, type Listed } from '../helpers/container-context.js';

const tools = hasTool('zip') && hasTool('unzip') && hasTool('python3');
const d = describe.skipIf(!tools);

/** Our listing reduced to what extraction by `unzip` shows (no declared sizes of directories). */
function comparable(list: Listed[]): Listed[] {
  return list.map((e) =>
    e.type === 'file'
      ? { path: e.path, type: e.type, size: e.size, sha256: e.sha256 }
      : e.type === 'symlink'
        ? { path: e.path, type: e.type, linkTarget: e.linkTarget }
        : { path: e.path, type: e.type },
  ) as Listed[];
}

d('zip reader', () => {
  let tmp: { dir: string; remove(): void };
  let tree: string;
  beforeAll(() => {
    tmp = tempDir();
    tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'dir/sub'), { recursive: true });
    fs.mkdirSync(path.join(tree, 'empty'));
    fs.writeFileSync(path.join(tree, 'a.txt'), 'hello zip\n'.repeat(1000));
    fs.writeFileSync(path.join(tree, 'dir/random.bin'), crypto.randomBytes(3 * 1024 * 1024 + 17));
    fs.writeFileSync(path.join(tree, 'dir/sub/model.onnx'), Buffer.alloc(200_000, 7));
    fs.writeFileSync(path.join(tree, 'empty.txt'), '');
    fs.symlinkSync('../a.txt', path.join(tree, 'dir/link'));
    // An inner zip, stored (-n .zip) inside the outer one.
    const inner = path.join(tmp.dir, 'inner');
    fs.mkdirSync(inner);
    fs.writeFileSync(path.join(inner, 'weights.bin'), crypto.randomBytes(100_000));
    fs.writeFileSync(path.join(inner, 'labels.txt'), 'cat\ndog\n'.repeat(500));
    run('zip', ['-q', '-r', '-n', '.bin', path.join(tree, 'dir/inner.zip'), '.'], { cwd: inner });
    run('zip', ['-q', '-r', '-y', '-n', '.zip:.bin', path.join(tmp.dir, 'mixed.zip'), '.'], { cwd: tree });
    run('zip', ['-q', '-r', '-y', '-fz', path.join(tmp.dir, 'forced64.zip'), '.'], { cwd: tree });
  });
  afterAll(() => tmp.remove());

  async function compareWithUnzip(file: string): Promise<Listed[]> {
    const out = path.join(tmp.dir, `x-${path.basename(file)}`);
    run('unzip', ['-q', '-o', file, '-d', out]);
    const expected = listTree(out);
    const t = makeContext(path.basename(file));
    const src = openFile(file);
    try {
      const ours = await listEntries(zip, src, t);
      expect(comparable(ours)).toEqual(expected);
      // Same names as `unzip -Z1` (which keeps the trailing '/' of directories).
      const names = run('unzip', ['-Z1', file])
        .split('\n')
        .filter(Boolean)
        .map((n) => n.replace(/\/$/, ''))
        .sort();
      expect(ours.map((e) => e.path).sort()).toEqual(names);
      expect(t.problems).toEqual([]);
      return ours;
    } finally {
      src.close();
      t.cleanup();
    }
  }

  it('matches only a zip at offset 0', () => {
    const z = fs.readFileSync(path.join(tmp.dir, 'mixed.zip'));
    expect(zip.match(createProbe(new BufferSource(z), 'mixed.zip'))).toBe(true);
    // A model with a zip appended (TFLite associated files): not this reader's business.
    const appended = Buffer.concat([Buffer.from('\x1c\x00\x00\x00TFL3'), crypto.randomBytes(1000), z]);
    expect(zip.match(createProbe(new BufferSource(appended), 'm.tflite'))).toBe(false);
    // An empty archive is 'PK\x05\x06' at 0.
    const empty = python("import zipfile,sys\nzipfile.ZipFile(sys.argv[1],'w').close()", [path.join(tmp.dir, 'empty.zip')]);
    void empty;
    expect(zip.match(createProbe(openFile(path.join(tmp.dir, 'empty.zip')), 'empty.zip'))).toBe(true);
  });

  it('lists stored and deflated members, directories and symlinks as unzip extracts them', async () => {
    const ours = await compareWithUnzip(path.join(tmp.dir, 'mixed.zip'));
    expect(ours.find((e) => e.path === 'dir/link')).toMatchObject({ type: 'symlink', linkTarget: '../a.txt' });
    expect(ours.find((e) => e.path === 'empty')).toMatchObject({ type: 'directory' });
  });

  it('reads a zip64 archive (zip -fz)', async () => {
    const bytes = fs.readFileSync(path.join(tmp.dir, 'forced64.zip'));
    expect(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true); // zip64 end of central directory
    await compareWithUnzip(path.join(tmp.dir, 'forced64.zip'));
  });

  it('opens a stored member in place: a slice of the parent, never a copy', async () => {
    const file = path.join(tmp.dir, 'mixed.zip');
    const t = makeContext('mixed.zip');
    const src = openFile(file);
    const kinds = new Map<string, ByteSource>();
    try {
      const list = await listEntries(zip, src, t, 'mixed.zip', { recurse: true, onSource: (p, s) => kinds.set(p, s) });
      expect(kinds.get('dir/inner.zip')).toBeInstanceOf(SliceSource);
      expect(kinds.get('dir/random.bin')).toBeInstanceOf(SliceSource);
      expect(kinds.get('a.txt')).not.toBeInstanceOf(SliceSource); // deflated: decoded
      const inner = list.filter((e) => e.path.startsWith('dir/inner.zip!/')).map((e) => e.path);
      expect(inner).toEqual(['dir/inner.zip!/labels.txt', 'dir/inner.zip!/weights.bin']);
      expect(kinds.get('dir/inner.zip!/weights.bin')).toBeInstanceOf(SliceSource); // stored (-n .bin): a slice of a slice
      expect(t.problems).toEqual([]);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('lists 70,000 members (zip64 entry count) and bounds them by maxEntriesPerContainer', async () => {
    const file = path.join(tmp.dir, 'many.zip');
    python(
      "import zipfile,sys\nwith zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_STORED) as z:\n  for i in range(70000): z.writestr('f/%05d.txt' % i, str(i))",
      [file],
    );
    expect(run('unzip', ['-Z1', file]).split('\n').filter(Boolean)).toHaveLength(70000);
    const src = openFile(file);
    try {
      const t = makeContext('many.zip');
      const all = await listEntries(zip, src, t, 'many.zip', { hash: false });
      expect(all).toHaveLength(70000);
      expect(all[69999]?.path).toBe('f/69999.txt');
      expect(t.problems).toEqual([]);
      const low = makeContext('many.zip', { maxEntriesPerContainer: 1000 });
      const some = await listEntries(zip, src, low, 'many.zip', { hash: false });
      expect(some).toHaveLength(1000);
      expect(low.problems).toEqual([expect.objectContaining({ code: 'limit', message: expect.stringContaining('maxEntriesPerContainer 1000') })]);
    } finally {
      src.close();
    }
  });

  it('records hostile names and duplicates, lists them all, and writes nothing', async () => {
    const work = path.join(tmp.dir, 'hostile');
    fs.mkdirSync(work);
    const file = path.join(work, 'hostile.zip');
    python(
      [
        'import zipfile,sys,warnings',
        "warnings.simplefilter('ignore')",
        "with zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED) as z:",
        "  for n in ['../../evil.txt','/abs/evil.txt','C:\\\\win\\\\evil.txt','a/../../evil2.txt','ok.txt','ok.txt']:",
        '    z.writestr(zipfile.ZipInfo(n), n*10)',
      ].join('\n'),
      [file],
    );
    const before = fs.readdirSync(tmp.dir).sort();
    const t = makeContext('hostile.zip');
    const src = openFile(file);
    try {
      const list = await listEntries(zip, src, t);
      expect(list.map((e) => e.path).sort()).toEqual(['../../evil.txt', 'C:/win/evil.txt', 'a/../../evil2.txt', 'abs/evil.txt', 'ok.txt', 'ok.txt']);
      expect(list.every((e) => e.sha256?.length === 64)).toBe(true);
      const hostile = t.problems.filter((p) => p.code === 'hostile-path');
      expect(hostile).toHaveLength(4);
      for (const p of hostile) expect(p.message).toMatch(/recorded, not used as a path/);
      expect(t.problems.filter((p) => p.code === 'duplicate-entry')).toEqual([expect.objectContaining({ path: 'ok.txt' })]);
      // Nothing appeared beside the archive, above it, or at the absolute path.
      expect(fs.readdirSync(work)).toEqual(['hostile.zip']);
      expect(fs.readdirSync(tmp.dir).sort()).toEqual(before);
      expect(fs.existsSync('/abs/evil.txt')).toBe(false);
      expect(t.temp.path).toBeUndefined(); // no spill: the TempArea was never even created
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('refuses encrypted members and unsupported methods on open, naming them', async () => {
    const file = path.join(tmp.dir, 'methods.zip');
    python(
      [
        'import zipfile,sys',
        "with zipfile.ZipFile(sys.argv[1],'w') as z:",
        "  z.writestr('b.txt', 'bzip2 '*1000, compress_type=zipfile.ZIP_BZIP2)",
        "  z.writestr('l.txt', 'lzma '*1000, compress_type=zipfile.ZIP_LZMA)",
      ].join('\n'),
      [file],
    );
    run('zip', ['-q', '-P', 'secret', path.join(tmp.dir, 'enc.zip'), 'a.txt'], { cwd: tree });
    const t = makeContext('methods.zip');
    const src = openFile(file);
    const enc = openFile(path.join(tmp.dir, 'enc.zip'));
    try {
      const errors: Record<string, unknown> = {};
      for await (const e of zip.entries(src, t.ctx)) errors[e.path] = await e.open().catch((err: unknown) => err);
      expect(errors['b.txt']).toBeInstanceOf(UnsupportedError);
      expect((errors['b.txt'] as Error).message).toMatch(/method 12 \(bzip2\)/);
      expect((errors['l.txt'] as Error).message).toMatch(/method 14 \(lzma\)/);
      const encEntries = [];
      for await (const e of zip.entries(enc, t.ctx)) encEntries.push(e);
      expect(encEntries.map((e) => e.path)).toEqual(['a.txt']);
      const err = await encEntries[0]?.open().catch((x: unknown) => x);
      expect(err).toBeInstanceOf(UnsupportedError);
      expect((err as UnsupportedError).code).toBe('encrypted');
    } finally {
      src.close();
      enc.close();
      t.cleanup();
    }
  });

  it('refuses overlapping members (the overlapping-files bomb) and lists each byte range once', async () => {
    // One real member, then its central record repeated under other names: every record points at
    // the same local header and data.
    const file = path.join(tmp.dir, 'overlap.zip');
    python(
      [
        'import zipfile,sys,struct,io',
        'b=io.BytesIO()',
        "with zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED) as z: z.writestr('k.bin', b'\\0'*1000000)",
        'data=b.getvalue()',
        "e=data.rfind(b'PK\\x05\\x06'); cd_size,cd_off=struct.unpack('<II',data[e+12:e+20])",
        'cd=data[cd_off:cd_off+cd_size]',
        "recs=[cd]+[cd.replace(b'k.bin',('k%04d' % i).encode()) for i in range(1,50)]",
        'newcd=b"".join(recs)',
        "eocd=struct.pack('<IHHHHIIH',0x06054b50,0,0,len(recs),len(recs),len(newcd),cd_off,0)",
        "open(sys.argv[1],'wb').write(data[:cd_off]+newcd+eocd)",
      ].join('\n'),
      [file],
    );
    const t = makeContext('overlap.zip');
    const src = openFile(file);
    try {
      const list = await listEntries(zip, src, t);
      expect(list.map((e) => e.path)).toEqual(['k.bin']);
      const overlap = t.problems.filter((p) => /overlap/.test(p.message));
      expect(overlap.length).toBe(11); // 10 one by one, then the summary of all 49
      expect(overlap[10]?.message).toMatch(/^49 zip members overlap/);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it('falls back to local headers when the central directory offset is wrong', async () => {
    const z = Buffer.from(fs.readFileSync(path.join(tmp.dir, 'mixed.zip')));
    const good = await listEntries(zip, new BufferSource(z), makeContext('mixed.zip'));
    const eocd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    z.writeUInt32LE(z.readUInt32LE(eocd + 16) - 7, eocd + 16); // central directory offset, now wrong
    const t = makeContext('broken.zip');
    const list = await listEntries(zip, new BufferSource(z), t);
    // Local headers carry no Unix modes: the symlink is listed as a file holding its target.
    expect(list.map((e) => e.path)).toEqual(good.map((e) => e.path));
    expect(list.filter((e) => e.type === 'file' && e.path !== 'dir/link')).toEqual(good.filter((e) => e.type === 'file'));
    expect(t.problems).toEqual([expect.objectContaining({ code: 'format', message: expect.stringMatching(/listed from their local headers/) })]);
  });

  it('ignores bytes after the end of central directory, with an info problem', async () => {
    const z = fs.readFileSync(path.join(tmp.dir, 'mixed.zip'));
    const t = makeContext('padded.zip');
    const list = await listEntries(zip, new BufferSource(Buffer.concat([z, Buffer.alloc(4096, 0xff)])), t);
    expect(list.length).toBeGreaterThan(5);
    expect(t.problems).toEqual([expect.objectContaining({ severity: 'info', code: 'format' })]);
    t.cleanup();
  });

  it('survives every prefix of a small zip: typed problems or fewer entries, never a crash', async () => {
    const file = path.join(tmp.dir, 'small.zip');
    python(
      [
        'import zipfile,sys',
        "with zipfile.ZipFile(sys.argv[1],'w') as z:",
        "  z.writestr('s.txt', 'stored'*20, compress_type=zipfile.ZIP_STORED)",
        "  z.writestr('d/deflated.txt', 'deflated '*200, compress_type=zipfile.ZIP_DEFLATED)",
        "  z.writestr('d/', '')",
        "  z.writestr('t.txt', 'tail'*50, compress_type=zipfile.ZIP_DEFLATED)",
      ].join('\n'),
      [file],
    );
    const full = fs.readFileSync(file);
    const t0 = makeContext('small.zip');
    const complete = await listEntries(zip, new BufferSource(full), t0);
    expect(complete).toHaveLength(4);
    await survivesTruncations(
      zip,
      full,
      prefixLengths(full.length, full.length),
      () => makeContext('small.zip'),
      (list, label, t) => {
        expect(list.length, label).toBeLessThanOrEqual(complete.length);
        for (const e of list) {
          // A member listed from a truncated file either opens to its real content or fails with a typed error.
          const real = complete.find((c) => c.path === e.path);
          if (e.type === 'file' && !e.sha256?.startsWith('error:')) expect(e.sha256, `${label} ${e.path}`).toBe(real?.sha256);
        }
        expect(t.problems.length + list.length, label).toBeGreaterThan(0);
      },
    );
  });

  it('survives 500 single-byte corruptions: a listing or typed errors, never a crash', async () => {
    await survivesByteFlips(zip, fs.readFileSync(path.join(tmp.dir, 'small.zip')), 500, () => makeContext('c'));
  });

  describe('zip bomb: 1 GiB of zeros deflated into one member', () => {
    let bomb: string;
    beforeAll(() => {
      bomb = path.join(tmp.dir, 'bomb.zip');
      python(
        [
          'import zipfile,sys',
          "with zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED) as z:",
          "  with z.open('zeros.bin','w',force_zip64=True) as f:",
          '    block=bytes(1<<20)',
          '    for i in range(1024): f.write(block)',
        ].join('\n'),
        [bomb],
      );
    });

    async function openBomb(
      limits: Parameters<typeof makeContext>[1],
    ): Promise<{ err: unknown; seconds: number; decoded: number; rssGrowth: number; tempFiles: number }> {
      const t = makeContext('bomb.zip', limits);
      const src = openFile(bomb);
      const rss0 = rssMiB();
      const start = performance.now();
      try {
        let err: unknown;
        for await (const e of zip.entries(src, t.ctx))
          err = await e.open().then(
            () => undefined,
            (x: unknown) => x,
          );
        return {
          err,
          seconds: (performance.now() - start) / 1000,
          decoded: t.budget.decompressedBytes,
          rssGrowth: peakRssMiB() - rss0,
          tempFiles: t.temp.openFiles,
        };
      } finally {
        src.close();
        t.cleanup();
      }
    }

    it('stops at a lowered maxDecompressedBytes almost at once', async () => {
      const r = await openBomb({ maxDecompressedBytes: 64 * 1024 * 1024 });
      expect(r.err).toBeInstanceOf(LimitError);
      expect((r.err as LimitError).limit).toBe('maxDecompressedBytes');
      expect(r.decoded).toBeLessThan(64 * 1024 * 1024 + 2 * 1024 * 1024);
      expect(r.seconds).toBeLessThan(5);
    });

    it('stops at a lowered maxRatio after about ratio x compressed size', async () => {
      const compressed = fs.statSync(bomb).size;
      const r = await openBomb({ maxRatio: 50 });
      expect(r.err).toBeInstanceOf(LimitError);
      expect((r.err as LimitError).limit).toBe('maxRatio');
      expect(r.decoded).toBeLessThan(50 * compressed + 2 * 1024 * 1024);
    });

    it('stops under the default limits (ratio > 1000) with bounded memory, leaving no temp file', async () => {
      const r = await openBomb({});
      expect(r.err).toBeInstanceOf(LimitError);
      expect((r.err as LimitError).limit).toBe('maxRatio');
      expect(r.tempFiles).toBe(0);
      // Output past the 128 MiB memory budget went to the spill file, not to memory.
      expect(r.rssGrowth).toBeLessThan(400);
    }, 120_000);
  });
});
