import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asar } from '../../src/containers/asar.js';
import { FormatError } from '../../src/errors.js';
import { scan } from '../../src/index.js';
import { BufferSource, SliceSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { asarBytes, asarFile, asarLink, buildAsar, type AsarTree } from '../builders/asar-builder.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, makeContext, python, tempDir, type Listed } from '../helpers/container-context.js';
import { type ListingCheck, prefixLengths, survivesByteFlips, survivesTruncations } from '../helpers/hostile.js';

const d = describe.skipIf(!hasTool('python3'));

/**
 * An independent reader in python3 (struct + json), written from the format: size pickle, header
 * pickle, JSON tree; files at 8 + header size + int(offset). Prints path, type, size, sha256, link.
 * (Checked once by hand against @electron/asar 3.4.1's own pack and extract: same listing and bytes.)
 */
const READ = `
import sys, struct, json, hashlib, posixpath
b = open(sys.argv[1], 'rb').read()
four, hsize = struct.unpack_from('<II', b, 0)
payload, slen = struct.unpack_from('<II', b, 8)
tree = json.loads(b[16:16 + slen].decode('utf-8'))
base = 8 + hsize
out = []
def walk(files, prefix):
    for name, node in files.items():
        p = prefix + name
        if 'files' in node:
            out.append({'path': p, 'type': 'directory'}); walk(node['files'], p + '/')
        elif 'link' in node:
            # recorded from the archive root; as a symlink, relative to its folder (as asar extract writes it)
            out.append({'path': p, 'type': 'symlink', 'linkTarget': posixpath.relpath(node['link'], posixpath.dirname(p) or '.')})
        elif node.get('unpacked'):
            out.append({'path': p, 'type': 'other', 'size': node['size']})
        else:
            o = base + int(node['offset']); data = b[o:o + node['size']]
            out.append({'path': p, 'type': 'file', 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()})
walk(tree['files'], '')
print(json.dumps(out))
`;
import { modelsOf } from '../helpers/inventory.js';

const byPath = (a: Listed, b: Listed): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

function appTree(): AsarTree {
  return {
    'package.json': asarFile('{"name":"app","main":"main.js"}'),
    'main.js': asarFile('require("./lib/engine")', { integrity: true }),
    lib: {
      'engine.js': asarFile(crypto.randomBytes(10_000)),
      'empty.txt': asarFile(''),
      native: {
        'onnxruntime_binding.node': asarFile(crypto.randomBytes(5000), { unpacked: true }),
        'libonnxruntime.so.1': asarFile(crypto.randomBytes(7000), { unpacked: true }),
      },
    },
    models: { 'ocr.bin': asarFile(crypto.randomBytes(200_000)), 'ünïcode name.txt': asarFile('u') },
    node_modules: { '.bin': { tool: asarLink('node_modules/tool/cli.js') }, tool: { 'cli.js': asarFile('#!/usr/bin/env node', { executable: true }) } },
  };
}

d('asar reader', () => {
  let tmp: { dir: string; remove(): void };
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.remove());

  function pythonRead(img: Buffer): Listed[] {
    const file = path.join(tmp.dir, `r-${crypto.randomBytes(4).toString('hex')}.asar`);
    fs.writeFileSync(file, img);
    return (JSON.parse(python(READ, [file])) as Listed[]).sort(byPath);
  }

  it('lists files, directories, links and unpacked entries as the independent python reader does', async () => {
    const img = buildAsar(appTree());
    const src = new BufferSource(img);
    expect(asar.match(createProbe(src, 'app.asar'))).toBe(true);
    const t = makeContext('app.asar');
    const seen: unknown[] = [];
    const ours = await listEntries(asar, src, t, 'app.asar', { onSource: (_p, s) => seen.push(s) });
    expect(ours).toEqual(pythonRead(img));
    expect(ours.find((e) => e.path === 'lib/native/onnxruntime_binding.node')).toEqual({
      path: 'lib/native/onnxruntime_binding.node',
      type: 'other',
      size: 5000,
    });
    expect(ours.find((e) => e.path === 'node_modules/.bin/tool')).toEqual({ path: 'node_modules/.bin/tool', type: 'symlink', linkTarget: '../tool/cli.js' });
    expect(seen.every((s) => s instanceof SliceSource)).toBe(true);
    // One info problem for the archive, counting the unpacked entries and naming the folder beside it.
    expect(t.problems).toEqual([{ severity: 'info', code: 'unsupported', message: expect.stringMatching(/^2 entries .* unpacked.*app\.asar\.unpacked\//) }]);
  });

  it('finds a model inside app.asar in a real scan, and the unpacked runtime beside it', async () => {
    const dir = path.join(tmp.dir, 'resources');
    fs.mkdirSync(path.join(dir, 'app.asar.unpacked/lib'), { recursive: true });
    const model = new OnnxBuilder()
      .producer('aibom-test', '1.0')
      .opset('', 17)
      .input('x', 'float32', [4])
      .node('Relu', ['x'], ['y'])
      .output('y', 'float32', [4])
      .build();
    fs.writeFileSync(
      path.join(dir, 'app.asar'),
      buildAsar({ models: { 'm.onnx': asarFile(model) }, lib: { 'x.node': asarFile('native', { unpacked: true }) } }),
    );
    fs.writeFileSync(path.join(dir, 'app.asar.unpacked/lib/x.node'), 'native');
    const inv = await scan([dir], { containers: [asar] });
    expect(modelsOf(inv).map((m) => m.location)).toEqual([`${dir}/app.asar!/models/m.onnx`]);
    expect(inv.problems.filter((p) => p.code === 'unsupported')).toEqual([expect.objectContaining({ location: `${dir}/app.asar`, severity: 'info' })]);
  });

  it('gives link targets relative to the link folder, keeping climbs out of the root and absolute targets', async () => {
    const img = buildAsar({
      up: asarLink('../../etc/passwd'),
      abs: asarLink('/etc/shadow'),
      a: { b: { deep: asarLink('../../x'), same: asarLink('a/b/f') } },
      top: asarLink('a'),
    });
    const list = await listEntries(asar, new BufferSource(img), makeContext('l.asar'));
    expect(list.filter((e) => e.type === 'symlink').map((e) => [e.path, e.linkTarget])).toEqual([
      ['a/b/deep', '../../../../x'],
      ['a/b/same', 'f'],
      ['abs', '/etc/shadow'],
      ['top', 'a'],
      ['up', '../../etc/passwd'],
    ]);
  });

  it('records hostile names, offsets outside the data, bad sizes and non-object nodes', async () => {
    const json = JSON.stringify({
      files: {
        '..': { files: { 'evil.txt': { size: 1, offset: '0' } } },
        'far.bin': { size: 10, offset: '99999999' },
        'neg.bin': { size: -1, offset: '0' },
        'hex.bin': { size: 1, offset: '0x10' },
        'huge.bin': { size: 1, offset: '123456789012345678901234567890' },
        weird: 42,
        'ok.txt': { size: 3, offset: '1' },
      },
    });
    const t = makeContext('h.asar');
    const ours = await listEntries(asar, new BufferSource(asarBytes(json, Buffer.from('abcd'))), t);
    expect(ours.map((e) => [e.path, e.type, e.size])).toEqual([
      ['..', 'directory', undefined],
      ['../evil.txt', 'file', 1],
      ['ok.txt', 'file', 3],
    ]);
    expect(t.problems.map((p) => [p.path, p.code]).sort()).toEqual(
      [
        ['..', 'hostile-path'],
        ['../evil.txt', 'hostile-path'],
        ['far.bin', 'truncated'],
        ['neg.bin', 'format'],
        ['hex.bin', 'format'],
        ['huge.bin', 'format'],
        ['weird', 'format'],
      ].sort(),
    );
  });

  it('bounds the header size, the nesting depth and the entry count; rejects bad JSON', async () => {
    // Header size 65 MiB: refused before anything is read.
    const big = Buffer.alloc(64);
    big.writeUInt32LE(4, 0);
    big.writeUInt32LE(65 * 1024 * 1024, 4);
    big.writeUInt32LE(65 * 1024 * 1024 - 4, 8);
    big.writeUInt32LE(65 * 1024 * 1024 - 8, 12);
    await expect(listEntries(asar, new BufferSource(big), makeContext('b'))).rejects.toThrow(/exceeds/);
    // 300 nested directories: walked to 256, then a limit problem.
    let deep = '{"x.bin":{"size":0,"offset":"0"}}';
    for (let i = 0; i < 300; i++) deep = `{"d":{"files":${deep}}}`;
    let t = makeContext('deep.asar');
    const list = await listEntries(asar, new BufferSource(asarBytes(`{"files":${deep}}`)), t);
    expect(list).toHaveLength(256);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'limit' })]);
    // 2000 files under maxEntriesPerContainer 100.
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 2000; i++) many[`f${i}`] = { size: 0, offset: '0' };
    t = makeContext('many.asar', { maxEntriesPerContainer: 100 });
    expect(await listEntries(asar, new BufferSource(asarBytes(JSON.stringify({ files: many }))), t)).toHaveLength(100);
    expect(t.problems).toEqual([expect.objectContaining({ code: 'limit' })]);
    // Not JSON, or no "files" object.
    await expect(listEntries(asar, new BufferSource(asarBytes('{"files": [1,')), makeContext('j'))).rejects.toThrow(FormatError);
    await expect(listEntries(asar, new BufferSource(asarBytes('{"nofiles": {}}')), makeContext('j'))).rejects.toThrow(FormatError);
  });

  it('does not match random bytes, zeros, JSON text, or a pickle whose sizes disagree', () => {
    const no = (b: Uint8Array): boolean => asar.match(createProbe(new BufferSource(b), 'x'));
    expect(no(crypto.randomBytes(65536))).toBe(false);
    expect(no(new Uint8Array(65536))).toBe(false);
    expect(no(Buffer.from('{"files":{}}'))).toBe(false);
    const img = buildAsar(appTree());
    expect(no(img)).toBe(true);
    const bad = Buffer.from(img);
    bad.writeUInt32LE(bad.readUInt32LE(12) + 8, 12); // JSON length beyond the pickle
    expect(no(bad)).toBe(false);
    expect(no(img.subarray(0, 100))).toBe(false); // header runs past the end
  });

  it('survives every prefix of a small archive and 500 byte flips in its header: typed errors or problems only', async () => {
    const good = buildAsar({ a: asarFile('hello'), d: { b: asarFile(crypto.randomBytes(300)), l: asarLink('a') } });
    const headerEnd = 8 + good.readUInt32LE(4);
    const noFailedMember: ListingCheck = (list, label) => {
      for (const e of list) expect(e.sha256 ?? '', label).not.toMatch(/^error/);
    };
    await survivesTruncations(asar, good, prefixLengths(good.length + 1, good.length + 1), () => makeContext('cut.asar'), noFailedMember);
    await survivesByteFlips(asar, good, 500, () => makeContext('flip.asar'), { seed: 3, to: headerEnd, check: noFailedMember });
  });
});

