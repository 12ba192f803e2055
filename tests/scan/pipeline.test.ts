import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { formats } from '../../src/formats/index.js';
import type { ModelFormat } from '../../src/formats/types.js';
import { componentId, inventorySchema, locationPath, scan, type Analyzer, type Inventory } from '../../src/index.js';
import { z } from 'zod';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { buildZip, tinyTflite } from '../builders/tflite-builder.js';

// The pipeline's contract: content-derived ids, structured locations, relationships, analyzers on every
// item and listing, and siblings for multi-file formats. Inputs are built here by our own builders.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-pipeline-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
function dir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
// What test-only formats need beyond their reader: any metadata, and a card naming the format only.
const testFormatParts = (id: string): Pick<ModelFormat, 'metadataSchema' | 'card'> => ({
  metadataSchema: z.record(z.string(), z.unknown()),
  card: () => ({ format: id, inputs: [], outputs: [], weightTypes: [], operators: [], customOperators: false }),
});

describe('components', () => {
  it('gives the same content one component with every location, and an id derived from content alone', async () => {
    const model = tinyTflite('shared');
    const d = dir('ids');
    fs.writeFileSync(path.join(d, 'a.tflite'), model);
    fs.mkdirSync(path.join(d, 'sub'));
    fs.writeFileSync(path.join(d, 'sub', 'b.bin'), model);
    fs.writeFileSync(path.join(d, 'app.apk'), buildZip([['assets/c.tflite', model]], 0));
    const inv = valid(await scan([d]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models).toHaveLength(1);
    const m = models[0]!;
    expect(m.id).toBe(componentId('model', 'tflite', sha(model)));
    expect(m.locations.map((l) => l.path)).toEqual([`${d}/a.tflite`, `${d}/app.apk!/assets/c.tflite`, `${d}/sub/b.bin`]);
    expect(m.evidence).toContainEqual({ technique: 'magic', detail: "tflite model: 'TFL3' at offset 4", confidence: 'high' });

    // The same files under another folder name: the same ids.
    const d2 = dir('ids-copy');
    for (const f of ['a.tflite', 'app.apk']) fs.copyFileSync(path.join(d, f), path.join(d2, f));
    const inv2 = valid(await scan([d2]));
    expect(inv2.components.map((c) => c.id)).toEqual(inv.components.map((c) => c.id));
  });

  it('records each location as hops naming the reader that produced them', async () => {
    const model = tinyTflite('deep');
    const d = dir('hops');
    const inner = buildZip([['assets/m.tflite', model]], 0);
    const outer = path.join(d, 'ota.zip');
    fs.writeFileSync(outer, buildZip([['system/app/Pay/Pay.apk', inner]], 0));
    const inv = valid(await scan([outer]));
    const m = inv.components.find((c) => c.kind === 'model')!;
    const loc = m.locations[0]!;
    expect(loc.hops).toEqual([
      { path: outer, reader: 'file' },
      { path: 'system/app/Pay/Pay.apk', reader: 'zip' },
      { path: 'assets/m.tflite', reader: 'zip' },
    ]);
    expect(loc.path).toBe(locationPath(loc.hops));
    expect(loc.path).toBe(`${outer}!/system/app/Pay/Pay.apk!/assets/m.tflite`);
  });

  it('links a model to the nearest archive that holds it, and archives to the archive around them', async () => {
    const model = tinyTflite('held');
    const d = dir('contains');
    const apk = buildZip(
      [
        ['assets/m.tflite', model],
        ['classes.dex', enc('dex\n035\0')],
      ],
      0,
    );
    const outer = path.join(d, 'ota.zip');
    fs.writeFileSync(
      outer,
      buildZip(
        [
          ['app/Pay.apk', apk],
          ['readme.txt', enc('hi')],
        ],
        0,
      ),
    );
    const inv = valid(await scan([outer]));
    const byPath = new Map(inv.components.map((c) => [c.locations[0]!.path, c]));
    const m = byPath.get(`${outer}!/app/Pay.apk!/assets/m.tflite`)!;
    const apkC = byPath.get(`${outer}!/app/Pay.apk`)!;
    const otaC = byPath.get(outer)!;
    expect(apkC).toMatchObject({ kind: 'archive', name: 'Pay.apk', sha256: sha(apk), size: apk.length, container: { reader: 'zip' } });
    expect(otaC).toMatchObject({ kind: 'archive', name: 'ota.zip' });
    expect(inv.relationships).toEqual(
      [
        { from: apkC.id, type: 'contains', to: m.id },
        { from: otaC.id, type: 'contains', to: apkC.id },
      ].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0)),
    );
    // A container holding nothing found is not a component.
    const empty = path.join(d, 'empty.zip');
    fs.writeFileSync(empty, buildZip([['readme.txt', enc('hi')]], 0));
    expect(valid(await scan([empty])).components).toEqual([]);
  });
});

