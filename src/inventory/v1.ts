import { z } from 'zod';

/**
 * The inventory: what a scan found, versioned as `aibom/inventory@1`. Every report encoder is a pure
 * function of this value. Locations are chains: the input as named on the command line, then `/` for
 * a step inside a directory and `!/` for a step into a container
 * (`pos-ota.zip!/system/app/Pay/Pay.apk!/assets/ocr.tflite`).
 */
export const INVENTORY_SCHEMA = 'aibom/inventory@1';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const severitySchema = z.enum(['error', 'warning', 'info']);

export const subjectSchema = z.object({
  /** The input as named on the command line. */
  location: z.string(),
  kind: z.enum(['file', 'directory']),
  /** File size; for a directory, the sum of the regular files read below it. */
  size: z.number().int().nonnegative(),
  /** sha256 of a file input; absent for a directory. */
  sha256: sha256.optional(),
});

export const associatedFileSchema = z.object({
  name: z.string(),
  size: z.number().int().nonnegative(),
  sha256,
  type: z.string().optional(),
  description: z.string().optional(),
});

export const modelSchema = z.object({
  location: z.string(),
  /** Present only when the model is a byte range of the file at `location` (carved or appended). */
  offset: z.number().int().nonnegative().optional(),
  format: z.string(),
  size: z.number().int().nonnegative(),
  sha256,
  confidence: z.enum(['high', 'medium', 'low']),
  /** Format-specific; each format documents its shape (see README, "JSON contract"). */
  metadata: z.record(z.string(), z.unknown()),
  associatedFiles: z.array(associatedFileSchema).optional(),
});

export const runtimeSchema = z.object({
  location: z.string(),
  name: z.string(),
  version: z.string().optional(),
});

export const problemSchema = z.object({
  location: z.string(),
  severity: severitySchema,
  code: z.string(),
  message: z.string(),
});

export const statsSchema = z.object({
  /** Containers opened (archives, compressed wrappers, images). */
  containers: z.number().int().nonnegative(),
  /** Container members and directory entries seen. */
  entries: z.number().int().nonnegative(),
  /** Files examined by the detectors, counting every location of duplicated content. */
  files: z.number().int().nonnegative(),
  /** Items whose content had been seen before at another location and was not parsed again. */
  duplicates: z.number().int().nonnegative(),
  /** Bytes produced by decompression. */
  decompressedBytes: z.number().int().nonnegative(),
});

export const inventorySchema = z.object({
  schema: z.literal(INVENTORY_SCHEMA),
  tool: z.object({ name: z.literal('aibom'), version: z.string() }),
  /** ISO 8601 time of the scan; only when asked for (`--timestamp`), so that reports stay reproducible. */
  timestamp: z.string().optional(),
  subjects: z.array(subjectSchema),
  models: z.array(modelSchema),
  runtimes: z.array(runtimeSchema),
  problems: z.array(problemSchema),
  stats: statsSchema,
});

export type Subject = z.infer<typeof subjectSchema>;
export type Model = z.infer<typeof modelSchema>;
export type Runtime = z.infer<typeof runtimeSchema>;
export type Problem = z.infer<typeof problemSchema>;
export type Stats = z.infer<typeof statsSchema>;
export type Inventory = z.infer<typeof inventorySchema>;
