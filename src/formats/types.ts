import type { ByteSource } from '../io/byte-source.js';
import type { Limits } from '../io/limits.js';
import type { Probe } from '../probe.js';
import type { ProblemCode } from '../errors.js';
import type { Signature } from '../detect/signature.js';
import type { ModelCard } from '../inventory/card.js';
import type { ZodType } from 'zod';

export type Confidence = 'high' | 'medium' | 'low';

/** A file packed inside a model (e.g. TFLite associated files in an appended zip). */
export interface AssociatedFile {
  name: string;
  size: number;
  sha256: string;
  /** Format-specific kind, e.g. TFLite `TENSOR_AXIS_LABELS`. */
  type?: string;
  description?: string;
}

/** A finding about the model itself that is not fatal to it (e.g. missing external data). */
export interface ModelWarning {
  severity: 'error' | 'warning' | 'info';
  code: ProblemCode;
  message: string;
}

export interface ModelInfo {
  confidence: Confidence;
  /** Format-specific metadata: plain JSON values only (no bigint, no typed arrays), described by the format's schema. */
  metadata: Record<string, unknown>;
  associatedFiles?: AssociatedFile[];
  /**
   * Paths of external data files the model refers to, relative to the model's folder, as recorded.
   * The orchestrator checks that each stays inside the folder and exists beside the model.
   */
  externalData?: string[];
  /**
   * Other files of a multi-file model (TF.js weight shards, OpenVINO `.bin`, safetensors shards), by
   * path relative to the model's folder as the descriptor names them, with their role (`weights`,
   * `shard`, `config`). The scan checks that each stays in the folder and exists beside the model,
   * hashes it, and reports it as a `data` component `part-of` the model (a part is never reported as
   * a model of its own). The model's own location and sha256 are those of the descriptor.
   */
  parts?: { path: string; role: string }[];
  warnings?: ModelWarning[];
}

export interface InspectContext {
  readonly limits: Readonly<Limits>;
  /**
   * Opens a file beside the model by a name relative to the model's folder: a plain name or one
   * sub-folder and a name (`model.bin` beside `model.xml`, `variables/variables.index`); never a path
   * that leaves the folder. Resolves undefined when there is none. For multi-file formats: when the
   * sibling is a container member not listed yet, the scan defers the model to the end of its
   * container and inspects it again (the call throws a private signal the format must let through:
   * catch only FormatError).
   */
  sibling?(name: string): Promise<ByteSource | undefined>;
}

/**
 * A model format: one module per format, registered in `formats/index.ts` in priority order.
 * `match` is cheap and reads only `probe.head`; `inspect` validates structurally through bounded
 * reads of `src` and never loads weights. `inspect` throws FormatError when the bytes are not a valid
 * model; that error's message is what a user sees for a file that only claims to be one.
 */
export interface ModelFormat {
  /** Equals the module's file name; also the `format` field of reported models. */
  readonly id: string;
  readonly description: string;
  /** Extensions (with dot, lower case) whose files claim to be this format. */
  readonly extensions: readonly string[];
  /**
   * Magic bytes as data (empty when the format is recognised by structure only, as ONNX is). An item
   * whose declared magic is present but fails `inspect` is a corrupt model and is reported; for a
   * structural guess a failed inspect is a quiet no-match unless the item's name claims the format.
   */
  readonly signatures: readonly Signature[];
  /**
   * The exact zod schema of this format's `metadata` (strict objects, `.describe()` on every field,
   * `.meta({ title, description })` on the root): tests validate every model against it and the
   * README's JSON contract is generated from it (`formats/contract.ts`).
   */
  readonly metadataSchema: ZodType;
  /**
   * Fills the normalized model card from this format's own metadata, as `inspect` produced it; never
   * invents a field. Throws (a ZodError) on metadata this format's `inspect` did not produce.
   */
  card(metadata: Record<string, unknown>): ModelCard;
  match(probe: Probe): boolean;
  inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo>;
}
