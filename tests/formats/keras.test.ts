import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSuperblock, readHdf5Root } from '../../src/decoders/hdf5.js';
import { AibomError, FormatError } from '../../src/errors.js';
import { keras, type KerasMetadata } from '../../src/formats/keras.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.resolve(here, '../../fixtures/keras/make-h5.py');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-keras-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const enc = new TextEncoder();

/** A python3 that imports h5py (Debian python3-h5py): the first of PATH's python3 and /usr/bin/python3. */
const python = ['python3', '/usr/bin/python3'].find((p) => {
  try {
    execFileSync(p, ['-c', 'import h5py'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (python === undefined) console.warn('SKIP: no python3 imports h5py (Debian python3-h5py); the tests over HDF5 files written by h5py are skipped.');
const h5 = path.join(tmp, 'h5');
beforeAll(() => {
  // Fixture set-up only (the tests that read these files skip visibly without python3-h5py).
  if (python !== undefined) {
    fs.mkdirSync(h5);
    execFileSync(python, [script, h5]);
  }
});
// A copy: Buffer.slice() is a view, and tests patch their copies.
const file = (name: string): Uint8Array => Uint8Array.from(fs.readFileSync(path.join(h5, name)));

async function inspect(b: Uint8Array, name = 'm.h5'): Promise<ModelInfo> {
  const src = new BufferSource(b);
  const probe = createProbe(src, name);
  expect(keras.match(probe)).toBe(true);
  const info = await keras.inspect(src, probe, ctx);
  expectConforms(keras, info.metadata);
  return info;
}

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

const matches = (b: Uint8Array): boolean => keras.match(createProbe(new BufferSource(b), 'x'));

/** A Keras v3 `.keras` zip as `model.save` lays it out. */
function kerasV3(config: unknown, metadata: unknown = { keras_version: '3.4.1', date_saved: '2024-07-01@10:00:00' }): Uint8Array {
  return buildZip(
    [
      ['metadata.json', enc.encode(JSON.stringify(metadata))],
      ['config.json', enc.encode(JSON.stringify(config))],
      ['model.weights.h5', new Uint8Array(128)],
    ],
    0,
    { deflate: true },
  );
}

const V3_CONFIG = {
  module: 'keras',
  class_name: 'Sequential',
  config: {
    name: 'wake_word',
    layers: [
      {
        module: 'keras.layers',
        class_name: 'InputLayer',
        config: { name: 'in', batch_shape: [null, 16000], dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } } },
      },
      { module: 'keras.layers', class_name: 'Conv1D', config: { name: 'c' } },
      { module: 'keras.layers', class_name: 'Dense', config: { name: 'd1' } },
      { module: 'keras.layers', class_name: 'Dense', config: { name: 'd2' } },
    ],
  },
  compile_config: { optimizer: { module: 'keras.optimizers', class_name: 'RMSprop', config: {} }, loss: 'binary_crossentropy' },
};

describe.skipIf(python === undefined)('keras: HDF5 files written by h5py as Keras lays them out (skipped without python3-h5py)', () => {
  it('reads a Keras 2 Sequential model: versions, model class and name, layers, training config; Lambda is flagged', async () => {
    const info = await inspect(file('keras2-sequential.h5'));
    expect(info.confidence).toBe('high');
    expect(info.metadata).toEqual({
      container: 'hdf5',
      kerasVersion: '2.15.0',
      backend: 'tensorflow',
      weightsOnly: false,
      modelClass: 'Sequential',
      modelName: 'kiosk_classifier',
      inputs: [{ name: 'input', shape: [null, 28, 28, 1] }],
      layerCount: 6,
      layers: { InputLayer: 1, Conv2D: 1, Flatten: 1, Dense: 2, Lambda: 1 },
      lambdaLayers: 1,
      customObjects: [],
      optimizer: 'Adam',
      loss: 'categorical_crossentropy',
      superblockVersion: 0,
      attributes: ['keras_version', 'backend', 'model_config', 'training_config'],
    } satisfies KerasMetadata);
    expect(info.warnings).toEqual([
      { severity: 'error', code: 'security', message: 'Keras model has 1 Lambda layer: Python code inside the model, run when it is loaded or called.' },
    ]);
    expect(keras.card(info.metadata)).toEqual({
      name: 'kiosk_classifier',
      architecture: 'Sequential',
      producer: 'keras',
      producerVersion: '2.15.0',
      format: 'keras',
      formatVersion: 'hdf5-superblock-0',
      inputs: [{ name: 'input', shape: [null, 28, 28, 1] }],
      outputs: [],
      weightTypes: [],
      operators: [
        { name: 'Dense', count: 2, custom: false },
        { name: 'Conv2D', count: 1, custom: false },
        { name: 'Flatten', count: 1, custom: false },
        { name: 'InputLayer', count: 1, custom: false },
        { name: 'Lambda', count: 1, custom: false },
      ],
      customOperators: false,
    });
  });

  it('reads variable-length string attributes of a libver=latest file (superblock 3, object header 2) with nested models and custom objects', async () => {
    const info = await inspect(file('keras3-functional-latest.h5'));
    expect(info.metadata).toMatchObject({
      kerasVersion: '3.4.1',
      backend: 'jax',
      modelClass: 'Functional',
      modelName: 'detector',
      layerCount: 6,
      layers: { InputLayer: 1, Sequential: 1, Conv2D: 1, ReLU: 1, BoxDecoder: 1, Dense: 1 },
      customObjects: ['acme.layers.BoxDecoder'],
      superblockVersion: 3,
    });
    expect(info.warnings).toEqual([
      {
        severity: 'warning',
        code: 'security',
        message: 'Keras model uses custom objects from outside Keras (acme.layers.BoxDecoder): loading it imports their code.',
      },
    ]);
    expect(keras.card(info.metadata).customOperators).toBe(true);
  });

  it('reads the attributes of a model with 16 MiB of weights through a few small reads', async () => {
    const inner = new BufferSource(file('big.h5'));
    let bytesRead = 0;
    const src = {
      size: inner.size,
      read: (o: number, n: number) => {
        const b = inner.read(o, n);
        bytesRead += b.length;
        return b;
      },
    };
    const probe = createProbe(src, 'big.h5');
    expect(keras.match(probe)).toBe(true);
    const info = await keras.inspect(src, probe, ctx);
    expect(info.metadata).toMatchObject({ modelClass: 'Sequential', kerasVersion: '2.15.0' });
    expect(src.size).toBeGreaterThan(16 * 1024 * 1024);
    expect(bytesRead).toBeLessThan(256 * 1024);
  });

  it('finds the superblock after a user block', async () => {
    const b = file('userblock.h5');
    expect(findSuperblock(b)).toBe(1024);
    const info = await inspect(b);
    expect(info.metadata).toMatchObject({ userBlock: 1024, kerasVersion: '2.15.0', modelClass: 'Sequential' });
  });

  it('reads a save_weights file as weights only', async () => {
    const info = await inspect(file('weights.h5'));
    expect(info.metadata).toMatchObject({ weightsOnly: true, kerasVersion: '2.15.0', layerCount: 0, attributes: ['backend', 'keras_version', 'layer_names'] });
    expect(info.warnings).toBeUndefined();
  });

  it('does not match an HDF5 file without Keras attributes, and says why when asked', async () => {
    const b = file('plain.h5');
    expect(matches(b)).toBe(false);
    expect((await formatError(keras.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'plain.h5'), ctx))).message).toBe(
      'Invalid Keras HDF5 model: the root group has no keras_version, model_config or layer_names attribute (it has title).',
    );
  });

  it('reads root attributes in dense storage (a fractal heap) as h5py reads them', async () => {
    const info = await inspect(file('dense.h5'));
    expect(info.confidence).toBe('high');
    expect(info.metadata).toMatchObject({ kerasVersion: '2.15.0', backend: 'tensorflow', modelClass: 'Sequential', layerCount: 6 });
    expect(info.metadata).not.toHaveProperty('denseAttributes');
    expect((info.metadata as KerasMetadata).attributes).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `extra${i}`),
      'keras_version',
      'backend',
      'model_config',
    ]);
    // A 100 KB model_config among them: its 100,550 characters as h5py reads them.
    const huge = readHdf5Root(new BufferSource(file('dense-huge.h5')), 0);
    const config = huge.attributes.find((a) => a.name === 'model_config')?.value;
    expect(typeof config === 'string' && config.length).toBe(100_550);
    expect(huge.denseAttributes).toBe(false);
  });

  it('reports a dense heap it cannot walk as a medium-confidence Keras model with a note, when the name claims it', async () => {
    const b = file('dense.h5');
    const heap = Buffer.from(b).indexOf('FRHP');
    new DataView(b.buffer).setUint16(heap + 7, 16, true); // I/O filters: compressed blocks, not decoded
    expect(readHdf5Root(new BufferSource(b), 0).denseAttributes).toBe(true);
    expect(matches(b)).toBe(false);
    const info = await keras.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'dense.h5'), ctx);
    expectConforms(keras, info.metadata);
    expect(info.confidence).toBe('medium');
    expect(info.metadata).toMatchObject({ denseAttributes: true, attributes: [] });
    expect(info.warnings?.map((w) => [w.severity, w.code])).toEqual([['info', 'unsupported']]);
  });

  it('rejects a broken fractal heap naming it', async () => {
    const b = file('dense.h5');
    const block = Buffer.from(b).indexOf('FHDB');
    b[block] = 0x58;
    expect((await formatError(keras.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'dense.h5'), ctx))).message).toMatch(
      /^Invalid HDF5: direct block at address \d+ lacks its 'FHDB' signature\.$/,
    );
  });

  it('rejects broken superblocks and headers naming the field, never throwing anything else', async () => {
    const good = file('keras2-sequential.h5');
    const v9 = good.slice();
    v9[8] = 9;
    expect((await formatError(keras.inspect(new BufferSource(v9), createProbe(new BufferSource(v9), 'm.h5'), ctx))).message).toBe(
      'Invalid HDF5: superblock version 9 at offset 8 is not 0, 1, 2 or 3.',
    );
    const offs = good.slice();
    offs[13] = 3;
    expect((await formatError(keras.inspect(new BufferSource(offs), createProbe(new BufferSource(offs), 'm.h5'), ctx))).message).toBe(
      'Invalid HDF5: size of offsets 3 in the superblock at offset 0 is not 2, 4 or 8.',
    );
    // Every truncation and random bytes behind the signature: typed errors only.
    for (let n = 8; n < 4000; n += 97) {
      try {
        readHdf5Root(new BufferSource(good.subarray(0, n)), 0);
      } catch (err) {
        expect(err).toBeInstanceOf(AibomError);
      }
    }
  });

  it('refuses an absurd message count in the root object header, naming it', async () => {
    const b = file('keras2-sequential.h5');
    const v = new DataView(b.buffer);
    // Superblock 0: the root symbol table entry's object header address sits at 24 + 4 x 8 + 8.
    const header = Number(v.getBigUint64(64, true));
    v.setUint16(header + 2, 60_000, true);
    expect((await formatError(keras.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'm.h5'), ctx))).message).toBe(
      `Invalid HDF5: object header at address ${header} declares 60000 messages, more than 10000.`,
    );
  });

  it('rejects a model_config that is not JSON', async () => {
    const good = file('keras2-sequential.h5');
    const text = Buffer.from(good).toString('latin1');
    const at = text.indexOf('{"class_name": "Sequential"');
    expect(at).toBeGreaterThan(0);
    const bad = good.slice();
    bad[at] = 0x21; // '!'
    expect((await formatError(inspect(bad))).message).toMatch(/^Invalid Keras model: model_config is not valid JSON \(/);
  });
});

