import { z } from 'zod';

/**
 * The normalized model card: the facts every report shows about a model, whatever its format. Each
 * format fills it from its own metadata (`ModelFormat.card`); encoders read the card and never look up
 * per-format metadata keys. A field is present only when the bytes state it: nothing is guessed.
 */

/** One input or output tensor: element type as a lower-case name (`float32`, `uint8`), shape with
 * symbolic dimensions as strings and unknown ones as null; `shape` null when the rank is unknown. */
export const tensorSpecSchema = z.object({
  name: z.string(),
  type: z.string().optional(),
  shape: z
    .array(z.union([z.number().int(), z.string(), z.null()]))
    .nullable()
    .optional(),
});

/** One operator (or layer) kind with its count; `custom` when it is not a builtin of its format. */
export const cardOperatorSchema = z.object({
  name: z.string(),
  /** Operator domain or kind (`com.microsoft`, `flex`, `custom`) where the format has one. */
  domain: z.string().optional(),
  count: z.number().int().nonnegative(),
  custom: z.boolean(),
});

export const modelCardSchema = z.object({
  name: z.string().optional(),
  version: z.string().optional(),
  description: z.string().optional(),
  author: z.string().optional(),
  /** The licence text or identifier the model itself states. */
  license: z.string().optional(),
  /** What the model does, where the format records it (`image-classification`, `asr`). */
  task: z.string().optional(),
  /** Architecture or graph family where recorded (`llama`, `MobileNetV2`, `Sequential`). */
  architecture: z.string().optional(),
  /** The tool that wrote the model (`pytorch`, `TOCO`, `tf2onnx`) and its version. */
  producer: z.string().optional(),
  producerVersion: z.string().optional(),
  /** The format id (`onnx`, `tflite`) and the format's own version (ONNX IR version, TFLite schema version). */
  format: z.string(),
  formatVersion: z.string().optional(),
  inputs: z.array(tensorSpecSchema),
  outputs: z.array(tensorSpecSchema),
  /** Number of weights (scalar parameters) and the bytes they take, where countable. */
  parameters: z.number().int().nonnegative().optional(),
  parameterBytes: z.number().int().nonnegative().optional(),
  /** Element types of the weights, sorted. */
  weightTypes: z.array(z.string()),
  /** True when weights or activations are quantized; a scheme name where the format has one (`Q4_K_M`). */
  quantized: z.boolean().optional(),
  quantization: z.string().optional(),
  /** Operators or layers, most frequent first, then by name. */
  operators: z.array(cardOperatorSchema),
  /** True when any operator is outside its format's builtin set (custom, Flex, vendor domains). */
  customOperators: z.boolean(),
});

export type TensorSpec = z.infer<typeof tensorSpecSchema>;
export type CardOperator = z.infer<typeof cardOperatorSchema>;
export type ModelCard = z.infer<typeof modelCardSchema>;
