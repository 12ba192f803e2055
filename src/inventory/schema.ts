import { z } from 'zod';
import { modelCardSchema } from './card.js';

/**
 * The inventory, `aibom/inventory@2`: what a scan found, as one list of components with content-derived
 * ids and typed relationships between them. Every report encoder is a pure function of this value;
 * encoders, diff and policy key on ids and relationships, never on strings.
 *
 * Changes from `aibom/inventory@1` are listed in the README ("Migrating from inventory@1").
 */
export const INVENTORY_SCHEMA = 'aibom/inventory@2';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();

export const severitySchema = z.enum(['error', 'warning', 'info']);
export const confidenceSchema = z.enum(['high', 'medium', 'low']);

/**
 * One step of a location: the path of the item inside what the previous hop opened, and the reader
 * that produced it: `file` for an input file, `directory` for a file found walking an input directory
 * (its path then starts with the input as named), otherwise the id of the container reader that
 * listed it (`zip`, `ota-payload`, `ext4`...).
 */
export const hopSchema = z.object({
  path: z.string(),
  reader: z.string(),
});

/**
 * Where an item is: the readable chain (`pos-ota.zip!/payload.bin!/system!/app/Pay/Pay.apk!/assets/ocr.tflite`,
 * the first hop's path, then `!/` and each further hop's path) and the same as structured hops.
 * `offset` and `length` are present only when the item is a byte range of the file at `path`
 * (a carved model).
 */
export const locationSchema = z.object({
  path: z.string(),
  hops: z.array(hopSchema).min(1),
  offset: count.optional(),
  length: count.optional(),
});

/** How a component was identified. */
export const evidenceSchema = z.object({
  /**
   * `magic`: a declared signature was present and the structure validated; `structure`: recognised by
   * parsing alone (no magic, as ONNX); `filename`: the name claimed the format and the content then
   * validated; `reference`: named by another component (external data named by its model);
   * `binary-analysis`: a rule matched inside a binary (SONAME, symbol, string); `manifest-analysis`: a
   * package or app manifest states it; `attestation`: the supplier's word, not the bytes.
   */
  technique: z.enum(['magic', 'structure', 'filename', 'reference', 'binary-analysis', 'manifest-analysis', 'attestation']),
  /** What matched, cut to 200 characters (`'TFL3' at offset 4`). */
  detail: z.string().max(200),
  confidence: confidenceSchema,
});

/** A file packed inside a model (TFLite associated files in an appended zip). */
export const associatedFileSchema = z.object({
  name: z.string(),
  size: count,
  sha256,
  type: z.string().optional(),
  description: z.string().optional(),
});

const componentBase = {
  /**
   * Stable id derived from content: `<kind>:<16 hex digits>` of the sha256 over the kind, the reader or
   * format, and the content's sha256. The same bytes met at several places are one component with
   * several `locations`. Never random, never an array index.
   */
  id: z.string().regex(/^[a-z-]+:[0-9a-f]{16}$/),
  /** Display name: the model's own name where its metadata states one, else the file or partition name. */
  name: z.string(),
  version: z.string().optional(),
  /** Every place the component was found, sorted. */
  locations: z.array(locationSchema).min(1),
  sha256: sha256.optional(),
  size: count.optional(),
  confidence: confidenceSchema,
  evidence: z.array(evidenceSchema),
};

export const modelComponentSchema = z.object({
  ...componentBase,
  kind: z.literal('model'),
  model: z.object({
    /** Format id (`onnx`, `tflite`); see `aibom formats`. */
    format: z.string(),
    /** The normalized model card, filled by the format from its own metadata. */
    card: modelCardSchema,
    /** Everything the format reads, per format; each format's schema is in the README ("Per-format metadata"). */
    metadata: z.record(z.string(), z.unknown()),
    associatedFiles: z.array(associatedFileSchema).optional(),
  }),
});

/** A file that belongs to a model: ONNX external data and the parts of multi-file models; labels, vocabularies and configs later. */
export const dataComponentSchema = z.object({
  ...componentBase,
  kind: z.literal('data'),
  data: z.object({
    /** What the file is to its model: `external-data` (ONNX), or the role its format gives a part (`weights`, `shard`, `config`). */
    role: z.string(),
  }),
});

/** A container that holds something found: an archive, a file-system image, a partition. */
export const containerComponentSchema = z.object({
  ...componentBase,
  kind: z.enum(['image', 'partition', 'archive']),
  container: z.object({
    /** The container reader that opened it (`ext4`, `zip`, `super`...). */
    reader: z.string(),
  }),
});