describe('ONNX external data as parts', () => {
  const withExternal = (loc: string): Uint8Array =>
    new OnnxBuilder()
      .producer('aibom-test', '1.0')
      .opset('', 17)
      .input('x', 'float32', [4])
      .externalInitializer('w', 'float32', [4], loc, 0, 16)
      .node('Add', ['x', 'w'], ['y'])
      .output('y', 'float32', [4])
      .build();
  const weights = new Uint8Array(16).fill(7);

  function expectPart(inv: Inventory, modelPath: string, dataPath: string): void {
    const model = inv.components.find((c) => c.kind === 'model' && c.locations[0]!.path === modelPath)!;
    const data = inv.components.find((c) => c.kind === 'data')!;
    expect(data).toMatchObject({ kind: 'data', name: 'ok.bin', sha256: sha(weights), size: 16, data: { role: 'external-data' } });
    expect(data.locations.map((l) => l.path)).toEqual([dataPath]);
    expect(inv.relationships).toContainEqual({ from: data.id, type: 'part-of', to: model.id });
  }

  it('hashes the external data file beside a model on disk and links it to the model', async () => {
    const d = dir('ext-disk');
    fs.mkdirSync(path.join(d, 'weights'));
    fs.writeFileSync(path.join(d, 'weights', 'ok.bin'), weights);
    fs.writeFileSync(path.join(d, 'm.onnx'), withExternal('weights/ok.bin'));
    const inv = valid(await scan([d]));
    expect(inv.problems).toEqual([]);
    expectPart(inv, `${d}/m.onnx`, `${d}/weights/ok.bin`);
    // The model file alone as input: its folder is still where its data lives.
    expectPart(valid(await scan([path.join(d, 'm.onnx')])), path.join(d, 'm.onnx'), path.join(d, 'weights/ok.bin'));
  });

  it.each([
    ['after', true],
    ['before', false],
  ])('hashes the member a model names in its container, listed %s the model', async (_when, after) => {
    const d = dir(`ext-zip-${after}`);
    const model: [string, Uint8Array] = ['m/m.onnx', withExternal('weights/ok.bin')];
    const data: [string, Uint8Array] = ['m/weights/ok.bin', weights];
    const zip = path.join(d, 'app.zip');
    fs.writeFileSync(zip, buildZip(after ? [model, data] : [data, model], 0));
    const inv = valid(await scan([zip]));
    expect(inv.problems).toEqual([]);
    expectPart(inv, `${zip}!/m/m.onnx`, `${zip}!/m/weights/ok.bin`);
  });
});

