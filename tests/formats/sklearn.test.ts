import fs from 'node:fs';
import zlib from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { sklearn, type SklearnMetadata } from '../../src/formats/sklearn.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { readPickle } from '../../src/decoders/pickle.js';
import { maliciousPickle, PickleBuilder } from '../builders/pickle-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../fixtures/sklearn');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-sklearn-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const fixture = (name: string): Uint8Array => fs.readFileSync(path.join(fixtures, name));
const matches = (b: Uint8Array): boolean => sklearn.match(createProbe(new BufferSource(b), 'm.pkl'));

async function inspect(b: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(b);
  const probe = createProbe(src, 'm.pkl');
  expect(sklearn.match(probe)).toBe(true);
  const info = await sklearn.inspect(src, probe, ctx);
  expectConforms(sklearn, info.metadata);
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

/** An estimator pickle as scikit-learn writes one (protocol 4): STACK_GLOBAL class, NEWOBJ, BUILD of its __dict__. */
function estimator(module: string, name: string, state: (p: PickleBuilder) => PickleBuilder = (p) => p): Uint8Array {
  const p = new PickleBuilder().proto(4).frame(0).stackGlobal(module, name).memoize().emptyTuple().newobj().emptyDict().mark();
  p.str('n_estimators').int(10);
  state(p);
  p.str('_sklearn_version').str('1.3.2').setitems().build();
  return p.stop().bytesOut();
}

describe('sklearn: real files written by scikit-learn 1.9.1 and joblib 1.6.0', () => {
  it('reads a joblib LogisticRegression, skipping the raw array data joblib writes', async () => {
    const info = await inspect(fixture('logreg.joblib'));
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toEqual({
      serializer: 'joblib',
      pickleProtocol: 4,
      libraries: ['scikit-learn'],
      estimator: 'sklearn.linear_model._logistic.LogisticRegression',
      estimators: { 'sklearn.linear_model._logistic.LogisticRegression': 1 },
      sklearnVersion: '1.9.1',
      arrays: 4, // classes_, coef_, intercept_, n_iter_
      globals: ['joblib.numpy_pickle.NumpyArrayWrapper', 'numpy.dtype', 'numpy.ndarray', 'sklearn.linear_model._logistic.LogisticRegression'],
      calls: ['joblib.numpy_pickle.NumpyArrayWrapper', 'numpy.dtype', 'sklearn.linear_model._logistic.LogisticRegression'],
    } satisfies SklearnMetadata);
    expect(sklearn.card(info.metadata)).toEqual({
      architecture: 'LogisticRegression',
      producer: 'scikit-learn',
      producerVersion: '1.9.1',
      format: 'sklearn',
      formatVersion: 'pickle protocol 4',
      inputs: [],
      outputs: [],
      weightTypes: [],
      operators: [{ name: 'LogisticRegression', domain: 'sklearn', count: 1, custom: false }],
      customOperators: false,
    });
  });

  it('reads a protocol 0 pickle (no PROTO opcode): copy_reg._reconstructor builds the estimator', async () => {
    const info = await inspect(fixture('scaler-protocol0.pkl'));
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toMatchObject({
      pickleProtocol: 0,
      estimator: 'sklearn.preprocessing._data.StandardScaler',
      estimators: { 'sklearn.preprocessing._data.StandardScaler': 1 },
      sklearnVersion: '1.9.1',
      arrays: 3,
    });
    expect(info.metadata.globals).toContain('copy_reg._reconstructor');
    expect(sklearn.card(info.metadata)).not.toHaveProperty('formatVersion');
    // A protocol 0 text that is not a pickle of an estimator.
    expect(matches(new TextEncoder().encode('csklearn.notes\nabout\nthis is text, not a pickle'))).toBe(false);
  });

  it('reads a zlib-compressed joblib file (joblib.dump(..., compress=3)) like the plain one', async () => {
    const info = await inspect(fixture('logreg-zlib.joblib'));
    const plain = await inspect(fixture('logreg.joblib'));
    expect(info.metadata).toEqual({ ...plain.metadata, compression: 'zlib' });
    expect(info.warnings).toBeUndefined();
  });

  it('does not take other zlib streams for estimators, and rejects a broken one it matched', async () => {
    expect(matches(zlib.deflateSync(Buffer.from('hello world'.repeat(100))))).toBe(false);
    expect(matches(zlib.deflateSync(maliciousPickle().bytesOut()))).toBe(false);
    const b = fixture('logreg-zlib.joblib');
    const cut = b.subarray(0, b.length - 40);
    expect(matches(cut)).toBe(true);
    expect((await formatError(inspect(cut))).message).toMatch(/^Invalid joblib file: its zlib stream does not inflate within 268435456 bytes \(/);
  });

  it.each([
    ['pipeline-protocol5.pkl', 5, ['numpy.core.multiarray.scalar', 'numpy.core.numeric._frombuffer']],
    ['pipeline-protocol2.pkl', 2, ['_codecs.encode', 'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar', 'numpy.ndarray']],
  ])('reads a pickled Pipeline (%s): every estimator class, no warning', async (file, protocol, numpyGlobals) => {
    const info = await inspect(fixture(file));
    expect(info.warnings).toBeUndefined();
    const md = info.metadata as SklearnMetadata;
    expect(md).toMatchObject({ serializer: 'pickle', pickleProtocol: protocol, estimator: 'sklearn.pipeline.Pipeline', sklearnVersion: '1.9.1', arrays: 7 });
    expect(md.estimators).toEqual({
      'sklearn.pipeline.Pipeline': 1,
      'sklearn.preprocessing._data.StandardScaler': 1,
      'sklearn.tree._classes.DecisionTreeClassifier': 1,
      'sklearn.tree._tree.Tree': 1,
    });
    for (const g of numpyGlobals) expect(md.globals).toContain(g);
    expect(md.walkStopped).toBeUndefined();
  });
});

describe('sklearn: builder-made estimators', () => {
  it('reads XGBoost and LightGBM estimators, with no scikit-learn version unless recorded', async () => {
    const xgb = await inspect(estimator('xgboost.sklearn', 'XGBClassifier'));
    expect(xgb.metadata).toMatchObject({ libraries: ['xgboost'], estimator: 'xgboost.sklearn.XGBClassifier', sklearnVersion: '1.3.2' });
    const lgb = new PickleBuilder().proto(3).global('lightgbm.basic', 'Booster').emptyTuple().newobj().emptyDict().build().stop();
    const info = await inspect(lgb.bytesOut());
    expect(info.metadata).toMatchObject({ libraries: ['lightgbm'], estimator: 'lightgbm.basic.Booster', estimators: { 'lightgbm.basic.Booster': 1 } });
    expect(sklearn.card(info.metadata)).not.toHaveProperty('producer');
  });

  it('flags an estimator pickle that also calls os.system', async () => {
    const evil = estimator('sklearn.svm._classes', 'SVC', (p) => p.str('payload').global('os', 'system').str('id').tupleN(1).reduce());
    const info = await inspect(evil);
    expect(info.warnings).toEqual([
      {
        severity: 'error',
        code: 'security',
        message: 'unsafe-deserialization: the pickle imports os.system, which can run code or touch the system when the pickle is loaded.',
      },
    ]);
  });

  it('warns about classes outside the allowlist (a custom transformer)', async () => {
    const p = estimator('sklearn.pipeline', 'Pipeline', (b) => b.str('custom').global('mycompany.features', 'Cleaner').emptyTuple().newobj());
    const info = await inspect(p);
    expect(info.warnings?.map((w) => [w.severity, w.message])).toEqual([
      [
        'warning',
        'unsafe-deserialization: the pickle imports mycompany.features.Cleaner, outside the allowlist of known-safe constructors; loading it imports and calls them.',
      ],
    ]);
  });
});

describe('sklearn: look-alikes, broken and hostile pickles', () => {
  it('matches only pickles whose head names an estimator class', () => {
    expect(matches(fixture('logreg.joblib'))).toBe(true);
    expect(matches(new PickleBuilder().proto(4).emptyDict().str('model').str('sklearn.svm.SVC').setitem().stop().bytesOut())).toBe(false);
    expect(matches(new PickleBuilder().proto(2).global('sklearn.utils', '_reconstruct_helper').stop().bytesOut())).toBe(false);
    expect(matches(maliciousPickle().bytesOut())).toBe(false);
    expect(matches(Uint8Array.from([0x80, 0x04, 0xff, 0xff]))).toBe(false);
    expect(matches(new TextEncoder().encode('sklearn.svm.SVC'))).toBe(false);
  });

  it('rejects random bytes behind an estimator global, naming the opcode and offset', async () => {
    let seed = 5;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const head = new PickleBuilder().proto(2).global('sklearn.svm._classes', 'SVC').bytesOut();
    for (let i = 0; i < 50; i++) {
      const b = Uint8Array.from([...head, ...Array.from({ length: 100 }, rnd)]);
      if (!matches(b)) continue;
      try {
        await sklearn.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'x.pkl'), ctx);
      } catch (err) {
        expect(err).toBeInstanceOf(FormatError);
        expect((err as Error).message).toMatch(/^Invalid pickle: /);
      }
    }
  });

  it('rejects a truncated joblib file as truncated', async () => {
    const b = fixture('logreg.joblib');
    const err = await formatError(inspect(b.subarray(0, 500)));
    expect(err.code).toBe('truncated');
    expect(err.message).toMatch(/^Invalid pickle: (joblib array data|opcode|.*) at offset \d+ needs \d+ bytes, but the stream ends at 500\.$/);
  });

  it('rejects a joblib array whose shape is absurd, naming the offset', async () => {
    const p = new PickleBuilder().proto(4).stackGlobal('sklearn.linear_model', 'Ridge').emptyTuple().newobj();
    p.stackGlobal('joblib.numpy_pickle', 'NumpyArrayWrapper').emptyTuple().newobj().emptyDict().mark();
    p.str('shape').int(1_000_000).int(1_000_000).tupleN(2).str('dtype').global('numpy', 'dtype').str('f8').bool(false).bool(true).tupleN(3).reduce();
    p.setitems().build();
    const err = await formatError(inspect(p.bytesOut()));
    expect(err.message).toMatch(/^Invalid pickle: joblib array data at offset \d+ needs 8000000000000 bytes, but the stream ends at \d+\.$/);
  });

  it('reports an absurd memo as a medium-confidence model with a limit warning', async () => {
    const p = new PickleBuilder().proto(4).stackGlobal('sklearn.svm', 'SVC').emptyTuple().newobj();
    for (let i = 0; i < 1_000_100; i++) p.memoize();
    const info = await inspect(p.bytesOut());
    expect(info.confidence).toBe('medium');
    expect(info.metadata.walkStopped).toMatch(/^memo limit of 1000000 entries reached at offset \d+$/);
    expect(info.warnings?.map((w) => w.code)).toEqual(['limit']);
  }, 30_000);

  it('says a pickle of no known library is not scikit-learn, when asked by name', async () => {
    const b = maliciousPickle().bytesOut();
    expect((await formatError(sklearn.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'm.joblib'), ctx))).message).toBe(
      'Invalid scikit-learn pickle: its 1 globals name no scikit-learn, XGBoost, LightGBM, CatBoost or imbalanced-learn class.',
    );
  });
});