/**
 * Software that is not a model: an inference runtime, an SDK or delegate, an app, a package (npm,
 * Python, Debian...), a cloud AI service the firmware calls. Identified by rules (`rules/`).
 */
export const softwareComponentSchema = z.object({
  ...componentBase,
  kind: z.enum(['runtime', 'sdk', 'app', 'package', 'service']),
  software: z.object({
    /** The rule that identified it (`onnxruntime`), when a rule did. */
    rule: z.string().optional(),
    vendor: z.string().optional(),
    /** Licence as the component or its rule states it. */
    license: z.string().optional(),
    /** Package URL and CPE, so vulnerability databases can match the component. */
    purl: z.string().optional(),
    cpe: z.string().optional(),
    /** Model formats this runtime can load (format ids). */
    loads: z.array(z.string()).optional(),
    /** For a service: the endpoint host it is reached at. */
    endpoint: z.string().optional(),
    /** Anything else a rule or reader records (Android package name, ELF machine...), string values only. */
    properties: z.record(z.string(), z.string()).optional(),
  }),
});

export const componentSchema = z.discriminatedUnion('kind', [modelComponentSchema, dataComponentSchema, containerComponentSchema, softwareComponentSchema]);

/**
 * A typed edge between two component ids: `contains` (an image or archive -> what it holds, the nearest
 * container only), `part-of` (a shard or external data -> its model), and, as later stages add them,
 * `ships` (app -> model), `loads` / `can-load` (runtime -> model), `depends-on` (app -> runtime),
 * `describes` (a config or label file -> its model).
 */
export const relationshipSchema = z.object({
  from: z.string(),
  type: z.enum(['contains', 'part-of', 'ships', 'loads', 'can-load', 'depends-on', 'describes']),
  to: z.string(),
});

export const subjectSchema = z.object({
  /** The input as named on the command line. */
  location: z.string(),
  kind: z.enum(['file', 'directory']),
  /** File size; for a directory, the sum of the regular files read below it. */
  size: count,
  /** sha256 of a file input; absent for a directory. */
  sha256: sha256.optional(),
});

export const problemSchema = z.object({
  /** Readable location chain, as in `locationSchema.path`. */
  location: z.string(),
  severity: severitySchema,
  code: z.string(),
  message: z.string(),
});

export const statsSchema = z.object({
  /** Containers opened (archives, compressed wrappers, images). */
  containers: count,
  /** Container members and directory entries seen. */
  entries: count,
  /** Files examined by the detectors, counting every location of duplicated content. */
  files: count,
  /** Items whose content had been seen before at another location and was not parsed again. */
  duplicates: count,
  /** Bytes produced by decompression. */
  decompressedBytes: count,
});

export const inventorySchema = z.object({
  schema: z.literal(INVENTORY_SCHEMA),
  tool: z.object({ name: z.literal('aibom'), version: z.string() }),
  /** ISO 8601 time of the scan; only when asked for (`--timestamp`), so that reports stay reproducible. */
  timestamp: z.string().optional(),
  subjects: z.array(subjectSchema),
  /** Sorted by kind, then first location, then id. */
  components: z.array(componentSchema),
  /** Sorted by from, type, to. */
  relationships: z.array(relationshipSchema),
  /** Sorted by location, code, message. */
  problems: z.array(problemSchema),
  stats: statsSchema,
});

export type Hop = z.infer<typeof hopSchema>;
export type Location = z.infer<typeof locationSchema>;
export type Evidence = z.infer<typeof evidenceSchema>;
export type AssociatedFileRecord = z.infer<typeof associatedFileSchema>;
export type ModelComponent = z.infer<typeof modelComponentSchema>;
export type DataComponent = z.infer<typeof dataComponentSchema>;
export type ContainerComponent = z.infer<typeof containerComponentSchema>;
export type SoftwareComponent = z.infer<typeof softwareComponentSchema>;
export type Component = z.infer<typeof componentSchema>;
export type ComponentKind = Component['kind'];
export type Relationship = z.infer<typeof relationshipSchema>;
export type RelationshipType = Relationship['type'];
export type Subject = z.infer<typeof subjectSchema>;
export type Problem = z.infer<typeof problemSchema>;
export type Stats = z.infer<typeof statsSchema>;
export type Inventory = z.infer<typeof inventorySchema>;
