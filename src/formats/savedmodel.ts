import { z } from 'zod';
import { ProtoReader, WIRE_LEN, WIRE_VARINT, probeFields, scanFields, type FieldNames, type ProtoMessage } from '../decoders/protobuf.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt } from './card-util.js';
import {
  GRAPH_FIELDS,
  TfGraphWalk,
  countByName,
  readShape,
  riskyOpsWarning,
  tfCardOperators,
  tfCardTensor,
  tfConstantsSchema,
  tfDtypeName,
  tfTensorSchema,
  walkGraphDef,
  type TfTensor,
} from './tf-graphdef-walk.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * TensorFlow SavedModel: `saved_model.pb`, a `SavedModel` protobuf (tensorflow/core/protobuf/
 * saved_model.proto, meta_graph.proto): schema version (field 1) and MetaGraphDefs (field 2), each with
 * its MetaInfoDef (tags, TF version), GraphDef, SignatureDefs and asset files. The weights live beside it
 * in `variables/variables.index` and `variables/variables.data-NNNNN-of-MMMMM`, which become the model's
 * parts with the assets it names and `fingerprint.pb`.
 */

const SAVED_MODEL_FIELDS: FieldNames = { 1: 'saved_model_schema_version', 2: 'meta_graphs' };
const META_GRAPH_FIELDS: FieldNames = {
  1: 'meta_info_def',
  2: 'graph_def',
  3: 'saver_def',
  4: 'collection_def',
  5: 'signature_def',
  6: 'asset_file_def',
  7: 'object_graph_def',
};
const META_INFO_FIELDS: FieldNames = {
  1: 'meta_graph_version',
  2: 'stripped_op_list',
  3: 'any_info',
  4: 'tags',
  5: 'tensorflow_version',
  6: 'tensorflow_git_version',
  7: 'stripped_default_attrs',
  8: 'function_aliases',
};
const ENTRY_FIELDS: FieldNames = { 1: 'key', 2: 'value' };
const SIGNATURE_FIELDS: FieldNames = { 1: 'inputs', 2: 'outputs', 3: 'method_name', 4: 'defaults' };
const TENSOR_INFO_FIELDS: FieldNames = { 1: 'name', 2: 'dtype', 3: 'tensor_shape', 4: 'coo_sparse', 5: 'composite_tensor' };
const ASSET_FIELDS: FieldNames = { 1: 'tensor_info', 2: 'filename' };

const MAX_TEXT = 1024;
const MAX_META_GRAPHS = 64;
const MAX_SIGNATURES = 4096;
const MAX_TENSORS = 4096;
const MAX_ASSETS = 10_000;
/** Data shard counts tried when the single-shard name is absent. */
const MAX_SHARDS_TRIED = 16;
/** Ops that hold variables: such a graph needs its `variables/` folder. */
const VARIABLE_OPS = ['VarHandleOp', 'VariableV2', 'Variable'];

const signatureSchema = z.strictObject({
  key: z.string().describe('The signature key (`serving_default`).'),
  methodName: z.string().optional().describe('`method_name` (`tensorflow/serving/predict`).'),
  inputs: z.array(tfTensorSchema).describe('Inputs by key, sorted, with dtype and shape.'),
  outputs: z.array(tfTensorSchema).describe('Outputs by key, sorted, with dtype and shape.'),
});