describe('analyzers', () => {
  it('see every item whatever it was identified as, and every listing; their findings are located and replayed', async () => {
    const d = dir('analyzers');
    const model = tinyTflite('an');
    fs.writeFileSync(path.join(d, 'labels.txt'), 'cat\ndog\n');
    fs.writeFileSync(path.join(d, 'm.tflite'), model);
    const apk = buildZip(
      [
        ['assets/labels.txt', enc('cat\ndog\n')],
        ['assets/m.tflite', model],
      ],
      0,
    );
    fs.writeFileSync(path.join(d, 'a.apk'), apk);
    fs.writeFileSync(path.join(d, 'b.apk'), apk); // the same content again: replayed, not analyzed twice
    const items: string[] = [];
    const listings: string[] = [];
    const probe: Analyzer = {
      id: 'probe-test',
      description: 'records what it is shown',
      item(item, out) {
        items.push(`${item.name}:${item.identified === undefined ? '-' : `${item.identified.kind}/${item.identified.id}`}`);
        if (item.name === 'labels.txt') out.data('labels', { technique: 'structure', detail: 'a label file', confidence: 'medium' });
      },
      listing(listing, out) {
        listings.push(`${listing.reader}:${listing.entries.map((e) => e.path).join(',')}`);
        if (listing.entries.some((e) => e.path.endsWith('m.tflite')))
          out.problem('info', 'format', 'a listing with a model', listing.entries.find((e) => e.path.endsWith('m.tflite'))!.path);
      },
    };
    const inv = valid(await scan([d], { analyzers: [probe] }));
    // b.apk and the loose m.tflite are content already seen: replayed, not shown again. The loose
    // labels.txt was not identified (so never hashed for dedupe): the analyzer sees it.
    expect(items).toEqual(['labels.txt:-', 'm.tflite:model/tflite', 'a.apk:container/zip', 'labels.txt:-']);
    expect(listings).toEqual(['zip:assets/labels.txt,assets/m.tflite', 'directory:a.apk,b.apk,labels.txt,m.tflite']);
    // The APK's findings (its listing's problem) replay at b.apk although the analyzer saw it once.
    expect(inv.problems.map((p) => p.location)).toEqual([`${d}/a.apk!/assets/m.tflite`, `${d}/b.apk!/assets/m.tflite`, `${d}/m.tflite`]);
    const labels = inv.components.filter((c) => c.kind === 'data');
    expect(labels.flatMap((c) => c.locations.map((l) => l.path)).sort()).toEqual([
      `${d}/a.apk!/assets/labels.txt`,
      `${d}/b.apk!/assets/labels.txt`,
      `${d}/labels.txt`,
    ]);
  });

  it('report software: an app is the container of its models, a keyed service is one component across apps', async () => {
    const d = dir('software');
    const model = tinyTflite('sw');
    fs.writeFileSync(
      path.join(d, 'a.apk'),
      buildZip(
        [
          ['assets/m.tflite', model],
          ['res/cfg.txt', enc('https://api.example-ai.test/v1')],
        ],
        0,
      ),
    );
    fs.writeFileSync(
      path.join(d, 'b.apk'),
      buildZip(
        [
          ['res/cfg.txt', enc('https://api.example-ai.test/v1')],
          ['x.txt', enc('b')],
        ],
        0,
      ),
    );
    const apps: Analyzer = {
      id: 'apps-test',
      description: 'zip items named .apk are apps; a config naming the endpoint is a service',
      item(item, out) {
        if (item.identified?.id === 'zip' && item.name.endsWith('.apk')) {
          out.software({
            kind: 'app',
            name: item.name.replace(/\.apk$/, ''),
            version: '1.0',
            evidence: { technique: 'manifest-analysis', detail: 'test', confidence: 'high' },
            software: { properties: { package: `com.test.${item.name}` } },
          });
        }
        if (item.name === 'cfg.txt') {
          out.software({
            kind: 'service',
            name: 'Example AI',
            key: ['example-ai', 'api.example-ai.test'],
            evidence: { technique: 'binary-analysis', detail: 'https://api.example-ai.test', confidence: 'medium' },
            software: { endpoint: 'api.example-ai.test' },
          });
        }
      },
    };
    const inv = valid(await scan([d], { analyzers: [apps] }));
    expect(inv.components.map((c) => [c.kind, c.name])).toEqual([
      ['model', 'm.tflite'],
      ['app', 'a'],
      ['app', 'b'],
      ['service', 'Example AI'],
    ]);
    const [m, a, , svc] = inv.components;
    expect(svc!.locations.map((l) => l.path)).toEqual([`${d}/a.apk!/res/cfg.txt`, `${d}/b.apk!/res/cfg.txt`]);
    expect(svc!.id).toBe(componentId('service', 'example-ai', 'api.example-ai.test'));
    expect(inv.relationships).toContainEqual({ from: a!.id, type: 'contains', to: m!.id });
    expect(inv.relationships).toContainEqual({ from: a!.id, type: 'contains', to: svc!.id });
  });

  it('an analyzer that throws is a problem on that item, and the scan goes on', async () => {
    const d = dir('analyzer-throws');
    fs.writeFileSync(path.join(d, 'm.tflite'), tinyTflite('x'));
    const bad: Analyzer = {
      id: 'bad-test',
      description: 'throws',
      item() {
        throw new FormatError('Invalid thing: field x is 3, expected 4.');
      },
    };
    const inv = valid(await scan([d], { analyzers: [bad] }));
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems).toEqual([
      { location: `${d}/m.tflite`, severity: 'error', code: 'format', message: 'analyzer bad-test: Invalid thing: field x is 3, expected 4.' },
    ]);
  });
});

