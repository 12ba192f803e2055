import { z } from 'zod';
import { headMentionsKey, isObject, jsonObject } from '../detect/json-probe.js';
import { FormatError } from '../errors.js';
import { MAX_READ, type ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { leadingByte, type Probe } from '../probe.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * safetensors (huggingface/safetensors README, "Format"): a u64 little-endian N, N bytes of UTF-8 JSON
 * starting with '{' (padded with spaces), then the byte buffer. The JSON maps tensor names to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the byte buffer) plus an optional
 * `__metadata__` map of strings to strings. There is no magic: the header length and the '{' after it
 * are the only hint, so `match` checks them strictly.
 *
 * A model split in shards ships a `model.safetensors.index.json` (transformers' convention): a JSON with
 * `weight_map` (tensor name -> shard file) and `metadata.total_size`. That index is reported as the one
 * model; its shards are its parts, and each shard's header is read to count its parameters.
 */

/** The reference implementation's own bound on N (safetensors `N_MAX`, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Kept from `__metadata__`: entries and characters per value. */
const MAX_META_ENTRIES = 1000;
const MAX_TEXT = 4096;
const MAX_RANK = 64;
const MAX_SHARDS = 100_000;

/** Bits per element of each dtype of the format (README "dtype"), plus newer ones the library writes. */
const DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
};

/** Card names of dtypes (the ONNX-style lower-case names other formats use). */
const CARD_DTYPE: Readonly<Record<string, string>> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  I16: 'int16',
  U16: 'uint16',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  U32: 'uint32',
  F32: 'float32',
  F64: 'float64',
  I64: 'int64',
  U64: 'uint64',
  C64: 'complex64',
  F8_E5M2: 'float8e5m2',
  F8_E4M3: 'float8e4m3',
  F8_E8M0: 'float8e8m0',
};

/** Dtypes that store quantized values rather than plain numbers. */
const QUANT_DTYPES = new Set(['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2']);

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());

const parametersSchema = z
  .strictObject({
    count: z.number().int().nonnegative().describe('Elements of all tensors, from their shapes.'),
    bytes: z.number().int().nonnegative().describe('Bytes of all tensors, from their data_offsets.'),
    byType: countByName.describe('Elements per dtype (`F16`, `BF16`).'),
  })
  .describe('Parameters computed from the header.');

const fileSchema = z.strictObject({
  layout: z.literal('file').describe('One .safetensors file.'),
  headerLength: z.number().int().nonnegative().describe('N, the length of the JSON header.'),
  dataBytes: z.number().int().nonnegative().describe('Bytes after the header (the byte buffer).'),
  tensorCount: z.number().int().nonnegative().describe('Tensors in the header.'),
  parameters: parametersSchema,
  dtypes: countByName.describe('Tensors per dtype.'),
  metadata: z.record(z.string(), z.string()).describe('The `__metadata__` map (values cut at 4096 characters, the first 1000 entries).'),
});

const shardSchema = z.strictObject({
  path: z.string().describe('Shard file, relative to the index.'),
  tensors: z.number().int().nonnegative().describe('Tensors the weight_map places in it.'),
  read: z.boolean().describe('Whether the shard was found beside the index and its header read.'),
});

const shardedSchema = z.strictObject({
  layout: z.literal('sharded').describe('A `*.safetensors.index.json` naming shard files.'),
  tensorCount: z.number().int().nonnegative().describe('Entries of weight_map.'),
  totalSize: z.number().int().nonnegative().optional().describe('`metadata.total_size`: bytes of all tensors as the index states.'),
  shards: z.array(shardSchema).describe('Shard files, sorted by path.'),
  parameters: parametersSchema.optional().describe('Summed over the shards, present only when every shard header was read.'),
  dtypes: countByName.optional().describe('Tensors per dtype over all shards, when every shard header was read.'),
  metadata: z
    .record(z.string(), z.string())
    .describe("The index's `metadata` entries other than total_size, and the first shard's `__metadata__`, as strings."),
});

export const safetensorsMetadataSchema = z.discriminatedUnion('layout', [fileSchema, shardedSchema]).meta({
  title: 'safetensors metadata',
  description:
    'Found by content, not by name (an 8-byte header length, then a JSON header): tensor count, dtypes, parameter count and `__metadata__`, with name and licence where `modelspec.*` keys state them. Data past the end of the file or overlapping tensors are problems. A sharded `*.safetensors.index.json` is one model whose shard files are its parts; a missing shard is a problem on the model.',
});
export type SafetensorsMetadata = z.infer<typeof safetensorsMetadataSchema>;
type FileMetadata = z.infer<typeof fileSchema>;
type ShardedMetadata = z.infer<typeof shardedSchema>;