describe('keras: the HDF5 reader on hostile bytes (no h5py needed)', () => {
  it('throws only typed errors on random bytes behind the signature, for every superblock version', () => {
    let seed = 9;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    let failures = 0;
    for (let i = 0; i < 400; i++) {
      const b = Uint8Array.from({ length: 600 }, rnd);
      b.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, i % 4]);
      try {
        readHdf5Root(new BufferSource(b), 0);
      } catch (err) {
        expect(err).toBeInstanceOf(AibomError);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(300);
  });

  it('finds the superblock at 0 or after a power-of-two user block only', () => {
    const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
    const at = (offset: number): Uint8Array => {
      const b = new Uint8Array(70_000);
      b.set(sig, offset);
      return b;
    };
    expect(findSuperblock(at(0))).toBe(0);
    expect(findSuperblock(at(2048))).toBe(2048);
    expect(findSuperblock(at(32768))).toBe(32768);
    expect(findSuperblock(at(100))).toBeUndefined();
    expect(matches(at(100))).toBe(false);
  });
});

/** HDF5 files written by many HDF5 library versions: PyTables' test data in its wheel, extracted at test time. */
const pypi = process.env.AIBOM_PYPI_FILES ?? '/opt/pypi/files';
const tablesWheel = fs.existsSync(pypi) ? fs.readdirSync(pypi).find((f) => /^tables-3\.11\.1-.*\.whl$/.test(f)) : undefined;
if (tablesWheel === undefined) console.warn(`SKIP: no tables-3.11.1 wheel in ${pypi}; the test over its HDF5 files is skipped.`);