export const savedmodelMetadataSchema = z
  .strictObject({
    schemaVersion: z.number().int().nonnegative().describe('`saved_model_schema_version` (1).'),
    metaGraphs: z
      .array(
        z.strictObject({
          tags: z.array(z.string()).describe('MetaInfoDef tags (`serve`, `train`).'),
          tensorflowVersion: z.string().optional().describe('`tensorflow_version` of the TensorFlow that saved it.'),
          tensorflowGitVersion: z.string().optional().describe('`tensorflow_git_version`.'),
          signatures: z.array(signatureSchema).describe('SignatureDefs, sorted by key.'),
          assets: z.array(z.string()).describe('Asset file names (`asset_file_def`), relative to `assets/`.'),
          hasObjectGraph: z.boolean().describe('True when `object_graph_def` is present (a TF2 SavedModel).'),
        }),
      )
      .describe('MetaGraphDefs in file order.'),
    producer: z.number().int().optional().describe('`graph_def.versions.producer` of the first graph that has one.'),
    nodeCount: z.number().int().nonnegative().describe('Nodes over all graphs and their function libraries.'),
    functionCount: z.number().int().nonnegative().describe('Library functions over all graphs.'),
    ops: countByName.describe('Nodes per op over all graphs, library functions included.'),
    constants: tfConstantsSchema,
    riskyOps: z
      .array(z.string())
      .describe('Ops that read or write files or run Python code (ReadFile, WriteFile, PyFunc...), sorted; also a `security` warning.'),
    variables: z
      .strictObject({
        index: z.boolean().describe('`variables/variables.index` exists beside the model.'),
        shards: z.number().int().nonnegative().describe('Data shards found (`variables.data-NNNNN-of-MMMMM`).'),
      })
      .optional()
      .describe('The variables folder as found; absent when the scan could not look beside the model.'),
  })
  .meta({
    title: 'TensorFlow SavedModel metadata',
    description:
      'A TensorFlow SavedModel (`saved_model.pb`, recognised by content): tags and TensorFlow version of each meta graph, signatures with dtypes and shapes, op histogram, constants. `variables/variables.index`, its data shards, `fingerprint.pb` and the assets it names are its parts (one sub-folder level); ops that touch files or run Python are a `security` warning.',
  });