// ---- the binary file ----------------------------------------------------------------------------------------

function fail(message: string): never {
  throw new FormatError(`Invalid safetensors: ${message}`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads N, checked against the bound and the file, then the header bytes (in pieces above MAX_READ). */
function readHeaderBytes(src: ByteSource): Uint8Array {
  if (src.size < 8) fail(`the file has ${src.size} bytes, fewer than the 8 of the header length.`);
  const h = src.read(0, 8);
  const v = new DataView(h.buffer, h.byteOffset, 8).getBigUint64(0, true);
  if (v > BigInt(MAX_HEADER_BYTES)) fail(`header length ${v} at offset 0 exceeds the limit of ${MAX_HEADER_BYTES} bytes.`);
  const n = Number(v);
  if (n > src.size - 8)
    throw new FormatError(`Invalid safetensors: header length ${n} at offset 0 runs past the end of the ${src.size}-byte file.`, 'truncated');
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += MAX_READ) out.set(src.read(8 + o, Math.min(MAX_READ, n - o)), o);
  return out;
}

function parseHeader(bytes: Uint8Array): Record<string, unknown> {
  if (bytes[0] !== 0x7b) fail(`the header at offset 8 does not start with '{'.`);
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    fail('the header JSON at offset 8 is not valid UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(`the header JSON at offset 8 does not parse: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(value)) fail('the header JSON at offset 8 is not an object.');
  return value;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function cut(s: string): string {
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

/** `__metadata__` (or an index's metadata) as strings: other JSON values are kept as their JSON text. */
function stringMap(v: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const k of Object.keys(v).sort()) {
    if (skip.has(k)) continue;
    if (n++ >= MAX_META_ENTRIES) break;
    const x = v[k];
    out[k] = cut(typeof x === 'string' ? x : (JSON.stringify(x) ?? 'null'));
  }
  return out;
}

interface Totals {
  count: number;
  bytes: number;
  byType: Map<string, number>;
  dtypes: Map<string, number>;
}

function add(a: number, b: number): number {
  const s = a + b;
  return Number.isSafeInteger(s) ? s : Number.MAX_SAFE_INTEGER;
}

/**
 * Validates the header of one safetensors file and sums its tensors. Structure errors (an entry that is
 * not `{ dtype, shape, data_offsets }`) are FormatErrors; data that does not fit, overlaps or disagrees
 * with its shape is a warning: the model is still what the header says.
 */
export function readSafetensors(src: ByteSource, label = 'safetensors'): { metadata: FileMetadata; warnings: ModelWarning[] } {
  const bytes = readHeaderBytes(src);
  const header = parseHeader(bytes);
  const dataBytes = src.size - 8 - bytes.length;
  const totals: Totals = { count: 0, bytes: 0, byType: new Map(), dtypes: new Map() };
  const ranges: { name: string; begin: number; end: number }[] = [];
  const warnings: ModelWarning[] = [];
  const past: string[] = [];
  const mismatched: string[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(entry)) fail(`__metadata__ is ${JSON.stringify(entry)?.slice(0, 40)}, expected an object of strings.`);
      metadata = stringMap(entry);
      continue;
    }
    const what = `tensor '${name.slice(0, 200)}'`;
    if (!isObject(entry)) fail(`${what} is not an object.`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || dtype.length > 32) fail(`${what} dtype is ${JSON.stringify(dtype)?.slice(0, 40)}, expected a dtype name such as "F16".`);
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every(isCount))
      fail(`${what} shape is ${JSON.stringify(shape)?.slice(0, 80)}, expected at most ${MAX_RANK} non-negative integers.`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1]) || offsets[0] > offsets[1]) {
      fail(`${what} data_offsets is ${JSON.stringify(offsets)?.slice(0, 80)}, expected [begin, end] with 0 <= begin <= end.`);
    }
    const [begin, end] = offsets as [number, number];
    let elements = 1;
    for (const d of shape as number[]) elements = Number.isSafeInteger(elements * d) ? elements * d : Number.MAX_SAFE_INTEGER;
    totals.count = add(totals.count, elements);
    totals.bytes = add(totals.bytes, end - begin);
    totals.byType.set(dtype, add(totals.byType.get(dtype) ?? 0, elements));
    totals.dtypes.set(dtype, (totals.dtypes.get(dtype) ?? 0) + 1);
    const bits = DTYPE_BITS[dtype];
    if (bits !== undefined && Math.ceil((elements * bits) / 8) !== end - begin) mismatched.push(name);
    if (end > dataBytes) past.push(name);
    ranges.push({ name, begin, end });
  }
  const first = (names: string[]): string => `'${names[0]!.slice(0, 200)}'${names.length > 1 ? ` and ${names.length - 1} more` : ''}`;
  if (past.length > 0) {
    warnings.push({
      severity: 'error',
      code: 'truncated',
      message: `${label}: tensor ${first(past)} ends past the ${dataBytes}-byte data buffer: the file is truncated.`,
    });
  }
  if (mismatched.length > 0) {
    warnings.push({
      severity: 'warning',
      code: 'format',
      message: `${label}: tensor ${first(mismatched)} has data_offsets whose length disagrees with its dtype and shape.`,
    });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const p = ranges[i - 1]!;
    const r = ranges[i]!;
    if (r.begin < p.end && r.end > r.begin) {
      warnings.push({
        severity: 'warning',
        code: 'format',
        message: `${label}: tensors '${p.name.slice(0, 200)}' and '${r.name.slice(0, 200)}' overlap (bytes ${r.begin}-${Math.min(p.end, r.end)} of the data buffer).`,
      });
      break;
    }
  }
  return {
    metadata: {
      layout: 'file',
      headerLength: bytes.length,
      dataBytes,
      tensorCount: ranges.length,
      parameters: { count: totals.count, bytes: totals.bytes, byType: sorted(totals.byType) },
      dtypes: sorted(totals.dtypes),
      metadata,
    },
    warnings,
  };
}