describe('siblings for multi-file formats', () => {
  // A test-only format: 'PMOD' files whose weights are the sibling named in their body.
  const pair: ModelFormat = {
    id: 'pair-model-test',
    ...testFormatParts('pair-model-test'),
    description: 'test format whose weights live in a sibling file',
    extensions: [],
    signatures: [{ offset: 0, magic: 'PMOD' }],
    match: () => true,
    async inspect(src, _probe, ctx) {
      const ref = new TextDecoder().decode(src.read(4, src.size - 4)).trim();
      const w = await ctx.sibling?.(ref);
      return { confidence: 'high', metadata: { ref, weightsSize: w === undefined ? null : w.size } };
    },
  };
  const registry = [...formats, pair];
  const metaAt = (inv: Inventory, p: string): unknown => {
    const c = inv.components.find((x) => x.kind === 'model' && x.locations.some((l) => l.path === p));
    return c?.kind === 'model' ? c.model.metadata : undefined;
  };

  it('opens a sibling on disk, in a sub-folder, and never outside the folder', async () => {
    const d = dir('sib-disk');
    fs.mkdirSync(path.join(d, 'v'));
    fs.writeFileSync(path.join(d, 'v', 'w.bin'), new Uint8Array(10));
    fs.writeFileSync(path.join(tmp, 'outside.bin'), new Uint8Array(3));
    fs.writeFileSync(path.join(d, 'a.pm'), enc('PMODv/w.bin'));
    fs.writeFileSync(path.join(d, 'b.pm'), enc('PMOD../outside.bin'));
    fs.writeFileSync(path.join(d, 'c.pm'), enc('PMODv/../../outside.bin'));
    const inv = valid(await scan([d], { formats: registry }));
    expect(metaAt(inv, `${d}/a.pm`)).toEqual({ ref: 'v/w.bin', weightsSize: 10 });
    expect(metaAt(inv, `${d}/b.pm`)).toEqual({ ref: '../outside.bin', weightsSize: null });
    expect(metaAt(inv, `${d}/c.pm`)).toEqual({ ref: 'v/../../outside.bin', weightsSize: null });
  });

  it('defers a model whose sibling is listed later in its container, and inspects it once the listing is complete', async () => {
    const d = dir('sib-zip');
    const zip = path.join(d, 'm.zip');
    fs.writeFileSync(
      zip,
      buildZip(
        [
          ['x/a.pm', enc('PMODw.bin')],
          ['x/b.pm', enc('PMODnone.bin')],
          ['x/w.bin', new Uint8Array(5)],
        ],
        0,
      ),
    );
    const inv = valid(await scan([zip], { formats: registry }));
    expect(metaAt(inv, `${zip}!/x/a.pm`)).toEqual({ ref: 'w.bin', weightsSize: 5 });
    expect(metaAt(inv, `${zip}!/x/b.pm`)).toEqual({ ref: 'none.bin', weightsSize: null });
    expect(inv.problems).toEqual([]);
  });
});

