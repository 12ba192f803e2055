import { z } from 'zod';

/*
 * The exact shape of the `metadata` the `tflite` format reports, as a zod schema. The reader builds its
 * output as the inferred type (so the compiler checks each field's presence and type), tests check
 * real, builder-made and fuzzed models against the schema itself, and the README's contract is generated
 * from it. Objects are strict so that an undocumented key fails validation instead of slipping into
 * reports unseen.
 */

/** A count: integers stay safe (the reader caps sums at 2^53 - 1 rather than lose precision). */
const count = (): z.ZodNumber => z.number().int().nonnegative();

/** A subgraph input or output tensor. */
export const tfliteTensorSchema = z.strictObject({
  name: z.string().describe('Tensor.name, cut at 4096 bytes'),
  type: z.string().describe("Tensor.type (`float32`, `uint8`, `int8`, `string`, ..., `unknown(<n>)` past the schema's enum)"),
  shape: z.array(z.number().int()).describe('Tensor.shape; empty for a scalar or when absent'),
  shapeSignature: z.array(z.number().int()).optional().describe('Tensor.shape_signature, present only when the model records it; -1 marks a dynamic dimension'),
  quantized: z.boolean().describe('True when the tensor has quantization scales'),
  quantization: z
    .strictObject({
      scale: z.array(z.number()).describe('The first 16 scales'),
      zeroPoint: z.array(z.number()).describe('The first 16 zero points (int64 in the file, as JSON numbers)'),
    })
    .optional()
    .describe('Scales and zero points of a quantized tensor; absent when a scale is not finite'),
});

/** One operator code and how many operators use it across all subgraphs. */
export const tfliteOperatorSchema = z.strictObject({
  name: z.string().describe('Builtin name (`CONV_2D`, `UNKNOWN_<n>` past the enum) or the custom code'),
  kind: z
    .enum(['builtin', 'custom', 'flex', 'edgetpu'])
    .describe('`builtin`; `flex` for a custom code starting Flex (select TensorFlow ops); `edgetpu` for edgetpu-custom-op; `custom` otherwise'),
  version: z.number().int().describe('OperatorCode.version'),
  count: count().describe('Operators using this code over all subgraphs (0 for a code no operator uses)'),
});

/** An associated file as TFLite metadata describes it. */
export const tfliteMetadataFileSchema = z.strictObject({
  name: z.string().describe('AssociatedFile.name'),
  type: z.string().describe('AssociatedFile.type (`TENSOR_AXIS_LABELS`, `VOCABULARY`, ..., `UNKNOWN_<n>` past the enum)'),
  description: z.string().optional().describe('AssociatedFile.description'),
  locale: z.string().optional().describe('AssociatedFile.locale'),
});

/** TensorMetadata, reduced to what a bill of materials needs. */
export const tfliteMetadataTensorSchema = z.strictObject({
  name: z.string().optional().describe('TensorMetadata.name'),
  description: z.string().optional().describe('TensorMetadata.description'),
  associatedFiles: z.array(tfliteMetadataFileSchema).describe('Files attached to this tensor'),
});

/** `ModelMetadata` from the TFLITE_METADATA buffer. */
export const tfliteModelMetadataSchema = z.strictObject({
  name: z.string().optional().describe('ModelMetadata.name'),
  description: z.string().optional().describe('ModelMetadata.description'),
  version: z.string().optional().describe("ModelMetadata.version: the model's own version"),
  author: z.string().optional().describe('ModelMetadata.author'),
  license: z.string().optional().describe('ModelMetadata.license'),
  minParserVersion: z.string().optional().describe('ModelMetadata.min_parser_version'),
  subgraphs: z
    .array(
      z.strictObject({
        name: z.string().optional().describe('SubGraphMetadata.name'),
        description: z.string().optional().describe('SubGraphMetadata.description'),
        inputs: z.array(tfliteMetadataTensorSchema).describe('Input tensor metadata'),
        outputs: z.array(tfliteMetadataTensorSchema).describe('Output tensor metadata'),
        associatedFiles: z.array(tfliteMetadataFileSchema).describe('Files attached to the subgraph'),
      }),
    )
    .describe('SubGraphMetadata entries'),
  associatedFiles: z.array(tfliteMetadataFileSchema).describe('Files attached to the model'),
});