/** Real pickles of other kinds from the package cache, extracted at test time: look-alikes that must walk cleanly. */
const pypi = process.env.AIBOM_PYPI_FILES ?? '/opt/pypi/files';
const wheel = (re: RegExp): string | undefined => (fs.existsSync(pypi) ? fs.readdirSync(pypi).find((f) => re.test(f)) : undefined);
const joblibWheel = wheel(/^joblib-1\.6\.0-.*\.whl$/);
const statsmodelsWheel = wheel(/^statsmodels-0\.15\.0-.*\.whl$/);
if (joblibWheel === undefined || statsmodelsWheel === undefined)
  console.warn(`SKIP: no joblib-1.6.0 or statsmodels-0.15.0 wheel in ${pypi}; the test over their pickles is skipped.`);

describe.skipIf(joblibWheel === undefined || statsmodelsWheel === undefined)(
  'sklearn: real pickles of joblib 0.9-0.11 and statsmodels (from the joblib 1.6.0 and statsmodels 0.15.0 wheels; skipped without them)',
  () => {
    it('walks joblib test pickles to their end (raw array data skipped) and takes none for an estimator', () => {
      const dir = path.join(tmp, 'wheels');
      run('unzip', ['-qo', path.join(pypi, joblibWheel!), 'joblib/test/data/joblib_0.*.pkl', '-d', dir]);
      run('unzip', ['-qo', path.join(pypi, statsmodelsWheel!), 'statsmodels/tsa/statespace/tests/results/sm-0.9-sarimax.pkl', '-d', dir]);
      const files = run('find', [dir, '-name', '*.pkl']).trim().split('\n').sort();
      expect(files.length).toBe(11);
      for (const f of files) {
        const b = Uint8Array.from(fs.readFileSync(f));
        const s = readPickle(new BufferSource(b));
        expect(s.stopped, f).toBeUndefined();
        expect(s.end, f).toBe(b.length);
        expect(matches(b), f).toBe(false);
      }
      const wrapped = readPickle(new BufferSource(Uint8Array.from(fs.readFileSync(path.join(dir, 'joblib/test/data/joblib_0.11.0_pickle_py36_np111.pkl')))));
      expect(wrapped.globals).toContain('joblib.numpy_pickle.NumpyArrayWrapper');
    });
  },
);

