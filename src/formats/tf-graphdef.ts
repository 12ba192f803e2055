import { z } from 'zod';
import { ProtoReader, WIRE_LEN, WIRE_VARINT, probeFields } from '../decoders/protobuf.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { opt } from './card-util.js';
import {
  GRAPH_FIELDS,
  TfGraphWalk,
  countByName,
  plausibleNodeDef,
  riskyOpsWarning,
  tfCardOperators,
  tfCardTensor,
  tfConstantsSchema,
  tfTensorSchema,
  walkGraphDef,
} from './tf-graphdef-walk.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Frozen TensorFlow graphs: a bare `GraphDef` protobuf (tensorflow/core/framework/graph.proto), the
 * weights folded into Const nodes, saved as `.pb` by `tf.io.write_graph` / freeze_graph. A GraphDef has
 * no magic and `.pb` is every protobuf's extension, so `match` asks for both: the name ends in `.pb`
 * and the head opens with a plausible NodeDef (field 1, holding a name and an op name).
 */

export const tfGraphdefMetadataSchema = z
  .strictObject({
    producer: z.number().int().optional().describe('`versions.producer`: the GraphDef version of the TensorFlow that wrote it.'),
    minConsumer: z.number().int().optional().describe('`versions.min_consumer`: the oldest GraphDef version that can read it.'),
    nodeCount: z.number().int().nonnegative().describe('Nodes of the graph and of its function library.'),
    functionCount: z.number().int().nonnegative().describe('Functions in `library`.'),
    ops: countByName.describe('Nodes per op, library functions included.'),
    inputs: z.array(tfTensorSchema).describe('Placeholder nodes of the top-level graph with their `dtype` and `shape` attributes.'),
    constants: tfConstantsSchema,
    riskyOps: z
      .array(z.string())
      .describe('Ops that read or write files or run Python code (ReadFile, WriteFile, PyFunc...), sorted; also a `security` warning.'),
  })
  .meta({
    title: 'TensorFlow frozen graph metadata',
    description:
      'A frozen TensorFlow `GraphDef` (`.pb`): recognised when the name ends in `.pb` and the head opens with a NodeDef. Op histogram (functions included), Placeholder inputs, Const tensors counted from their shapes (contents never read), and the producer version. Ops that touch files or run Python are a `security` warning.',
  });
export type TfGraphdefMetadata = z.infer<typeof tfGraphdefMetadataSchema>;

/** The card: the op histogram, the Placeholders as inputs, the constants as the weights. */
export function tfGraphdefCard(md: TfGraphdefMetadata): ModelCard {
  const types = Object.keys(md.constants.byType).filter((t) => t !== 'string' && t !== 'invalid');
  return {
    format: 'tf-graphdef',
    ...opt('formatVersion', md.producer !== undefined ? String(md.producer) : undefined),
    inputs: md.inputs.map(tfCardTensor),
    outputs: [],
    ...(md.constants.count > 0 ? { parameters: md.constants.elements } : {}),
    weightTypes: types.sort(),
    quantized: types.some((t) => t.startsWith('qint') || t.startsWith('quint')),
    operators: tfCardOperators(md.ops),
    customOperators: false,
  };
}

/** Walks the whole GraphDef. */
export function readGraphdef(src: ByteSource, head?: Uint8Array): ModelInfo {
  const reader = new ProtoReader(src, { format: 'TensorFlow GraphDef', ...(head ? { head } : {}) });
  const w = new TfGraphWalk();
  walkGraphDef(reader.root('GraphDef', GRAPH_FIELDS), w, true);
  if (w.nodeCount === 0) throw new FormatError('Invalid TensorFlow GraphDef: the graph has no field 1 (node).');
  const metadata: TfGraphdefMetadata = {
    ...opt('producer', w.producer),
    ...opt('minConsumer', w.minConsumer),
    nodeCount: w.nodeCount,
    functionCount: w.functionCount,
    ops: w.opsRecord(),
    inputs: w.inputs,
    constants: w.constants(),
    riskyOps: w.riskyOps(),
  };
  const warnings = riskyOpsWarning(w);
  return {
    confidence: w.producer !== undefined ? 'high' : 'medium',
    metadata,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** Wire type of each GraphDef field, for `match`. */
const GRAPH_WIRE: Readonly<Record<number, number>> = { 1: WIRE_LEN, 2: WIRE_LEN, 3: WIRE_VARINT, 4: WIRE_LEN, 5: WIRE_LEN };

/**
 * Frozen TensorFlow graphs (`GraphDef` in a `.pb`). `match` needs the `.pb` name and a head whose
 * top-level fields are GraphDef fields, the first a NodeDef with a name and an op name. `.pb` is not
 * declared as a claim: it is the extension of every protobuf, and a claim would report each non-graph
 * `.pb` as a broken model. Not handled: text graphs (`.pbtxt`), MetaGraphDef files (`.meta`).
 */
export const tfGraphdef: ModelFormat = {
  id: 'tf-graphdef',
  description: 'TensorFlow frozen GraphDef (.pb): op histogram, Placeholder inputs, constants, producer version',
  extensions: [],
  // No magic: a `.pb` name plus a GraphDef structure (field 1 a NodeDef with name and op).
  signatures: [],
  metadataSchema: tfGraphdefMetadataSchema,
  card: (metadata) => tfGraphdefCard(tfGraphdefMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    if (extensionOf(probe.name) !== '.pb') return false;
    const scan = probeFields(probe);
    const first = scan.fields[0];
    if (scan.status === 'invalid' || first === undefined || first.field !== 1 || first.wire !== WIRE_LEN) return false;
    if (!scan.fields.every((f) => GRAPH_WIRE[f.field] === f.wire)) return false;
    return plausibleNodeDef(probe.head, first.offset, first.offset + (first.length ?? 0));
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readGraphdef(src, probe.source === src ? probe.head : undefined);
  },
};