describe.skipIf(tablesWheel === undefined)('keras: 47 real HDF5 files of the tables 3.11.1 wheel are read and not taken for Keras (skipped without it)', () => {
  it('reads every root group (strings, variable-length arrays, big-endian files) and matches none', () => {
    const dir = path.join(tmp, 'tables');
    run('unzip', ['-qo', path.join(pypi, tablesWheel!), 'tables/*.h5', '-d', dir]);
    const files = run('find', [dir, '-name', '*.h5']).trim().split('\n').sort();
    expect(files.length).toBe(47);
    for (const f of files) {
      const b = Uint8Array.from(fs.readFileSync(f));
      const root = readHdf5Root(new BufferSource(b), findSuperblock(b)!);
      expect(root.superblockVersion, f).toBe(0);
      expect(matches(b), f).toBe(false);
    }
    const vlen = readHdf5Root(new BufferSource(Uint8Array.from(fs.readFileSync(path.join(dir, 'tables/tests/vlstr_attr.h5')))), 0);
    expect(vlen.attributes.find((a) => a.name === 'vlen_str_scalar')?.value).toBe('vlen_str_scalar');
    expect(vlen.attributes.find((a) => a.name === 'vlen_str_array')?.value).toEqual(['vlen_str_array_0', 'vlen_str_array_1', 'vlen_str_array_2']);
    // The values h5py 3.7 reads from the same file; a 2x2 matrix comes out flat, in row-major order.
    expect(vlen.attributes.find((a) => a.name === 'vlen_str_matrix')?.value).toEqual([
      'vlen_str_matrix_00',
      'vlen_str_matrix_01',
      'vlen_str_matrix_10',
      'vlen_str_matrix_11',
    ]);
  });
});