/** A SignatureDef's TensorMap: the name a signature gives a tensor of its subgraph. */
const tensorMapSchema = z.strictObject({
  name: z.string().describe("TensorMap.name: the signature's name for the tensor"),
  tensorIndex: count().describe("TensorMap.tensor_index in that subgraph's tensors"),
});

/** The `metadata` of a TFLite model. */
export const tfliteMetadataSchema = z
  .strictObject({
    schemaVersion: z.literal(3).describe('Model.version: the schema version (every `TFL3` runtime requires 3)'),
    description: z.string().optional().describe('Model.description as the converter wrote it (`TOCO Converted.`, `MLIR Converted.`)'),
    subgraphs: z
      .array(
        z.strictObject({
          name: z.string().optional().describe('SubGraph.name'),
          tensorCount: count().describe('Tensors of the subgraph'),
          operatorCount: count().describe('Operators of the subgraph'),
          inputs: z.array(tfliteTensorSchema).describe('SubGraph.inputs, the first 4096'),
          outputs: z.array(tfliteTensorSchema).describe('SubGraph.outputs, the first 4096'),
        }),
      )
      .describe('Model.subgraphs in file order; the first is the main one'),
    operators: z
      .array(tfliteOperatorSchema)
      .describe('Operator codes merged by name, kind and version, sorted by name, version, kind; builtin code = max(deprecated_builtin_code, builtin_code)'),
    operatorCodes: count().describe('Entries of Model.operator_codes'),
    buffers: z
      .strictObject({
        count: count().describe('Entries of Model.buffers'),
        bytes: count().describe('Bytes over all buffers (inside the FlatBuffer or after it, for models over 2 GB)'),
      })
      .describe('Model.buffers'),
    parameters: z
      .strictObject({
        count: count().describe('Elements of constant tensors, each buffer counted once'),
        bytes: count().describe('Bytes of those buffers'),
        byType: z.record(z.string(), count()).describe('Elements by tensor type, keys sorted'),
      })
      .describe('Weights: tensors backed by a non-empty buffer'),
    weightTypes: z.array(z.string()).describe('Types of the weights, sorted'),
    signatureDefs: z
      .array(
        z.strictObject({
          key: z.string().describe('SignatureDef.signature_key (`serving_default`)'),
          subgraphIndex: count().describe('Subgraph the signature runs'),
          inputs: z.array(tensorMapSchema).describe('Signature inputs'),
          outputs: z.array(tensorMapSchema).describe('Signature outputs'),
        }),
      )
      .describe('Model.signature_defs'),
    metadataEntries: z
      .array(z.strictObject({ name: z.string().describe('Metadata.name'), size: count().describe('Bytes of its buffer') }))
      .describe('Model.metadata entries (min_runtime_version, TFLITE_METADATA, CONVERSION_METADATA, ...)'),
    minRuntimeVersion: z.string().optional().describe('The min_runtime_version buffer as text; absent when missing or all NULs'),
    modelMetadata: tfliteModelMetadataSchema.optional().describe('The TFLite Metadata FlatBuffer (identifier M001), when present and readable'),
  })
  .meta({
    title: 'TFLite metadata',
    description:
      'TFLite is recognised by the FlatBuffers file identifier `TFL3` at offset 4 and read by a bounded FlatBuffers ' +
      'decoder of our own over byte ranges (weights are never read: a model with a 200 MB buffer is inspected reading ' +
      "about 200 KB). Associated files packed as a zip appended to the model are listed in the model's `associatedFiles` " +
      'with size and sha256 (the model is not also reported as a zip).',
  });

export type TfliteTensor = z.output<typeof tfliteTensorSchema>;
export type TfliteOperator = z.output<typeof tfliteOperatorSchema>;
export type TfliteMetadataFile = z.output<typeof tfliteMetadataFileSchema>;
export type TfliteMetadataTensor = z.output<typeof tfliteMetadataTensorSchema>;
export type TfliteModelMetadata = z.output<typeof tfliteModelMetadataSchema>;
export type TfliteMetadata = z.output<typeof tfliteMetadataSchema>;