export type SavedmodelMetadata = z.infer<typeof savedmodelMetadataSchema>;
type Signature = z.infer<typeof signatureSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid TensorFlow SavedModel: ${message}`);
}

/** TensorInfo (map entry value): dtype and shape; the name is the map key. */
function readTensorInfo(entry: ProtoMessage): TfTensor {
  let key = '';
  let info: ProtoMessage | undefined;
  while (entry.next()) {
    if (entry.field === 1 && entry.expect(WIRE_LEN)) key = entry.string(MAX_TEXT);
    else if (entry.field === 2 && entry.expect(WIRE_LEN)) info = entry.message('TensorInfo', TENSOR_INFO_FIELDS);
  }
  const t: TfTensor = { name: key };
  if (info === undefined) return t;
  while (info.next()) {
    if (info.field === 2) t.dtype = tfDtypeName(info.int(0, 1000));
    else if (info.field === 3 && info.expect(WIRE_LEN)) t.shape = readShape(info.message('TensorShapeProto', { 2: 'dim', 3: 'unknown_rank' }));
  }
  return t;
}

function readSignature(entry: ProtoMessage): Signature {
  let key = '';
  const sig: Signature = { key: '', inputs: [], outputs: [] };
  while (entry.next()) {
    if (entry.field === 1 && entry.expect(WIRE_LEN)) key = entry.string(MAX_TEXT);
    else if (entry.field === 2 && entry.expect(WIRE_LEN)) {
      const s = entry.message('SignatureDef', SIGNATURE_FIELDS);
      while (s.next()) {
        if ((s.field === 1 || s.field === 2) && s.expect(WIRE_LEN)) {
          const list = s.field === 1 ? sig.inputs : sig.outputs;
          if (list.length >= MAX_TENSORS) throw s.fail(`SignatureDef '${key}' has more than ${MAX_TENSORS} inputs or outputs.`);
          list.push(readTensorInfo(s.message('SignatureDef.TensorInfoEntry', ENTRY_FIELDS)));
        } else if (s.field === 3 && s.expect(WIRE_LEN)) sig.methodName = s.string(MAX_TEXT);
      }
    }
  }
  sig.key = key;
  sig.inputs.sort((a, b) => cmp(a.name, b.name));
  sig.outputs.sort((a, b) => cmp(a.name, b.name));
  if (sig.methodName === '') delete sig.methodName;
  return sig;
}

function readMetaGraph(m: ProtoMessage, w: TfGraphWalk): SavedmodelMetadata['metaGraphs'][number] {
  const mg: SavedmodelMetadata['metaGraphs'][number] = { tags: [], signatures: [], assets: [], hasObjectGraph: false };
  let graphs = 0;
  while (m.next()) {
    switch (m.field) {
      case 1: {
        m.expect(WIRE_LEN);
        const info = m.message('MetaInfoDef', META_INFO_FIELDS);
        while (info.next()) {
          if (info.field === 4 && info.expect(WIRE_LEN)) {
            if (mg.tags.length < 64) mg.tags.push(info.string(MAX_TEXT));
          } else if (info.field === 5 && info.expect(WIRE_LEN)) mg.tensorflowVersion = info.string(MAX_TEXT);
          else if (info.field === 6 && info.expect(WIRE_LEN)) mg.tensorflowGitVersion = info.string(MAX_TEXT);
        }
        break;
      }
      case 2: {
        m.expect(WIRE_LEN);
        const producer = w.producer;
        w.producer = undefined;
        // The first graph's Placeholders are not the inputs of a SavedModel (its signatures are).
        walkGraphDef(m.message('GraphDef', GRAPH_FIELDS), w, false);
        w.producer = producer ?? w.producer;
        graphs++;
        break;
      }
      case 5:
        m.expect(WIRE_LEN);
        if (mg.signatures.length >= MAX_SIGNATURES) throw m.fail(`a MetaGraphDef has more than ${MAX_SIGNATURES} signatures.`);
        mg.signatures.push(readSignature(m.message('MetaGraphDef.SignatureDefEntry', ENTRY_FIELDS)));
        break;
      case 6: {
        m.expect(WIRE_LEN);
        if (mg.assets.length >= MAX_ASSETS) throw m.fail(`a MetaGraphDef names more than ${MAX_ASSETS} assets.`);
        const a = m.message('AssetFileDef', ASSET_FIELDS);
        while (a.next()) if (a.field === 2 && a.expect(WIRE_LEN)) mg.assets.push(a.string(MAX_TEXT));
        break;
      }
      case 7:
        m.expect(WIRE_LEN);
        mg.hasObjectGraph = true;
        break;
      default: // 3 saver_def, 4 collection_def
        break;
    }
  }
  if (graphs > 1) fail(`a MetaGraphDef holds ${graphs} graph_def fields; one is expected.`);
  if (mg.tensorflowVersion === '') delete mg.tensorflowVersion;
  if (mg.tensorflowGitVersion === '') delete mg.tensorflowGitVersion;
  mg.signatures.sort((a, b) => cmp(a.key, b.key));
  return mg;
}

/** Reads `saved_model.pb` itself (no siblings). */
export function readSavedModel(src: ByteSource, head?: Uint8Array): { metadata: SavedmodelMetadata; walk: TfGraphWalk } {
  const reader = new ProtoReader(src, { format: 'TensorFlow SavedModel', ...(head ? { head } : {}) });
  const root = reader.root('SavedModel', SAVED_MODEL_FIELDS);
  const w = new TfGraphWalk();
  let schemaVersion: number | undefined;
  const metaGraphs: SavedmodelMetadata['metaGraphs'] = [];
  while (root.next()) {
    if (root.field === 1) schemaVersion = root.int(0, 1000);
    else if (root.field === 2 && root.expect(WIRE_LEN)) {
      if (metaGraphs.length >= MAX_META_GRAPHS) fail(`the file holds more than ${MAX_META_GRAPHS} meta graphs.`);
      metaGraphs.push(readMetaGraph(root.message('MetaGraphDef', META_GRAPH_FIELDS), w));
    }
  }
  if (schemaVersion === undefined) fail('the SavedModel has no field 1 (saved_model_schema_version).');
  if (metaGraphs.length === 0) fail('the SavedModel has no field 2 (meta_graphs).');
  const metadata: SavedmodelMetadata = {
    schemaVersion,
    metaGraphs,
    ...opt('producer', w.producer),
    nodeCount: w.nodeCount,
    functionCount: w.functionCount,
    ops: w.opsRecord(),
    constants: w.constants(),
    riskyOps: w.riskyOps(),
  };
  return { metadata, walk: w };
}

const shardName = (i: number, n: number): string => `variables/variables.data-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}`;

/**
 * Finds the variables beside the model through `ctx.sibling`: the index, then the data shards (one
 * shard first, then shard counts up to MAX_SHARDS_TRIED, as the names carry the count).
 */
async function findVariables(ctx: InspectContext): Promise<{ index: boolean; shards: string[] }> {
  const sibling = ctx.sibling!;
  const index = (await sibling('variables/variables.index')) !== undefined;
  for (let n = 1; n <= MAX_SHARDS_TRIED; n++) {
    if ((await sibling(shardName(0, n))) === undefined) continue;
    return { index, shards: Array.from({ length: n }, (_, i) => shardName(i, n)) };
  }
  return { index, shards: [] };
}

/** The card: the `serving_default` signature (else the first) as inputs and outputs. */
export function savedmodelCard(md: SavedmodelMetadata): ModelCard {
  const sigs = md.metaGraphs.flatMap((g) => g.signatures);
  const sig = sigs.find((s) => s.key === 'serving_default') ?? sigs[0];
  const version = md.metaGraphs.find((g) => g.tensorflowVersion !== undefined)?.tensorflowVersion;
  const types = Object.keys(md.constants.byType).filter((t) => t !== 'string' && t !== 'invalid' && t !== 'resource' && t !== 'variant');
  return {
    format: 'savedmodel',
    formatVersion: String(md.schemaVersion),
    ...(version !== undefined ? { producer: 'TensorFlow', producerVersion: version } : {}),
    inputs: (sig?.inputs ?? []).map(tfCardTensor),
    outputs: (sig?.outputs ?? []).map(tfCardTensor),
    weightTypes: types.sort(),
    operators: tfCardOperators(md.ops),
    customOperators: false,
  };
}

/** SavedModel wire types, for `match`. */
const META_INFO_WIRE: Readonly<Record<number, number>> = {
  1: WIRE_LEN,
  2: WIRE_LEN,
  3: WIRE_LEN,
  4: WIRE_LEN,
  5: WIRE_LEN,
  6: WIRE_LEN,
  7: WIRE_VARINT,
  8: WIRE_LEN,
};

/**
 * TensorFlow SavedModels. `match` needs the head to open with `saved_model_schema_version` 1 (08 01),
 * then a MetaGraphDef (field 2) whose first field is a MetaInfoDef whose fields scan with their proper
 * wire types. Not handled: the TF1 `.meta` MetaGraphDef files, `saved_model.pbtxt`, and reading the
 * variables' index (a TF table) for the weight names and shapes.
 */
export const savedmodel: ModelFormat = {
  id: 'savedmodel',
  description: 'TensorFlow SavedModel (saved_model.pb): tags, TF version, signatures, ops; variables and assets as parts',
  extensions: [],
  // No magic: 08 01 12 (schema version 1, then a meta graph) is checked with the MetaInfoDef inside it.
  signatures: [],
  metadataSchema: savedmodelMetadataSchema,
  card: (metadata) => savedmodelCard(savedmodelMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const scan = probeFields(probe);
    const [v, mg] = scan.fields;
    if (scan.status === 'invalid' || v === undefined || mg === undefined) return false;
    if (v.field !== 1 || v.wire !== WIRE_VARINT || v.value !== 1 || mg.field !== 2 || mg.wire !== WIRE_LEN) return false;
    const inner = scanFields(probe.head, mg.offset, mg.offset + (mg.length ?? 0), 2);
    const info = inner.fields[0];
    if (inner.status === 'invalid' || info === undefined || info.field !== 1 || info.wire !== WIRE_LEN) return false;
    const fields = scanFields(probe.head, info.offset, info.offset + (info.length ?? 0), 64);
    return fields.status !== 'invalid' && fields.fields.length > 0 && fields.fields.every((f) => META_INFO_WIRE[f.field] === f.wire);
  },
  async inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    const { metadata, walk } = readSavedModel(src, probe.source === src ? probe.head : undefined);
    const warnings: ModelWarning[] = riskyOpsWarning(walk);
    const parts: { path: string; role: string }[] = [];
    const hasVariables = VARIABLE_OPS.some((o) => walk.ops.has(o));
    if (ctx.sibling !== undefined) {
      const vars = await findVariables(ctx);
      metadata.variables = { index: vars.index, shards: vars.shards.length };
      // The index is named as a part when it exists or when the graph needs it: a missing one is then
      // a problem on the model, by the scan's own check of parts.
      if (vars.index || hasVariables) parts.push({ path: 'variables/variables.index', role: 'weights' });
      for (const s of vars.shards) parts.push({ path: s, role: 'weights' });
      if (vars.index && vars.shards.length === 0) {
        warnings.push({
          severity: 'error',
          code: 'external-data',
          message: `variables/variables.index is present but no data shard was found beside it (tried variables.data-00000-of-N for N up to ${MAX_SHARDS_TRIED}).`,
        });
      }
      if ((await ctx.sibling('fingerprint.pb')) !== undefined) parts.push({ path: 'fingerprint.pb', role: 'fingerprint' });
    }
    for (const a of [...new Set(metadata.metaGraphs.flatMap((g) => g.assets))].sort(cmp)) parts.push({ path: `assets/${a}`, role: 'asset' });
    return {
      confidence: metadata.metaGraphs.some((g) => g.tags.length > 0) ? 'high' : 'medium',
      metadata,
      ...(parts.length > 0 ? { parts } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  },
};