describe('keras: v3 .keras zips', () => {
  it('reads metadata.json and config.json: version, date, class, layers, compile config, weights member', async () => {
    const info = await inspect(kerasV3(V3_CONFIG), 'wake.keras');
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toEqual({
      container: 'zip',
      kerasVersion: '3.4.1',
      dateSaved: '2024-07-01@10:00:00',
      weightsOnly: false,
      modelClass: 'Sequential',
      modelName: 'wake_word',
      inputs: [{ name: 'in', shape: [null, 16000], dtype: 'float32' }],
      layerCount: 4,
      layers: { InputLayer: 1, Conv1D: 1, Dense: 2 },
      lambdaLayers: 0,
      customObjects: [],
      optimizer: 'RMSprop',
      loss: 'binary_crossentropy',
      weightsFile: 'model.weights.h5',
    } satisfies KerasMetadata);
    expect(keras.card(info.metadata).inputs).toEqual([{ name: 'in', type: 'float32', shape: [null, 16000] }]);
    expect(keras.card(info.metadata)).toMatchObject({
      name: 'wake_word',
      architecture: 'Sequential',
      producer: 'keras',
      producerVersion: '3.4.1',
      formatVersion: 'keras-v3',
    });
  });

  it('flags Lambda layers and custom objects in a v3 config', async () => {
    const cfg = structuredClone(V3_CONFIG);
    (cfg.compile_config as Record<string, unknown>).loss = {
      module: 'acme.losses',
      class_name: 'function',
      config: 'focal_loss',
      registered_name: 'acme>focal_loss',
    };
    cfg.config.layers.push(
      { module: 'keras.layers', class_name: 'Lambda', config: { name: 'l' } },
      { module: 'evil.pkg', class_name: 'Hook', config: { name: 'h' } },
    );
    const info = await inspect(kerasV3(cfg));
    expect(info.warnings?.map((w) => [w.severity, w.code])).toEqual([
      ['error', 'security'],
      ['warning', 'security'],
    ]);
    expect(info.metadata).toMatchObject({ lambdaLayers: 1, customObjects: ['acme.losses.focal_loss', 'evil.pkg.Hook'], loss: 'focal_loss' });
  });

  it('matches only zips with metadata.json naming keras_version and config.json', () => {
    expect(matches(kerasV3(V3_CONFIG))).toBe(true);
    expect(matches(kerasV3(V3_CONFIG, { version: '1.0' }))).toBe(false);
    expect(matches(buildZip([['metadata.json', enc.encode('{"keras_version":"3"}')]], 0))).toBe(false);
    expect(
      matches(
        buildZip(
          [
            ['config.json', enc.encode('{}')],
            ['metadata.json', enc.encode('not json')],
          ],
          0,
        ),
      ),
    ).toBe(false);
    expect(
      matches(
        buildZip(
          [
            ['model/config.json', enc.encode('{}')],
            ['model/metadata.json', enc.encode('{"keras_version":"3"}')],
          ],
          0,
        ),
      ),
    ).toBe(false);
    expect(matches(enc.encode('\x89HDF\r\n\x1a\n'))).toBe(false);
  });

  it('rejects a config.json that is not a model config', async () => {
    const zip = buildZip(
      [
        ['metadata.json', enc.encode('{"keras_version":"3.4.1"}')],
        ['config.json', enc.encode('[1, 2]')],
      ],
      0,
    );
    expect((await formatError(inspect(zip))).message).toBe('Invalid Keras model: config.json is not a JSON object.');
    const cut = buildZip(
      [
        ['metadata.json', enc.encode('{"keras_version":"3.4.1"}')],
        ['config.json', enc.encode('{"class_name": ')],
      ],
      0,
    );
    expect((await formatError(inspect(cut))).message).toMatch(/^Invalid Keras model: config.json is not valid JSON/);
  });
});