function sorted(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** True when the head starts like a safetensors file: a plausible N, then '{' and a key or '}'. */
function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 10) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (v.getUint32(4, true) !== 0) return false; // N < 2^32: the limit is 100 MB
  const n = v.getUint32(0, true);
  if (n < 2 || n > MAX_HEADER_BYTES || n > size - 8) return false;
  if (head[8] !== 0x7b) return false; // '{' right after N
  let i = 9;
  while (i < head.length && i < 8 + n && head[i] === 0x20) i++;
  if (head[i] !== 0x22 && head[i] !== 0x7d) return false; // a key or the closing brace
  // The header ends with '}' then only spaces (the README allows trailing 0x20 padding).
  if (8 + n <= head.length) {
    let e = 8 + n - 1;
    while (e > 8 && head[e] === 0x20) e--;
    if (head[e] !== 0x7d) return false;
  }
  return true;
}

// ---- the sharded index ---------------------------------------------------------------------------------------------

/** The weight map of a `*.safetensors.index.json`, when the JSON is one: every shard a `.safetensors` file. */
function weightMapOf(value: Record<string, unknown>): Map<string, number> | undefined {
  const wm = value.weight_map;
  if (!isObject(wm)) return undefined;
  const shards = new Map<string, number>();
  for (const file of Object.values(wm)) {
    if (typeof file !== 'string' || !file.endsWith('.safetensors')) return undefined;
    shards.set(file, (shards.get(file) ?? 0) + 1);
  }
  return shards.size > 0 ? shards : undefined;
}

async function inspectIndex(value: Record<string, unknown>, ctx: InspectContext): Promise<ModelInfo> {
  const shards = weightMapOf(value);
  if (shards === undefined) fail('weight_map is not a map of tensor names to .safetensors files.');
  if (shards.size > MAX_SHARDS) fail(`weight_map names ${shards.size} shard files, more than ${MAX_SHARDS}.`);
  const tensorCount = Object.keys(value.weight_map as object).length;
  const meta = isObject(value.metadata) ? value.metadata : {};
  const totalSize = meta.total_size;
  const warnings: ModelWarning[] = [];
  const totals: Totals = { count: 0, bytes: 0, byType: new Map(), dtypes: new Map() };
  const out: ShardedMetadata['shards'] = [];
  let metadata = stringMap(meta, new Set(['total_size']));
  let allRead = true;
  let firstMeta = true;
  for (const path of [...shards.keys()].sort()) {
    let read = false;
    // A missing shard is reported by the scan (it checks every part); here it only leaves the sums out.
    const src = await ctx.sibling?.(path);
    if (src !== undefined) {
      try {
        const r = readSafetensors(src, `shard '${path}'`);
        read = true;
        totals.count = add(totals.count, r.metadata.parameters.count);
        totals.bytes = add(totals.bytes, r.metadata.parameters.bytes);
        for (const [k, n] of Object.entries(r.metadata.parameters.byType)) totals.byType.set(k, add(totals.byType.get(k) ?? 0, n));
        for (const [k, n] of Object.entries(r.metadata.dtypes)) totals.dtypes.set(k, (totals.dtypes.get(k) ?? 0) + n);
        warnings.push(...r.warnings);
        if (firstMeta) metadata = { ...r.metadata.metadata, ...metadata };
        firstMeta = false;
      } catch (err) {
        // Only "not valid" is caught: the scan's deferral signal for a sibling not listed yet must pass.
        if (!(err instanceof FormatError)) throw err;
        warnings.push({ severity: 'error', code: 'format', message: `Shard '${path}' is not a valid safetensors file: ${err.message}` });
      }
    }
    if (!read) allRead = false;
    out.push({ path, tensors: shards.get(path)!, read });
  }
  const m: ShardedMetadata = {
    layout: 'sharded',
    tensorCount,
    ...(isCount(totalSize) ? { totalSize } : {}),
    shards: out,
    ...(allRead ? { parameters: { count: totals.count, bytes: totals.bytes, byType: sorted(totals.byType) }, dtypes: sorted(totals.dtypes) } : {}),
    metadata,
  };
  const info: ModelInfo = {
    confidence: allRead ? 'high' : 'medium',
    metadata: m as unknown as Record<string, unknown>,
    parts: out.map((s) => ({ path: s.path, role: 'shard' })),
  };
  if (warnings.length > 0) info.warnings = warnings;
  return info;
}