describe('parts of multi-file models', () => {
  // A test-only descriptor format: 'PIDX' files list their shards, one name per line.
  const index: ModelFormat = {
    id: 'index-model-test',
    ...testFormatParts('index-model-test'),
    description: 'test descriptor naming its shards',
    extensions: [],
    signatures: [{ offset: 0, magic: 'PIDX' }],
    match: () => true,
    inspect: (src) => {
      const names = new TextDecoder()
        .decode(src.read(4, src.size - 4))
        .split('\n')
        .filter((n) => n.length > 0);
      return Promise.resolve({ confidence: 'high' as const, metadata: { shards: names.length }, parts: names.map((n) => ({ path: n, role: 'shard' })) });
    },
  };
  const registry = [...formats, index];

  // A .tar.gz is decoded once and released when listed: its parts must be hashed during the listing.
  it.each(['dir', 'zip', 'tar.gz'])(
    'hashes each part, links it to the descriptor, never reports a part as a model, and names a missing one (%s)',
    async (how) => {
      const d = dir(`parts-${how}`);
      const shard = tinyTflite('shard'); // a part that is a valid model on its own
      const files: [string, Uint8Array][] = [
        ['m/index.pidx', enc('PIDXs-1.tflite\ns-2.bin\ngone.bin\n../up.bin\n')],
        ['m/s-1.tflite', shard],
        ['m/s-2.bin', new Uint8Array(9)],
      ];
      let root: string;
      let input: string;
      if (how === 'zip') {
        input = path.join(d, 'a.zip');
        fs.writeFileSync(input, buildZip(files, 0));
        root = `${input}!/`;
      } else {
        const tree = how === 'dir' ? d : path.join(d, 'tree');
        for (const [n, b] of files) {
          fs.mkdirSync(path.join(tree, path.dirname(n)), { recursive: true });
          fs.writeFileSync(path.join(tree, n), b);
        }
        if (how === 'dir') {
          input = d;
          root = `${d}/`;
        } else {
          // One shard before the descriptor in the archive, one after it.
          input = path.join(d, 'a.tar.gz');
          execFileSync('tar', ['-czf', input, '-C', tree, 'm/s-1.tflite', 'm/index.pidx', 'm/s-2.bin']);
          root = `${input}!/`;
        }
      }
      const inv = valid(await scan([input], { formats: registry }));
      const models = inv.components.filter((c) => c.kind === 'model');
      expect(models.map((m) => m.locations[0]!.path)).toEqual([`${root}m/index.pidx`]);
      const parts = inv.components.filter((c) => c.kind === 'data');
      expect(parts.map((p) => [p.locations[0]!.path, p.sha256, p.kind === 'data' ? p.data.role : ''])).toEqual([
        [`${root}m/s-1.tflite`, sha(shard), 'shard'],
        [`${root}m/s-2.bin`, sha(new Uint8Array(9)), 'shard'],
      ]);
      for (const p of parts) expect(inv.relationships).toContainEqual({ from: p.id, type: 'part-of', to: models[0]!.id });
      expect(inv.problems.map((p) => [p.location, p.code, p.message])).toEqual([
        [`${root}m/index.pidx`, 'external-data', "The model's shard file '../up.bin' points outside the model's folder; it was not read."],
        [`${root}m/index.pidx`, 'external-data', "The model's shard file 'gone.bin' is missing beside the model."],
      ]);
    },
  );
});

describe('never silent', () => {
  it('reports a file named like an archive or image that no reader recognised, and nothing for a plain name', async () => {
    const d = dir('claimed-container');
    fs.writeFileSync(path.join(d, 'update.zip'), enc('this is not a zip at all'));
    fs.writeFileSync(path.join(d, 'system.img'), new Uint8Array(4096).fill(0x5a));
    fs.writeFileSync(path.join(d, 'logs.tar.gz'), enc('plain text, gzip in name only'));
    fs.writeFileSync(path.join(d, 'notes.txt'), enc('plain text'));
    fs.writeFileSync(path.join(d, 'real.zip'), buildZip([['a.txt', enc('a')]], 0));
    const inv = valid(await scan([d]));
    expect(inv.problems.map((p) => [p.location.slice(d.length + 1), p.code, p.severity])).toEqual([
      ['logs.tar.gz', 'claimed-container', 'warning'],
      ['system.img', 'claimed-container', 'warning'],
      ['update.zip', 'claimed-container', 'warning'],
    ]);
    expect(inv.problems.find((p) => p.location.endsWith('update.zip'))!.message).toBe(
      'The name claims a .zip file (read by zip) but no reader recognised its content (first bytes 74 68 69 73 20 69 73 20); nothing inside it was scanned.',
    );
  });
});

describe('identification by declared signatures', () => {
  it('calls match only for items whose declared signature is present', async () => {
    const d = dir('dispatch');
    fs.writeFileSync(path.join(d, 'yes.bin'), enc('ZQZQ and more'));
    fs.writeFileSync(path.join(d, 'no.bin'), enc('nothing to see'));
    fs.writeFileSync(path.join(d, 'm.tflite'), tinyTflite('d'));
    const seen: string[] = [];
    const spy: ModelFormat = {
      id: 'spy-test',
      ...testFormatParts('spy-test'),
      description: 'records match calls',
      extensions: [],
      signatures: [{ offset: 0, magic: 'ZQZQ' }],
      match: (probe) => {
        seen.push(probe.name);
        return false;
      },
      inspect: () => Promise.reject(new FormatError('never')),
    };
    await scan([d], { formats: [...formats, spy] });
    expect(seen).toEqual(['yes.bin']);
  });
});