describe('keras: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;

  it('finds a v3 .keras zip inside a tar and does not walk its members', async () => {
    const d = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(d, 'usr/share/voice'), { recursive: true });
    fs.writeFileSync(path.join(d, 'usr/share/voice/wake.keras'), kerasV3(V3_CONFIG));
    if (python !== undefined) fs.copyFileSync(path.join(h5, 'keras2-sequential.h5'), path.join(d, 'usr/share/voice/classifier.h5'));
    const tar = path.join(tmp, 'rootfs.tar');
    run('tar', ['-cf', tar, '-C', d, 'usr']);
    const inv = valid(await scan([tar]));
    const models = inv.components.filter((c) => c.kind === 'model');
    const expected = ['keras:Sequential:usr/share/voice/wake.keras'];
    if (python !== undefined) expected.unshift('keras:Sequential:usr/share/voice/classifier.h5');
    expect(
      models.map((m) => (m.kind === 'model' ? `${m.model.format}:${m.model.card.architecture}:${m.locations[0]!.path.split('!/')[1]}` : '')).sort(),
    ).toEqual(expected);
    expect(inv.components.some((c) => c.locations.some((l) => l.path.endsWith('model.weights.h5')))).toBe(false);
    expect(inv.problems.map((p) => [p.code, p.severity])).toEqual(python === undefined ? [] : [['security', 'error']]);
  });
});