describe('sklearn: end to end', () => {
  it('finds the real estimators inside a tar and a zip', async () => {
    const d = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(d, 'srv/ml'), { recursive: true });
    fs.writeFileSync(path.join(d, 'srv/ml/model.joblib'), fixture('logreg.joblib'));
    fs.writeFileSync(path.join(d, 'srv/ml/pipeline.pkl'), fixture('pipeline-protocol5.pkl'));
    fs.writeFileSync(path.join(d, 'srv/ml/settings.pkl'), new PickleBuilder().proto(4).emptyDict().stop().bytesOut());
    const tar = path.join(tmp, 'rootfs.tar');
    run('tar', ['-cf', tar, '-C', d, 'srv']);
    const zip = path.join(tmp, 'app.zip');
    fs.writeFileSync(zip, buildZip([['assets/fraud.pkl', fixture('pipeline-protocol2.pkl')]], 0));
    const inv = inventorySchema.parse(await scan([tar, zip])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(
      models.map((m) => (m.kind === 'model' ? `${m.model.format}:${m.model.card.architecture}:${m.locations[0]!.path.split('!/')[1]}` : '')).sort(),
    ).toEqual(['sklearn:LogisticRegression:srv/ml/model.joblib', 'sklearn:Pipeline:assets/fraud.pkl', 'sklearn:Pipeline:srv/ml/pipeline.pkl']);
    expect(inv.problems).toEqual([]);
  });
});
