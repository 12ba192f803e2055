import { z } from 'zod';

/*
 * The exact shape of the `metadata` the `onnx` format reports, as a zod schema. The reader builds its
 * output as the inferred type (so the compiler checks each field's presence and type), tests check
 * real, builder-made and fuzzed models against the schema itself, and the README's contract is generated
 * from it. Objects are strict so that an undocumented key fails validation instead of slipping into
 * reports unseen.
 */

/** A count: integers stay safe (the reader caps sums at 2^53 - 1 rather than lose precision). */
const count = (): z.ZodNumber => z.number().int().nonnegative();

/** One graph input or output. */
export const onnxValueInfoSchema = z.strictObject({
  name: z.string().describe('Value name as the graph declares it'),
  elemType: z
    .string()
    .describe(
      'Tensor element type (`float32`, `int64`, ..., `unknown(<n>)` for a type number aibom does not know), or `sequence`, `map`, `optional`, `sparse_tensor`, `opaque`; `undefined` when the value has no type',
    ),
  shape: z
    .array(z.union([z.number().int(), z.string(), z.null()]))
    .nullable()
    .describe('One entry per dimension: dim_value as a number, dim_param as a string, null when neither is set; null itself when the rank is unknown'),
});

/** A model-level metadata_props entry. */
export const onnxMetadataPropSchema = z.strictObject({
  key: z.string().describe('Entry key, cut at 4096 characters'),
  value: z.string().describe('Entry value, cut at 4096 characters'),
  truncated: z.literal(true).optional().describe('Present when the value was cut'),
});

/** The `metadata` of an ONNX model. */
export const onnxMetadataSchema = z
  .strictObject({
    irVersion: z.number().int().min(1).max(1000).describe('ModelProto.ir_version, the ONNX IR version the file follows'),
    producerName: z.string().optional().describe('Tool that wrote the model (`pytorch`, `tf2onnx`, `onnx-caffe2`); absent when empty'),
    producerVersion: z.string().optional().describe("That tool's version; absent when empty"),
    domain: z.string().optional().describe("The model's namespace, reverse-DNS style (`com.example.vision`); absent when empty"),
    modelVersion: z
      .union([z.number().int(), z.string().regex(/^-?[0-9]+$/)])
      .optional()
      .describe('ModelProto.model_version; a decimal string when beyond 2^53; absent when 0 (proto3 cannot tell 0 from unset)'),
    docString: z.string().optional().describe('ModelProto.doc_string, cut at 4096 characters; absent when empty'),
    docStringTruncated: z.literal(true).optional().describe('Present when `docString` was cut'),
    opsetImports: z
      .array(
        z.strictObject({
          domain: z.string().describe('Operator set domain; the default domain is reported as `ai.onnx`'),
          version: count().describe('Operator set version'),
        }),
      )
      .describe('Operator sets the model imports, in file order'),
    metadataProps: z.array(onnxMetadataPropSchema).describe('ModelProto.metadata_props, in file order'),
    graph: z
      .strictObject({
        name: z.string().optional().describe('GraphProto.name; absent when empty'),
        inputs: z.array(onnxValueInfoSchema).describe('Graph inputs, initializers excluded (IR < 4 lists weights as inputs too)'),
        outputs: z.array(onnxValueInfoSchema).describe('Graph outputs'),
        nodeCount: count().describe('Nodes of the main graph itself'),
        initializerCount: count().describe('Initializers and sparse initializers of the main graph'),
        valueInfoCount: count().describe('GraphProto.value_info entries (intermediate shapes)'),
      })
      .nullable()
      .describe('The main graph; null when the model has none'),
    operators: z
      .array(
        z.strictObject({
          domain: z.string().describe('Operator domain; the default domain is reported as `ai.onnx`'),
          opType: z.string().describe('Operator name (`Conv`, `QLinearMatMul`)'),
          count: z.number().int().positive().describe('Nodes using it'),
        }),
      )
      .describe('Every operator used by any node (main graph, subgraphs of If/Loop/Scan, local functions, training graphs), sorted by domain then name'),
    nodeCount: count().describe('Nodes over all graphs and functions'),
    subgraphCount: count().describe('Graphs held in node attributes (If branches, Loop and Scan bodies)'),
    customDomains: z.array(z.string()).describe('Operator or opset domains outside ai.onnx, ai.onnx.ml, ai.onnx.training and ai.onnx.preview.training, sorted'),
    parameters: z
      .strictObject({
        count: count().describe('Weight elements: initializers, sparse initializers, Constant and attribute tensors, in every graph'),
        bytes: count().describe('Bytes those weights take (payload length where stored, else elements times element size)'),
        byType: z.record(z.string(), count()).describe('Weight elements by element type, keys sorted'),
        tensors: count().describe('Weight tensors counted'),
        approximate: z
          .literal(true)
          .optional()
          .describe('Present when some tensor could not be counted (unusable dims, external data without a length): the figures are lower bounds'),
      })
      .describe('Weights, counted from their dims without reading their data'),
    externalData: z
      .array(
        z.strictObject({
          tensor: z.string().describe('Tensor whose data lives outside the model file'),
          location: z.string().describe('File named by the tensor, relative to the model; checked to stay in the folder and exist beside it'),
          offset: count().optional().describe('Byte offset in that file, when given'),
          length: count().optional().describe('Byte length in that file, when given'),
        }),
      )
      .describe('Tensors stored as external data, in file order'),
    functions: z
      .array(
        z.strictObject({
          domain: z.string().describe('Function domain as written'),
          name: z.string().describe('Function name'),
          nodeCount: count().describe('Nodes in its body'),
        }),
      )
      .describe('Model-local functions (ModelProto.functions), in file order'),
    trainingInfo: z.number().int().positive().optional().describe('TrainingInfoProto entries, when the model carries any'),
  })
  .meta({
    title: 'ONNX metadata',
    description:
      'ONNX has no magic number: it is recognised by structure (a ModelProto whose first fields parse) and validated by ' +
      'walking the protobuf wire format over byte ranges. Tensor data (`raw_data`, `float_data`, ...) is skipped by offset, ' +
      'never read: a 1 GiB model is inspected reading about 1 MiB.',
  });

export type OnnxValueInfo = z.output<typeof onnxValueInfoSchema>;
export type OnnxMetadata = z.output<typeof onnxMetadataSchema>;
