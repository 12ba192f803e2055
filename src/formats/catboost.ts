import { z } from 'zod';
import { FlatBufferReader } from '../decoders/flatbuffers.js';
import { FormatError } from '../errors.js';
import { u32le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * CatBoost binary models (`.cbm`), as TFullModel::Save writes them (catboost/libs/model): 'CBM1', a
 * ui32 size, then a FlatBuffer `NCatBoostFbs.TModelCore` of that size (model.fbs): FormatVersion
 * (string, id 0), ModelTrees (table, id 1: ApproxDimension 0, TreeSplits 1, TreeSizes 2,
 * TreeStartOffsets 3, CatFeatures 4, FloatFeatures 5, OneHotFeatures 6, CtrFeatures 7, LeafValues 8,
 * ...; TextFeatures 13 and EmbeddingFeatures 14 in newer files), InfoMap ([TKeyValue], id 2: Key 0,
 * Value 1) and ModelPartIds ([string], id 3: the CTR data and other parts that follow the core).
 */

const MAX_TEXT = 4096;
const MAX_INFO = 1000;
const MAX_TREES = 10_000_000;
const MAX_FEATURES = 10_000_000;

export const catboostMetadataSchema = z
  .strictObject({
    formatVersion: z.string().optional().describe('`FormatVersion` (`FlabuffersModel_v1`).'),
    trees: z.number().int().nonnegative().describe('Trees (`TreeSizes` entries).'),
    approxDimension: z.number().int().describe('`ApproxDimension`: outputs per object (classes of a multiclass model).'),
    floatFeatures: z.number().int().nonnegative().describe('Numeric features.'),
    catFeatures: z.number().int().nonnegative().describe('Categorical features.'),
    textFeatures: z.number().int().nonnegative().describe('Text features.'),
    leafValues: z.number().int().nonnegative().describe('Leaf values stored.'),
    info: z
      .record(z.string(), z.string())
      .describe('`InfoMap` entries except `params`, values cut at 4096 characters (catboost_version_info, model_guid, train_finish_time...).'),
    lossFunction: z.string().optional().describe('`loss_function.type` from the `params` JSON of InfoMap.'),
    modelParts: z.array(z.string()).describe('`ModelPartIds`: structures stored after the core (CTR data).'),
  })
  .meta({
    title: 'CatBoost metadata',
    description:
      'CatBoost binary models (`CBM1`): format version, trees, outputs, numeric, categorical and text features, the `InfoMap` (version info, training time, model guid) and the loss function from its training parameters.',
  });
export type CatboostMetadata = z.infer<typeof catboostMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid CatBoost model: ${message}`, truncated ? 'truncated' : 'format');
}

/** Reads 'CBM1', the core size and the TModelCore FlatBuffer. */
export function readCatboost(src: ByteSource): ModelInfo {
  const h = src.read(0, 8);
  if (h.length < 8) fail(`the header needs 8 bytes, the file has ${h.length}.`, true);
  const size = u32le(h, 4, 'CatBoost header');
  if (size < 8 || 8 + size > src.size) fail(`the core size ${size} at offset 4 does not fit in the ${src.size}-byte file.`, 8 + size > src.size);
  const reader = new FlatBufferReader(new SliceSource(src, 8, size), { label: 'CatBoost model core' });
  const core = reader.root();
  const trees = core.table(1, 'TModelCore.ModelTrees');
  const count = (id: number, width: number, max: number, what: string): number => trees?.vector(id, width, max, what)?.length ?? 0;
  const info: Record<string, string> = Object.create(null) as Record<string, string>;
  let lossFunction: string | undefined;
  const map = core.vector(2, 4, MAX_INFO, 'TModelCore.InfoMap');
  for (let i = 0; i < (map?.length ?? 0); i++) {
    const kv = map!.table(i, `InfoMap[${i}]`);
    const key = kv.string(0, 256, `InfoMap[${i}].Key`);
    if (key === undefined) fail(`InfoMap entry ${i} has no Key (a required field).`);
    if (key === 'params') {
      // The training parameters as JSON; only the loss function is kept.
      const params = kv.string(1, 1 << 20, 'InfoMap params') ?? '';
      try {
        const v = JSON.parse(params) as { loss_function?: { type?: unknown } };
        if (typeof v.loss_function?.type === 'string') lossFunction = v.loss_function.type.slice(0, 256);
      } catch {
        // A params value that is not JSON says nothing more; the model stays valid.
      }
      continue;
    }
    // `__proto__` would become a prototype, not a key, in every consumer that copies the record.
    if (key === '__proto__') continue;
    info[key] = kv.string(1, MAX_TEXT, `InfoMap[${i}].Value`) ?? '';
  }
  const parts = core.vector(3, 4, MAX_INFO, 'TModelCore.ModelPartIds');
  const metadata: CatboostMetadata = {
    ...opt('formatVersion', core.string(0, 256, 'TModelCore.FormatVersion')),
    trees: count(2, 4, MAX_TREES, 'ModelTrees.TreeSizes'),
    approxDimension: trees?.i32(0) ?? 0,
    floatFeatures: count(5, 4, MAX_FEATURES, 'ModelTrees.FloatFeatures'),
    catFeatures: count(4, 4, MAX_FEATURES, 'ModelTrees.CatFeatures'),
    textFeatures: count(13, 4, MAX_FEATURES, 'ModelTrees.TextFeatures'),
    leafValues: count(8, 8, Number.MAX_SAFE_INTEGER, 'ModelTrees.LeafValues'),
    info: Object.fromEntries(Object.entries(info).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))),
    ...opt('lossFunction', lossFunction),
    modelParts: Array.from({ length: parts?.length ?? 0 }, (_, i) => parts!.string(i, 256)),
  };
  if (trees === undefined) fail('TModelCore has no ModelTrees (field 1).');
  return { confidence: 'high', metadata };
}

/** The card: oblivious trees over numeric, categorical and text features. */
export function catboostCard(md: CatboostMetadata): ModelCard {
  const loss = md.lossFunction;
  const task =
    loss === undefined
      ? undefined
      : /^(Logloss|CrossEntropy|MultiClass|MultiClassOneVsAll)$/.test(loss)
        ? 'classification'
        : /^(YetiRank|PairLogit|QueryRMSE)/.test(loss)
          ? 'ranking'
          : 'regression';
  return {
    format: 'catboost',
    ...opt('formatVersion', md.formatVersion),
    architecture: 'oblivious-trees',
    ...opt('task', task),
    producer: 'CatBoost',
    inputs: [{ name: 'features', shape: [null, md.floatFeatures + md.catFeatures + md.textFeatures] }],
    outputs: [{ name: 'approx', type: 'float64', shape: [null, md.approxDimension] }],
    parameters: md.leafValues,
    parameterBytes: md.leafValues * 8,
    weightTypes: ['float64'],
    operators: [],
    customOperators: false,
  };
}

/** CatBoost `.cbm` models. Not handled: CatBoost's JSON, CoreML, ONNX and C++ exports (other formats). */
export const catboost: ModelFormat = {
  id: 'catboost',
  description: 'CatBoost binary model (CBM1): trees, features, outputs, InfoMap, loss function',
  extensions: ['.cbm'],
  signatures: [{ offset: 0, magic: 'CBM1', note: 'CatBoost model magic' }],
  metadataSchema: catboostMetadataSchema,
  card: (metadata) => catboostCard(catboostMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = probe.head;
    return h.length >= 12 && h[0] === 0x43 && h[1] === 0x42 && h[2] === 0x4d && h[3] === 0x31;
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readCatboost(src);
  },
};