// ---- the card -------------------------------------------------------------------------------------------------------

/** Model facts some writers put in `__metadata__` (Stability AI's `modelspec.*` keys). */
const MODELSPEC: ReadonlyArray<readonly [string, 'name' | 'architecture' | 'license' | 'author' | 'description']> = [
  ['modelspec.title', 'name'],
  ['modelspec.architecture', 'architecture'],
  ['modelspec.license', 'license'],
  ['modelspec.author', 'author'],
  ['modelspec.description', 'description'],
];

/** The normalized card: parameters and dtypes from the header, names only where `__metadata__` states them. */
export function safetensorsCard(metadata: Record<string, unknown>): ModelCard {
  const m = metadata as SafetensorsMetadata;
  const card: ModelCard = { format: 'safetensors', inputs: [], outputs: [], weightTypes: [], operators: [], customOperators: false };
  for (const [key, field] of MODELSPEC) {
    const v = m.metadata[key];
    if (v !== undefined && v !== '') card[field] = v;
  }
  const params = m.parameters;
  if (params !== undefined) {
    card.parameters = params.count;
    card.parameterBytes = params.bytes;
    const types = Object.keys(params.byType);
    card.weightTypes = [...new Set(types.map((t) => CARD_DTYPE[t] ?? t.toLowerCase()))].sort();
    if (types.length > 0) card.quantized = types.some((t) => QUANT_DTYPES.has(t));
  }
  return card;
}

/**
 * safetensors weights: one `.safetensors` file (header JSON: tensors, dtypes, shapes, `__metadata__`)
 * or a sharded `*.safetensors.index.json` whose shards become its parts. Checks that tensor data lies
 * in the file and does not overlap. Does not read tensor data; does not handle the PyTorch `.bin` index
 * (`pytorch_model.bin.index.json`), whose shards are pickles.
 */
export const safetensors: ModelFormat = {
  id: 'safetensors',
  description: 'safetensors weights (header JSON: dtypes, shapes, __metadata__) and sharded .safetensors.index.json',
  extensions: ['.safetensors'],
  // No magic: a u64 header length followed by '{', checked strictly; the index is JSON with a weight_map.
  signatures: [],
  metadataSchema: safetensorsMetadataSchema,
  card: safetensorsCard,
  match(probe: Probe): boolean {
    if (looksLikeSafetensors(probe.head, probe.size)) return true;
    // The index: only JSON whose head names a weight_map is parsed (shared with other JSON formats).
    if (leadingByte(probe) !== 0x7b) return false;
    if (!headMentionsKey(probe.head, 'weight_map')) return false;
    const j = jsonObject(probe);
    return j.status === 'object' && weightMapOf(j.value) !== undefined;
  },
  async inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    if (src === probe.source) {
      const j = jsonObject(probe);
      if (j.status === 'object') return inspectIndex(j.value, ctx);
    }
    const { metadata, warnings } = readSafetensors(src);
    const info: ModelInfo = {
      confidence: warnings.some((w) => w.code === 'truncated') ? 'medium' : 'high',
      metadata: metadata as unknown as Record<string, unknown>,
    };
    if (warnings.length > 0) info.warnings = warnings;
    return info;
  },
};
