import { z } from 'zod';
import { hashMember, memberDataRange, readZipDirectory, type ZipDirectory, type ZipMember } from '../decoders/zip-directory.js';
import { AibomError, FormatError } from '../errors.js';
import { u16le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import { RATIO_FLOOR } from '../io/limits.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { cmp, opt, sortCardOperators } from './card-util.js';
import { tfliteCard } from './tflite-card.js';
import { tfliteMetadataSchema } from './tflite-metadata.js';
import { readTflite } from './tflite.js';
import type { AssociatedFile, InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * MediaPipe Tasks bundles (`.task`): a zip of the TFLite models of one task and their metadata
 * (`face_landmarker.task` = face_detector.tflite + face_landmarks_detector.tflite +
 * face_blendshapes.tflite + geometry_pipeline_metadata_landmarks.binarypb), sometimes bundles inside a
 * bundle (gesture_recognizer.task holds hand_landmarker.task), and for LLMs members without extension
 * (`TF_LITE_PREFILL_DECODE`, `TOKENIZER_MODEL`, `METADATA`). The bundle is one model: its members are
 * listed and hashed as its associated files, and each stored TFLite member is read with the `tflite`
 * reader over a slice, without a copy. Members are stored (not deflated) so that MediaPipe can map them.
 */

const MAX_MEMBERS = 1000;
/** Bytes hashed over all members of one bundle; past it members are listed without a digest. */
const MAX_HASHED_BYTES = 512 * 1024 * 1024;
const MAX_NAME = 1024;
/** LLM bundle members (MediaPipe LLM Inference), named without extension. */
const LLM_MEMBERS = /^(TF_LITE_[A-Z0-9_]+|TOKENIZER_MODEL|METADATA)$/;

const memberSchema = z.strictObject({
  name: z.string().describe('Member path inside the bundle.'),
  size: z.number().int().nonnegative().describe('Uncompressed bytes.'),
  kind: z
    .enum(['tflite', 'task', 'binarypb', 'other'])
    .describe('What the member holds: `tflite` by its TFL3 identifier, `task` a nested bundle, `binarypb` a MediaPipe protobuf by name.'),
  compressed: z.boolean().describe('True when the member is deflated (MediaPipe expects stored members it can map).'),
  tflite: z
    .strictObject({
      name: z.string().optional().describe('ModelMetadata.name.'),
      version: z.string().optional().describe('ModelMetadata.version.'),
      author: z.string().optional().describe('ModelMetadata.author.'),
      license: z.string().optional().describe('ModelMetadata.license.'),
      description: z.string().optional().describe('ModelMetadata.description, else Model.description.'),
      inputs: z.array(z.string()).describe('Subgraph 0 inputs as `name:type[shape]`.'),
      outputs: z.array(z.string()).describe('Subgraph 0 outputs as `name:type[shape]`.'),
      parameters: z.number().int().nonnegative().optional().describe('Constant elements.'),
      parameterBytes: z.number().int().nonnegative().optional().describe('Constant bytes.'),
      weightTypes: z.array(z.string()).describe('Weight element types.'),
      quantized: z.boolean().optional().describe('As the tflite card decides it.'),
      operators: z.record(z.string(), z.number().int().nonnegative()).describe('Operators by name with their counts.'),
    })
    .optional()
    .describe('A stored TFLite member as the `tflite` reader describes it (its card, flattened); absent when deflated or unreadable.'),
});
type Member = z.infer<typeof memberSchema>;

export const mediapipeMetadataSchema = z
  .strictObject({
    members: z.array(memberSchema).describe('Zip members in name order.'),
    tfliteModels: z.number().int().nonnegative().describe('Members that are TFLite models.'),
    llm: z.boolean().describe('True when the members are those of an LLM Inference bundle (TF_LITE_PREFILL_DECODE, TOKENIZER_MODEL).'),
  })
  .meta({
    title: 'MediaPipe task bundle metadata',
    description:
      'A MediaPipe Tasks `.task` bundle (a zip whose first member is a TFLite model, a nested bundle or a MediaPipe protobuf): one model whose members are listed and hashed as associated files, each stored TFLite member described by the `tflite` reader (metadata, inputs, outputs, parameters, operators). Nested bundles are listed, not opened.',
  });
export type MediapipeMetadata = z.infer<typeof mediapipeMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid MediaPipe task bundle: ${message}`);
}

function kindByName(name: string): Member['kind'] {
  const ext = extensionOf(name);
  if (ext === '.tflite' || name.startsWith('TF_LITE_')) return 'tflite';
  if (ext === '.task') return 'task';
  if (ext === '.binarypb') return 'binarypb';
  return 'other';
}

/** The member's kind from its first bytes when stored ('TFL3' at 4, 'PK\x03\x04' at 0), else its name. */
function kindOf(src: ByteSource, m: ZipMember, range: { offset: number; length: number } | undefined): Member['kind'] {
  if (m.method === 0 && range !== undefined && range.length >= 8) {
    const h = src.read(range.offset, 8);
    if (h[4] === 0x54 && h[5] === 0x46 && h[6] === 0x4c && h[7] === 0x33) return 'tflite';
    if (h[0] === 0x50 && h[1] === 0x4b && h[2] === 0x03 && h[3] === 0x04) return 'task';
  }
  const byName = kindByName(m.name);
  // A name that says TFLite over bytes that are not is just a member, not a model.
  return byName === 'tflite' && m.method === 0 ? 'other' : byName;
}

const tensorText = (t: ModelCard['inputs'][number]): string =>
  `${t.name}:${t.type ?? '?'}${t.shape === null || t.shape === undefined ? '' : `[${t.shape.map((d) => d ?? '?').join(',')}]`}`;

/** Describes a stored TFLite member through the tflite reader; a broken one becomes a warning. */
function describeTflite(src: ByteSource, m: ZipMember, range: { offset: number; length: number }, warnings: ModelWarning[]): Member['tflite'] {
  try {
    const info = readTflite(new SliceSource(src, range.offset, range.length));
    const card = tfliteCard(tfliteMetadataSchema.parse(info.metadata));
    const ops: Record<string, number> = {};
    for (const o of card.operators) ops[o.name] = (ops[o.name] ?? 0) + o.count;
    return {
      ...opt('name', card.name),
      ...opt('version', card.version),
      ...opt('author', card.author),
      ...opt('license', card.license),
      ...opt('description', card.description),
      inputs: card.inputs.map(tensorText),
      outputs: card.outputs.map(tensorText),
      ...opt('parameters', card.parameters),
      ...opt('parameterBytes', card.parameterBytes),
      weightTypes: card.weightTypes,
      ...opt('quantized', card.quantized),
      operators: Object.fromEntries(Object.entries(ops).sort((a, b) => cmp(a[0], b[0]))),
    };
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    warnings.push({ severity: 'warning', code: err.code, message: `Bundle member ${JSON.stringify(m.name)} is not a valid TFLite model: ${err.message}` });
    return undefined;
  }
}

/** Reads the bundle: members, their digests, and each stored TFLite member's description. */
export function readMediapipe(src: ByteSource, maxRatio: number): ModelInfo {
  let dir: ZipDirectory | undefined;
  try {
    dir = readZipDirectory(src, { maxEntries: MAX_MEMBERS });
  } catch (err) {
    if (err instanceof FormatError) fail(err.message);
    throw err;
  }
  if (dir === undefined) fail('no zip End Of Central Directory record ends the file.');
  if (dir.members.length === 0) fail('the zip has no members.');
  // MediaPipe opens the bundle as a zip from its first byte: bytes before the first member make another file.
  const first = Math.min(...dir.members.map((m) => m.localHeaderOffset));
  if (dir.start !== 0 || first !== 0) fail(`the first member's local header is at offset ${dir.start + first}, not at the start of the file.`);
  const warnings: ModelWarning[] = [];
  const members: Member[] = [];
  const files: AssociatedFile[] = [];
  let budget = MAX_HASHED_BYTES;
  const seen = new Set<string>();
  for (const m of [...dir.members].sort((a, b) => cmp(a.name, b.name))) {
    if (m.name.endsWith('/')) continue; // a folder entry
    const name = m.name.slice(0, MAX_NAME);
    if (seen.has(name)) {
      warnings.push({ severity: 'warning', code: 'duplicate-entry', message: `Bundle member ${JSON.stringify(name)} appears twice; the first is described.` });
      continue;
    }
    seen.add(name);
    let range: { offset: number; length: number } | undefined;
    try {
      range = memberDataRange(src, dir, m);
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
      warnings.push({ severity: 'warning', code: err.code, message: `Bundle member ${JSON.stringify(name)} not read: ${err.message}` });
    }
    const kind = kindOf(src, m, range);
    const member: Member = { name, size: m.size, kind, compressed: m.method !== 0 };
    if (kind === 'tflite' && m.method === 0 && range !== undefined) {
      const t = describeTflite(src, m, range, warnings);
      if (t !== undefined) member.tflite = t;
    }
    members.push(member);
    if (range === undefined) continue;
    if (m.size > budget) {
      warnings.push({
        severity: 'info',
        code: 'limit',
        message: `Bundle member ${JSON.stringify(name)} (${m.size} bytes) was not hashed: the bundle's ${MAX_HASHED_BYTES}-byte hashing budget is spent.`,
      });
      continue;
    }
    if (m.method !== 0 && m.size > RATIO_FLOOR && m.size > maxRatio * Math.max(1, m.compressedSize)) {
      warnings.push({
        severity: 'warning',
        code: 'limit',
        message: `Bundle member ${JSON.stringify(name)} would inflate ${m.compressedSize} bytes to ${m.size}, over the ${maxRatio}:1 ratio limit.`,
      });
      continue;
    }
    budget -= m.size;
    try {
      const digest = hashMember(src, dir, m);
      if (!digest.crcOk)
        warnings.push({ severity: 'warning', code: 'format', message: `Bundle member ${JSON.stringify(name)} does not match its recorded CRC-32.` });
      files.push({ name, size: digest.size, sha256: digest.sha256, type: kind });
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
      warnings.push({ severity: 'warning', code: err.code, message: `Bundle member ${JSON.stringify(name)} not hashed: ${err.message}` });
    }
  }
  const tfliteModels = members.filter((m) => m.kind === 'tflite').length;
  if (tfliteModels === 0 && !members.some((m) => m.kind === 'task')) fail('no member is a TFLite model or a nested bundle.');
  const metadata: MediapipeMetadata = { members, tfliteModels, llm: members.some((m) => LLM_MEMBERS.test(m.name)) };
  return {
    confidence: tfliteModels > 0 ? 'high' : 'medium',
    metadata,
    ...(files.length > 0 ? { associatedFiles: files } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * The card: what the TFLite members state together (parameters and bytes summed, weight types and
 * operators merged); no inputs or outputs, as a bundle's are those of its task graph, which the bundle
 * does not record in a form read here.
 */
export function mediapipeCard(md: MediapipeMetadata): ModelCard {
  const described = md.members.flatMap((m) => (m.tflite ? [m.tflite] : []));
  const ops = new Map<string, number>();
  for (const t of described) for (const [k, n] of Object.entries(t.operators)) ops.set(k, (ops.get(k) ?? 0) + n);
  const sum = (f: (t: (typeof described)[number]) => number | undefined): number | undefined =>
    described.length > 0 && described.every((t) => f(t) !== undefined)
      ? Math.min(
          described.reduce((a, t) => a + f(t)!, 0),
          Number.MAX_SAFE_INTEGER,
        )
      : undefined;
  return {
    format: 'mediapipe',
    inputs: [],
    outputs: [],
    ...opt(
      'parameters',
      sum((t) => t.parameters),
    ),
    ...opt(
      'parameterBytes',
      sum((t) => t.parameterBytes),
    ),
    weightTypes: [...new Set(described.flatMap((t) => t.weightTypes))].sort(cmp),
    ...(described.length > 0 ? { quantized: described.some((t) => t.quantized === true) } : {}),
    operators: sortCardOperators([...ops].map(([name, count]) => ({ name, count, custom: false }))),
    // Custom operators are told apart in each member's own tflite card; the merged histogram keeps names only.
    customOperators: false,
  };
}

/** The first local header's member name, from the head (offset 26: name length, 30: the name). */
function firstMemberName(head: Uint8Array): string | undefined {
  if (head.length < 30) return undefined;
  const n = u16le(head, 26, 'zip local header');
  if (n === 0 || 30 + n > head.length) return undefined;
  return new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(30, 30 + n));
}

/**
 * MediaPipe `.task` bundles. `match` needs the `.task` name, a zip local header at offset 0 and a
 * first member that is a TFLite model, a nested bundle, a `.binarypb` or an LLM bundle member, so that
 * no other zip is taken as a model. Not handled: `.binarypb` graphs on their own, LiteRT-LM
 * `.litertlm` files, opening nested bundles.
 */
export const mediapipe: ModelFormat = {
  id: 'mediapipe',
  description: 'MediaPipe Tasks bundle (.task zip): its TFLite models described and hashed as one model',
  extensions: ['.task'],
  signatures: [{ offset: 0, magic: 'PK\x03\x04', note: 'zip local file header (with a .task name)' }],
  metadataSchema: mediapipeMetadataSchema,
  card: (metadata) => mediapipeCard(mediapipeMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    if (extensionOf(probe.name) !== '.task') return false;
    const first = firstMemberName(probe.head);
    return first !== undefined && (kindByName(first) !== 'other' || LLM_MEMBERS.test(first));
  },
  async inspect(src: ByteSource, _probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    return readMediapipe(src, ctx.limits.maxRatio);
  },
};
