import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containers } from '../src/containers/index.js';
import type { ContainerReader } from '../src/containers/types.js';
import { UnsupportedError } from '../src/errors.js';
import { inventorySchema, scan } from '../src/index.js';
import { json } from '../src/report/json.js';
import { OnnxBuilder } from './builders/onnx-builder.js';
import { buildZip } from './builders/tflite-builder.js';
import { CORPUS_DIR, corpusFiles, hasTool } from './helpers/corpus.js';
import { modelsOf } from './helpers/inventory.js';

const tflites = corpusFiles('tflite', '.tflite');
// The corpus's LICENSE.onnx is the licence text: a file that only claims to be a model.
const onnxes = corpusFiles('onnx', '.onnx').filter((f) => !path.basename(f).startsWith('LICENSE'));
const licence = corpusFiles('onnx', '.onnx').find((f) => path.basename(f).startsWith('LICENSE'));
const haveTools = hasTool('zip') && hasTool('tar') && hasTool('xz') && hasTool('python3');

// Every scan in this file runs with TMPDIR pointed at a folder of its own, so the test can prove that
// nothing is left behind (spilled decodes are deleted) and nothing is written elsewhere.
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-scan-test-'));
const work = path.join(tmpRoot, 'work');
const scanTmp = path.join(tmpRoot, 'tmp');
const savedTmp = process.env.TMPDIR;

