import { z } from 'zod';
import { pickleSecurity, PICKLE_LIMITS, readPickle, symString, symTarget, type PickleSummary, type Sym } from '../decoders/pickle.js';
import zlib from 'node:zlib';
import { FormatError, LimitError } from '../errors.js';
import { BufferSource, MAX_READ, type ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * Classic machine-learning models saved with pickle or joblib (`joblib.dump`, `pickle.dump`): a pickle
 * stream (protocol 2 to 5) whose globals name estimator classes of scikit-learn, XGBoost, LightGBM,
 * CatBoost or imbalanced-learn. joblib writes the same stream with numpy arrays replaced by
 * `joblib.numpy_pickle.NumpyArrayWrapper` objects followed by their raw bytes, which the pickle reader
 * skips. The stream is walked as opcodes (decoders/pickle.ts), never executed: the estimator classes,
 * the scikit-learn version the estimators record (`_sklearn_version` in their state) and every global
 * with its security judgement are reported.
 *
 * joblib's default compression (`compress=True` or a level) wraps the stream in zlib: it is inflated
 * here (the head for `match`, the whole stream up to 256 MiB for `inspect`); its gzip, bz2 and xz
 * wrappers are opened by the container readers first. Protocol 0 and 1 pickles have no PROTO opcode:
 * those that open with `copy_reg._reconstructor` or an estimator GLOBAL are recognised. Not handled:
 * lzma-alone and lz4 wrappers.
 */

/** Module prefixes of the libraries whose classes make a pickle a model. */
const LIBRARIES: Readonly<Record<string, string>> = {
  sklearn: 'scikit-learn',
  xgboost: 'xgboost',
  lightgbm: 'lightgbm',
  catboost: 'catboost',
  imblearn: 'imbalanced-learn',
};
/** Globals of those libraries (and numpy's random state) are imported by design: not flagged as unknown. */
const LIBRARY_SAFE = [...Object.keys(LIBRARIES).map((m) => `${m}.*`), 'numpy.random.*'];
const HEAD_OPCODES = 200_000;

function libraryOf(global: string): string | undefined {
  const top = global.slice(0, global.indexOf('.'));
  return Object.hasOwn(LIBRARIES, top) ? top : undefined;
}

/** A class name that looks like an estimator (CamelCase), not a helper function (`_reconstruct`). */
function isClass(global: string): boolean {
  const name = global.slice(global.lastIndexOf('.') + 1);
  return /^[A-Z]/.test(name);
}

// ---- metadata schema ----------------------------------------------------------------------------------

export const sklearnMetadataSchema = z
  .strictObject({
    serializer: z.enum(['pickle', 'joblib']).describe('`joblib` when the stream holds joblib NumpyArrayWrapper arrays, `pickle` otherwise'),
    compression: z.literal('zlib').optional().describe("`zlib` when the stream is wrapped in joblib's zlib compression"),
    pickleProtocol: z.number().int().min(0).max(5).describe('Pickle protocol (PROTO opcode)'),
    libraries: z
      .array(z.string())
      .describe('Libraries whose classes the pickle names (`scikit-learn`, `xgboost`, `lightgbm`, `catboost`, `imbalanced-learn`), sorted'),
    estimator: z.string().optional().describe('Class of the top-level object (`sklearn.pipeline.Pipeline`) when it is one of those libraries'),
    estimators: z.record(z.string(), z.number().int().positive()).describe('Classes of those libraries the pickle instantiates, with how many times'),
    sklearnVersion: z.string().optional().describe('The `_sklearn_version` the top-level estimator records (the scikit-learn that saved it)'),
    arrays: z.number().int().nonnegative().describe('numpy arrays in the stream (joblib wrappers and numpy reconstructions)'),
    globals: z.array(z.string()).describe('Every global the pickle imports (`module.name`), sorted, unique: what a loader would import'),
    calls: z.array(z.string()).describe('Globals the pickle calls or builds (REDUCE, NEWOBJ, BUILD), sorted, unique'),
    walkStopped: z.string().optional().describe('Why the walk stopped before the end of the pickle (a limit, or joblib data it could not size)'),
  })
  .meta({
    title: 'scikit-learn / joblib metadata',
    description:
      'Pickles and joblib files of classic ML estimators (scikit-learn, XGBoost, LightGBM, CatBoost, imbalanced-learn), read as opcodes and never executed: estimator classes, the saving scikit-learn version, and the globals a loader would import (their security judgement is a problem of code `security`).',
  });

export type SklearnMetadata = z.output<typeof sklearnMetadataSchema>;

/** The card: the top estimator as architecture, scikit-learn as producer with its version, classes as operators. */
export function sklearnCard(md: SklearnMetadata): ModelCard {
  const short = (g: string): string => g.slice(g.lastIndexOf('.') + 1);
  const producer = md.sklearnVersion !== undefined ? 'scikit-learn' : undefined;
  return {
    ...opt('architecture', md.estimator === undefined ? undefined : short(md.estimator)),
    ...opt('producer', producer),
    ...opt('producerVersion', md.sklearnVersion),
    format: 'sklearn',
    ...opt('formatVersion', md.pickleProtocol > 0 ? `pickle protocol ${md.pickleProtocol}` : undefined),
    inputs: [],
    outputs: [],
    weightTypes: [],
    operators: sortCardOperators(
      Object.entries(md.estimators).map(([name, count]) => ({ name: short(name), domain: name.slice(0, name.indexOf('.')), count, custom: false })),
    ),
    customOperators: false,
  };
}

// ---- reading -------------------------------------------------------------------------------------------

/** Protocol 2-5 PROTO at offset 0, or a protocol 0/1 pickle that opens with a GLOBAL ('c') line. */
function startsLikePickle(head: Uint8Array): boolean {
  return head.length >= 3 && ((head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) || head[0] === 0x63);
}

/** A zlib header (RFC 1950): CM 8, window at most 32 KiB, no preset dictionary, check bits valid. */
function startsLikeZlib(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x78 && (head[1]! & 0x20) === 0 && ((head[0]! << 8) | head[1]!) % 31 === 0;
}

/** Largest inflated stream read whole by `inspect`. */
const MAX_INFLATED = 256 * 1024 * 1024;

/**
 * The first bytes of a zlib stream: its first 2 KiB inflated (deflate expands at most about 1032 times,
 * so the output stays under the 4 MiB bound and never fails for size); undefined when not zlib. The
 * estimator's class comes first in the pickle, well inside that.
 */
function inflateHead(input: Uint8Array): Uint8Array | undefined {
  try {
    return zlib.inflateSync(input.subarray(0, 2048), { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: 4 * 1024 * 1024 });
  } catch {
    return undefined;
  }
}

/** The pickle bytes of the item: itself, or its zlib stream inflated (for `inspect`, bounded). */
function pickleBytes(probe: Probe, src: ByteSource): { src: ByteSource; compression?: 'zlib' } {
  if (!startsLikeZlib(probe.head)) return { src };
  if (src.size > MAX_READ)
    throw new LimitError(`A zlib-compressed joblib file of ${src.size} bytes is over the ${MAX_READ}-byte read limit.`, 'maxDecompressedBytes');
  let out: Buffer;
  try {
    out = zlib.inflateSync(src.read(0, src.size), { maxOutputLength: MAX_INFLATED });
  } catch (err) {
    throw new FormatError(
      `Invalid joblib file: its zlib stream does not inflate within ${MAX_INFLATED} bytes (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
  return { src: new BufferSource(out), compression: 'zlib' };
}

/**
 * The head walked as a pickle, once per item; undefined when it is not one. The end of the head is
 * taken as a cut even for a small item, so that a truncated file whose head names an estimator is
 * matched, then reported as a broken model by `inspect`.
 */
function headSummary(probe: Probe): PickleSummary | undefined {
  return probe.memo('sklearn.head', () => {
    const head = startsLikeZlib(probe.head) ? inflateHead(probe.head) : probe.head;
    if (head === undefined || !startsLikePickle(head)) return undefined;
    try {
      return readPickle(new BufferSource(head), 0, { ...PICKLE_LIMITS, maxOpcodes: HEAD_OPCODES }, head.length, true);
    } catch (err) {
      if (err instanceof FormatError) return undefined;
      throw err;
    }
  });
}

function stateValue(obj: Sym | undefined, key: string): Sym | undefined {
  const state = obj?.k === 'call' ? obj.state : undefined;
  if (state?.k !== 'dict') return undefined;
  return state.entries.find(([k]) => symString(k) === key)?.[1];
}

function readSklearn(src: ByteSource, compression?: 'zlib'): ModelInfo {
  const s = readPickle(src);
  const libs = new Set<string>();
  for (const g of s.globals) {
    const lib = libraryOf(g);
    if (lib !== undefined) libs.add(LIBRARIES[lib]!);
  }
  if (libs.size === 0) {
    throw new FormatError(
      `Invalid scikit-learn pickle: its ${s.globals.length} globals name no scikit-learn, XGBoost, LightGBM, CatBoost or imbalanced-learn class.`,
    );
  }
  const estimators: Record<string, number> = {};
  for (const [target, n] of s.callCounts) if (libraryOf(target) !== undefined && isClass(target)) estimators[target] = n;
  const top = symTarget(s.result);
  const version = symString(stateValue(s.result, '_sklearn_version'));
  const joblib = s.globals.some((g) => g.endsWith('joblib.numpy_pickle.NumpyArrayWrapper'));
  const arrays = [...s.callCounts]
    .filter(([t]) => /NumpyArrayWrapper$|^numpy\.(_?core\.)?(multiarray\._reconstruct|numeric\._frombuffer)$/.test(t))
    .reduce((a, [, n]) => a + n, 0);
  const md: SklearnMetadata = {
    serializer: joblib ? 'joblib' : 'pickle',
    ...opt('compression', compression),
    pickleProtocol: s.protocol,
    libraries: [...libs].sort(),
    ...opt('estimator', top !== undefined && libraryOf(top) !== undefined ? top : undefined),
    estimators,
    ...opt('sklearnVersion', version),
    arrays,
    globals: s.globals,
    calls: s.calls,
    ...opt('walkStopped', s.stopped),
  };
  const warnings: ModelWarning[] = pickleSecurity(s.globals, 'the pickle', LIBRARY_SAFE);
  if (s.stopped !== undefined)
    warnings.push({ severity: 'warning', code: 'limit', message: `Pickle walk stopped early (${s.stopped}); globals after that point were not seen.` });
  const info: ModelInfo = { confidence: s.stopped === undefined ? 'high' : 'medium', metadata: md };
  if (warnings.length > 0) info.warnings = warnings;
  return info;
}

/**
 * scikit-learn, XGBoost, LightGBM, CatBoost and imbalanced-learn estimators saved by pickle or joblib,
 * recognised by the estimator classes the pickle names in its first 64 KiB. Does not unpickle, load
 * the estimators or read their arrays.
 */
export const sklearn: ModelFormat = {
  id: 'sklearn',
  description: 'scikit-learn, XGBoost, LightGBM or CatBoost estimator saved by pickle or joblib (read as opcodes, never executed)',
  extensions: ['.joblib'],
  signatures: [
    ...[2, 3, 4, 5].map((p) => ({
      offset: 0,
      magic: [0x80, p],
      note: `pickle protocol ${p}; match then requires an estimator class among the globals of the head`,
    })),
    { offset: 0, magic: [0x78], note: "zlib header (joblib's compression): match inflates the head and requires the same" },
    { offset: 0, magic: 'ccopy_reg\n_reconstructor\n', note: 'protocol 0/1 pickle of an object (GLOBAL copy_reg._reconstructor)' },
    ...Object.keys(LIBRARIES).map((m) => ({ offset: 0, magic: `c${m}.`, note: `protocol 0/1 pickle opening with a ${m} GLOBAL` })),
  ],
  metadataSchema: sklearnMetadataSchema,
  card: (metadata) => sklearnCard(sklearnMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    return headSummary(probe)?.globals.some((g) => libraryOf(g) !== undefined && isClass(g)) ?? false;
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const p = pickleBytes(probe, src);
    return readSklearn(p.src, p.compression);
  },
};