describe('asar made by the real tool (@electron/asar)', () => {
  it('lists what @electron/asar packed, with the bytes it extracts, and its unpacked runtimes as outside the archive', async () => {
    const real = await import('@electron/asar');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-asar-real-'));
    try {
      const app = path.join(dir, 'app');
      fs.mkdirSync(path.join(app, 'models'), { recursive: true });
      fs.mkdirSync(path.join(app, 'node_modules/onnxruntime-node/bin'), { recursive: true });
      fs.writeFileSync(path.join(app, 'package.json'), '{"name":"kiosk","main":"main.js"}');
      fs.writeFileSync(path.join(app, 'main.js'), 'require("./models")\n'.repeat(50));
      fs.writeFileSync(
        path.join(app, 'models', 'cls.onnx'),
        new OnnxBuilder()
          .producer('asar-test', '1')
          .opset('', 17)
          .input('x', 'float32', [1, 2])
          .node('Relu', ['x'], ['y'])
          .output('y', 'float32', [1, 2])
          .build(),
      );
      fs.writeFileSync(path.join(app, 'models', 'big.bin'), crypto.randomBytes(300_000));
      fs.writeFileSync(path.join(app, 'node_modules/onnxruntime-node/bin/onnxruntime_binding.node'), crypto.randomBytes(5000));
      fs.symlinkSync('cls.onnx', path.join(app, 'models', 'current.onnx'));
      const archive = path.join(dir, 'app.asar');
      await real.createPackageWithOptions(app, archive, { unpack: '*.node' });

      const t = makeContext('app.asar');
      const listed = await listEntries(asar, new BufferSource(fs.readFileSync(archive)), t);
      const files = listed.filter((e) => e.type === 'file');
      // The oracle: every file @electron/asar lists (not a dir, not unpacked, not a link) with the bytes it extracts.
      const expected = real
        .listPackage(archive, { isPack: false })
        .map((p) => p.replace(/^\//, ''))
        .filter((p) => {
          const st = real.statFile(archive, p, false) as { files?: unknown; unpacked?: boolean; link?: string };
          return st.files === undefined && st.unpacked !== true && st.link === undefined;
        })
        .sort();
      expect(files.map((e) => e.path).sort()).toEqual(expected);
      for (const e of files) {
        expect(e.sha256, e.path).toBe(crypto.createHash('sha256').update(real.extractFile(archive, e.path)).digest('hex'));
      }
      expect(listed.find((e) => e.path === 'node_modules/onnxruntime-node/bin/onnxruntime_binding.node')?.type).toBe('other');
      expect(listed.find((e) => e.path === 'models/current.onnx')).toMatchObject({ type: 'symlink', linkTarget: 'cls.onnx' });
      expect(t.problems.map((p) => p.severity)).toEqual(['info']);
      t.cleanup();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