beforeAll(() => {
  fs.mkdirSync(work);
  fs.mkdirSync(scanTmp);
  process.env.TMPDIR = scanTmp;
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

const sha = (p: string): string => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
const run = (cmd: string, args: string[], cwd: string): void => {
  execFileSync(cmd, args, { cwd, stdio: 'ignore' });
};
function dir(name: string): string {
  const d = path.join(work, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

describe.skipIf(tflites.length === 0 || onnxes.length === 0)('scan over the real corpus', () => {
  it('finds every corpus model in a directory, with exact sha256 and format', async () => {
    const d = dir('corpus');
    for (const f of [...tflites, ...onnxes]) fs.copyFileSync(f, path.join(d, path.basename(f)));
    const inv = await scan([d]);
    expect(inventorySchema.parse(inv)).toBeTruthy();
    expect(modelsOf(inv).map((m) => m.location)).toEqual([...tflites, ...onnxes].map((f) => `${d}/${path.basename(f)}`).sort());
    for (const m of modelsOf(inv)) {
      expect(m.sha256).toBe(sha(m.location));
      expect(m.format).toBe(m.location.endsWith('.onnx') ? 'onnx' : 'tflite');
      expect(m.size).toBe(fs.statSync(m.location).size);
    }
    // The appended zip of a TFLite model belongs to the model: no separate finding, no zip member problems.
    expect(inv.problems).toEqual([]);
    expect(inv.subjects).toEqual([{ location: d, kind: 'directory', size: expect.any(Number) }]);
  });

  it.skipIf(licence === undefined)('reports the corpus licence text named LICENSE.onnx as a claimed model that is not valid', async () => {
    const inv = await scan([licence!]);
    expect(modelsOf(inv)).toEqual([]);
    expect(inv.problems).toEqual([
      expect.objectContaining({
        location: licence,
        severity: 'error',
        code: 'claimed-model',
        message: expect.stringMatching(/^Claimed onnx model is not valid: Invalid ONNX/),
      }),
    ]);
  });

  it.skipIf(!haveTools)('finds a model in an APK in a zip in a tar.xz, stored and deflated, with its full location', async () => {
    const d = dir('nested');
    const apk = dir('nested/apk');
    const tfl = tflites.find((f) => f.includes('mobilenet_v1_0.25_224_quant.tflite'))!;
    const onnx = onnxes.find((f) => f.includes('squeezenet'))!;
    fs.mkdirSync(path.join(apk, 'assets'));
    fs.copyFileSync(tfl, path.join(apk, 'assets', 'det.tflite'));
    fs.copyFileSync(onnx, path.join(apk, 'assets', 'cls.onnx'));
    fs.writeFileSync(path.join(apk, 'classes.dex'), 'dex\n035\0');
    run('zip', ['-q', '-0', '../Pay.apk', 'assets/det.tflite', 'classes.dex'], apk); // stored
    run('zip', ['-q', '-9', '../Pay.apk', 'assets/cls.onnx'], apk); // deflated
    fs.mkdirSync(path.join(d, 'system/app/Pay'), { recursive: true });
    fs.renameSync(path.join(d, 'Pay.apk'), path.join(d, 'system/app/Pay/Pay.apk'));
    run('zip', ['-q', '-r', '-0', 'ota.zip', 'system'], d);
    run('tar', ['-cJf', 'bundle.tar.xz', 'ota.zip'], d);
    const input = path.join(d, 'bundle.tar.xz');
    const inv = await scan([input]);
    expect(modelsOf(inv).map((m) => [m.location, m.format, m.sha256])).toEqual([
      [`${input}!/ota.zip!/system/app/Pay/Pay.apk!/assets/cls.onnx`, 'onnx', sha(onnx)],
      [`${input}!/ota.zip!/system/app/Pay/Pay.apk!/assets/det.tflite`, 'tflite', sha(tfl)],
    ]);
    expect(inv.subjects[0]).toEqual({ location: input, kind: 'file', size: fs.statSync(input).size, sha256: sha(input) });
    expect(inv.stats.containers).toBe(3); // tar.xz (one level), ota.zip, Pay.apk
  });

  it.skipIf(!haveTools)('parses identical content once and reports it at every location', async () => {
    const d = dir('dupes');
    const tfl = tflites.find((f) => f.includes('deeplabv3'))!;
    for (const p of ['a', 'b', 'c']) {
      fs.mkdirSync(path.join(d, p, 'assets'), { recursive: true });
      fs.copyFileSync(tfl, path.join(d, p, 'assets', 'seg.tflite'));
      // Same bytes in all three APKs: fixed times, and -X drops the extra fields (uid, atime) zip adds.
      const t = new Date('2026-01-01T00:00:00Z');
      fs.utimesSync(path.join(d, p, 'assets', 'seg.tflite'), t, t);
      fs.utimesSync(path.join(d, p, 'assets'), t, t);
      run('zip', ['-q', '-X', '-r', 'app.apk', 'assets'], path.join(d, p));
    }
    run('tar', ['-cf', 'img.tar', 'a/app.apk', 'b/app.apk', 'c/app.apk'], d);
    const input = path.join(d, 'img.tar');
    const inv = await scan([input]);
    expect(modelsOf(inv).map((m) => m.location)).toEqual(['a', 'b', 'c'].map((p) => `${input}!/${p}/app.apk!/assets/seg.tflite`));
    expect(new Set(modelsOf(inv).map((m) => m.sha256))).toEqual(new Set([sha(tfl)]));
    expect(inv.stats.duplicates).toBe(2); // the 2nd and 3rd APK were not opened again
    expect(inv.stats.containers).toBe(2); // img.tar and the first app.apk
  });

  it('reports a truncated TFLite model as a problem, not a model, and goes on', async () => {
    const d = dir('corrupt');
    const tfl = tflites.find((f) => f.includes('mobilenet_v1_0.25_224_quant.tflite'))!;
    const bytes = fs.readFileSync(tfl);
    fs.writeFileSync(path.join(d, 'a-broken.bin'), bytes.subarray(0, 300));
    fs.copyFileSync(tfl, path.join(d, 'b-good.tflite'));
    const inv = await scan([d]);
    expect(modelsOf(inv).map((m) => m.location)).toEqual([`${d}/b-good.tflite`]);
    expect(inv.problems).toEqual([
      expect.objectContaining({ location: `${d}/a-broken.bin`, severity: 'error', message: expect.stringMatching(/^Not a valid tflite model: /) }),
    ]);
  });

  it('gives byte-identical JSON for the same input', async () => {
    const d = dir('corpus-determinism');
    for (const f of [...tflites.slice(0, 4), ...onnxes.slice(0, 4)]) fs.copyFileSync(f, path.join(d, path.basename(f)));
    const a = json.encode(await scan([d]));
    const b = json.encode(await scan([d]));
    expect(a).toBe(b);
    expect(a).not.toMatch(/"timestamp"/);
  });
});

describe('names that claim a model format', () => {
  it('a text file named .onnx or .tflite is a problem with the reason, not a model', async () => {
    const d = dir('claims');
    fs.writeFileSync(path.join(d, 'fake.onnx'), 'this is not a model\n');
    fs.writeFileSync(path.join(d, 'fake.tflite'), 'neither is this one\n');
    const inv = await scan([d]);
    expect(modelsOf(inv)).toEqual([]);
    expect(inv.problems.map((p) => [p.location, p.code])).toEqual([
      [`${d}/fake.onnx`, 'claimed-model'],
      [`${d}/fake.tflite`, 'claimed-model'],
    ]);
    for (const p of inv.problems) expect(p.message).toMatch(/^Claimed (onnx|tflite) model is not valid: .+/);
  });
});

describe.skipIf(!haveTools)('hostile input', () => {
  it('stops a deflate bomb at the ratio limit, quickly, and goes on', async () => {
    const d = dir('bomb');
    fs.writeFileSync(path.join(d, 'zeros.bin'), Buffer.alloc(200 * 1024 * 1024));
    run('zip', ['-q', '-9', 'bomb.zip', 'zeros.bin'], d);
    fs.rmSync(path.join(d, 'zeros.bin'));
    const t0 = Date.now();
    const inv = await scan([path.join(d, 'bomb.zip')], { limits: { maxRatio: 100 } });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(inv.problems).toEqual([expect.objectContaining({ location: `${path.join(d, 'bomb.zip')}!/zeros.bin`, code: 'limit' })]);
    expect(inv.stats.decompressedBytes).toBeLessThan(200 * 1024 * 1024);
  });

  it('stops at the total decompressed budget', async () => {
    const d = dir('budget');
    fs.writeFileSync(path.join(d, 'r.bin'), crypto.randomBytes(3 * 1024 * 1024));
    run('zip', ['-q', '-9', 'a.zip', 'r.bin'], d);
    run('tar', ['-czf', 'b.tar.gz', 'a.zip'], d);
    const inv = await scan([path.join(d, 'b.tar.gz')], { limits: { maxDecompressedBytes: 1024 * 1024 } });
    expect(inv.problems.some((p) => p.code === 'limit')).toBe(true);
    expect(inv.stats.decompressedBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('reports nesting past the depth limit and does not open it', async () => {
    const d = dir('deep');
    fs.writeFileSync(path.join(d, 'z0.zip.txt'), 'core');
    let prev = 'z0.zip.txt';
    for (let i = 1; i <= 8; i++) {
      run('zip', ['-q', `z${i}.zip`, prev], d);
      prev = `z${i}.zip`;
    }
    const inv = await scan([path.join(d, prev)], { limits: { maxDepth: 4 } });
    const lim = inv.problems.filter((p) => p.code === 'limit');
    expect(lim).toHaveLength(1);
    expect(lim[0]!.location).toBe(`${path.join(d, 'z8.zip')}!/z7.zip!/z6.zip!/z5.zip!/z4.zip`);
    expect(inv.stats.containers).toBe(4);
  });

  it('stops an entry-count bomb at the per-container limit', async () => {
    const d = dir('many');
    const files = path.join(d, 'f');
    fs.mkdirSync(files);
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(files, `${i}.txt`), String(i));
    run('zip', ['-q', '-r', 'many.zip', 'f'], d);
    const inv = await scan([path.join(d, 'many.zip')], { limits: { maxEntriesPerContainer: 100 } });
    expect(inv.problems.filter((p) => p.code === 'limit')).toHaveLength(1);
    expect(inv.stats.entries).toBeLessThanOrEqual(101);
  });

  it('records ../ and absolute member names, writes nothing outside the temp area, and leaves the temp area empty', async () => {
    const d = dir('evil');
    const tfl = tflites[0] ?? null;
    const script = [
      'import zipfile,sys',
      'z=zipfile.ZipFile(sys.argv[1],"w")',
      'z.writestr("../../evil.txt","x")',
      'z.writestr("/etc/evil-abs.txt","x")',
      tfl ? `z.write(${JSON.stringify(tfl)},"../up/model.tflite")` : 'pass',
      'z.close()',
    ].join('\n');
    execFileSync('python3', ['-c', script, path.join(d, 'evil.zip')]);
    const before = fs.readdirSync(work).sort();
    const inv = await scan([path.join(d, 'evil.zip')], { limits: { memoryBudget: 0 } });
    const hostile = inv.problems.filter((p) => p.code === 'hostile-path').map((p) => p.location);
    expect(hostile).toEqual(expect.arrayContaining([`${path.join(d, 'evil.zip')}!/../../evil.txt`]));
    if (tfl) expect(modelsOf(inv).map((m) => m.location)).toEqual([`${path.join(d, 'evil.zip')}!/../up/model.tflite`]);
    expect(fs.readdirSync(work).sort()).toEqual(before);
    expect(fs.existsSync(path.join(d, '..', '..', 'evil.txt'))).toBe(false);
    expect(fs.readdirSync(scanTmp)).toEqual([]);
  });

  it('never crashes on random bytes under any name', async () => {
    const d = dir('random');
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const heads = [
      [0x50, 0x4b, 0x03, 0x04],
      [0x1f, 0x8b, 0x08],
      [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
      [0x28, 0xb5, 0x2f, 0xfd],
      [0x42, 0x5a, 0x68, 0x39],
      [0x08, 0x07, 0x12],
      [],
    ];
    for (let i = 0; i < 60; i++) {
      const b = Buffer.alloc(1 + Math.floor(rnd() * 4000));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      const h = heads[i % heads.length]!;
      Buffer.from(h).copy(b);
      if (i % 5 === 0 && b.length > 8) b.write('TFL3', 4, 'latin1');
      fs.writeFileSync(path.join(d, `r${i}${['.zip', '.gz', '.onnx', '.tflite', '.bin', ''][i % 6]}`), b);
    }
    const inv = await scan([d]);
    expect(inventorySchema.parse(inv)).toBeTruthy();
    expect(inv.problems.filter((p) => p.code === 'internal')).toEqual([]);
  });
});

describe('inputs', () => {
  it('reports an unreadable input as a problem of that input', async () => {
    const inv = await scan([path.join(work, 'does-not-exist')]);
    expect(inv.problems).toEqual([expect.objectContaining({ location: path.join(work, 'does-not-exist'), code: 'io' })]);
  });
  it('records a symlink pointing outside a directory input and does not follow it', async () => {
    const d = dir('links');
    fs.symlinkSync('/etc', path.join(d, 'out'));
    fs.symlinkSync('.', path.join(d, 'loop'));
    const inv = await scan([d]);
    expect(inv.problems.map((p) => [p.location, p.code])).toEqual([[`${d}/out`, 'symlink']]);
  });
});

describe('ONNX external data', () => {
  const withExternal = (loc: string): Uint8Array =>
    new OnnxBuilder()
      .producer('aibom-test', '1.0')
      .opset('', 17)
      .input('x', 'float32', [4])
      .externalInitializer('w', 'float32', [4], loc, 0, 16)
      .node('Add', ['x', 'w'], ['y'])
      .output('y', 'float32', [4])
      .build();
  const cases: [string, string][] = [
    ['ok.onnx', 'weights/ok.bin'],
    ['missing.onnx', 'gone.bin'],
    ['escape.onnx', '../../etc/passwd'],
  ];
  const expected = (loc: string): [string, string][] => [
    [`${loc}escape.onnx`, "External data '../../etc/passwd' points outside the model's folder; it was not read."],
    [`${loc}missing.onnx`, "External data file 'gone.bin' is missing beside the model."],
  ];

  it('checks each reference beside a model on disk', async () => {
    const d = dir('external');
    fs.mkdirSync(path.join(d, 'weights'));
    fs.writeFileSync(path.join(d, 'weights', 'ok.bin'), Buffer.alloc(16));
    for (const [name, loc] of cases) fs.writeFileSync(path.join(d, name), withExternal(loc));
    const inv = await scan([d]);
    expect(modelsOf(inv)).toHaveLength(3);
    expect(inv.problems.map((p) => [p.location, p.message])).toEqual(expected(`${d}/`));
    expect(inv.problems.every((p) => p.code === 'external-data')).toBe(true);
  });

  it("checks each reference against the members of the model's container, listed after it or before", async () => {
    const d = dir('external-zip');
    const files: [string, Uint8Array][] = cases.map(([name, loc]) => [`m/${name}`, withExternal(loc)]);
    files.push(['m/weights/ok.bin', new Uint8Array(16)]); // listed after the model that needs it
    fs.writeFileSync(path.join(d, 'app.zip'), buildZip(files, 0));
    const inv = await scan([path.join(d, 'app.zip')]);
    expect(modelsOf(inv)).toHaveLength(3);
    expect(inv.problems.map((p) => [p.location, p.message])).toEqual(expected(`${path.join(d, 'app.zip')}!/m/`));
  });
});

describe('input hashing', () => {
  it('hashes a large input on a worker thread, with the same digest as node:crypto', async () => {
    const d = dir('large-input');
    const file = path.join(d, 'blob.bin');
    const bytes = crypto.randomBytes(20 * 1024 * 1024 + 123); // above WORKER_HASH_MIN_SIZE
    fs.writeFileSync(file, bytes);
    const inv = await scan([file]);
    expect(inv.subjects).toEqual([{ location: file, kind: 'file', size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') }]);
  });
});

describe('siblings (formats that are not self-describing)', () => {
  // A test-only reader: items starting with 'PAIR' read their sibling '<name>.idx' and report its size.
  const pair: ContainerReader = {
    id: 'pair-test',
    description: 'test reader that needs a sibling',
    kind: 'other',
    signatures: [],
    match: (probe) => Buffer.from(probe.head.subarray(0, 4)).toString('latin1') === 'PAIR',
    async *entries(_src, ctx) {
      const idx = await ctx.sibling(`${ctx.name}.idx`);
      throw new UnsupportedError(idx === undefined ? 'no sibling' : `sibling of ${idx.size} bytes`);
      // biome-ignore lint/correctness/noUnreachable: makes this a generator that never lists anything.
      yield* [];
    },
  };
  const registry = [...containers, pair];
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

  it.each([
    [
      'listed after the item (deferred to the end of the container)',
      [
        ['d/a.dat', enc('PAIR data')],
        ['d/a.dat.idx', enc('12345')],
        ['d/z.txt', enc('z')],
      ],
    ],
    [
      'listed before the item',
      [
        ['d/a.dat.idx', enc('12345')],
        ['d/a.dat', enc('PAIR data')],
      ],
    ],
  ] as [string, [string, Uint8Array][]][])('a member finds its sibling %s', async (_n, files) => {
    const d = dir(`sib-${files[0]![0].length}-${files.length}`);
    fs.writeFileSync(path.join(d, 'x.zip'), buildZip(files, 0));
    const inv = await scan([path.join(d, 'x.zip')], { containers: registry });
    expect(inv.problems.map((p) => [p.location, p.message])).toEqual([[`${path.join(d, 'x.zip')}!/d/a.dat`, 'pair-test: sibling of 5 bytes']]);
  });

  it('a member whose sibling is absent is told so once the container is listed; a path is never a sibling name', async () => {
    const d = dir('sib-missing');
    fs.writeFileSync(
      path.join(d, 'x.zip'),
      buildZip(
        [
          ['a.dat', enc('PAIR')],
          ['b/a.dat.idx', enc('1')],
        ],
        0,
      ),
    );
    const inv = await scan([path.join(d, 'x.zip')], { containers: registry });
    expect(inv.problems.map((p) => p.message)).toEqual(['pair-test: no sibling']);
  });

  it('a file on disk finds its sibling in the same folder', async () => {
    const d = dir('sib-disk');
    fs.writeFileSync(path.join(d, 'a.dat'), 'PAIR');
    fs.writeFileSync(path.join(d, 'a.dat.idx'), '123');
    const inv = await scan([d], { containers: registry });
    expect(inv.problems.map((p) => [p.location, p.message])).toEqual([[`${d}/a.dat`, 'pair-test: sibling of 3 bytes']]);
  });
});

describe.skipIf(tflites.length === 0)('dedupe and names', () => {
  it('identical content under different names keeps each name where findings depend on it', async () => {
    const d = dir('dedupe-names');
    const model = fs.readFileSync(tflites[0] ?? path.join(CORPUS_DIR, 'missing'));
    const gz = zlib.gzipSync(model);
    fs.writeFileSync(path.join(d, 'a.tflite.gz'), gz);
    fs.writeFileSync(path.join(d, 'b.tflite.gz'), gz); // same bytes: the member is named after its container
    fs.writeFileSync(path.join(d, 'c.onnx'), 'not a model'); // a claim depends on the name ...
    fs.writeFileSync(path.join(d, 'd.txt'), 'not a model'); // ... so the same bytes under another name claim nothing
    const inv = await scan([d]);
    expect(modelsOf(inv).map((m) => m.location)).toEqual([`${d}/a.tflite.gz!/a.tflite`, `${d}/b.tflite.gz!/b.tflite`]);
    expect(inv.problems.map((p) => p.location)).toEqual([`${d}/c.onnx`]);
  });
});
