import { z } from 'zod';
import { isObject } from '../detect/json-probe.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * Rockchip RKNN models (RKNN-Toolkit and RKNN-Toolkit2), as Netron's reader and the toolkits' outputs
 * lay them out, little-endian:
 *
 *   offset 0   'RKNN' then 4 bytes (zeros in every file we know of; not checked, as Netron does not)
 *   offset 8   u64 file version (1, 2...6; 0x1001...0x1004)
 *   offset 16  u64 size of the compiled model data
 *   offset 24  40 bytes of header (versions other than 1 and 0x1001, when data is present)
 *   then       the data (an OpenVX NBG starting 'VPMN', or an RKNN FlatBuffer with identifier 'RKNN')
 *   then       u64 size of a JSON description, and the JSON: `version` (the toolkit's), `name`,
 *              `target_platform`, `network_platform`, `ori_network_platform`, `nodes[].op`,
 *              `norm_tensor` / `const_tensor` with `size` and `dtype.vx_type`, and `graph` entries
 *              `{ left: 'input'|'output', left_tensor_id, right, right_tensor_id }`.
 *
 * Also: a bare OpenVX NBG ('VPMN': u16 major, u16 minor, 4 bytes, a 64-byte name, u32 node count), an
 * RKNN FlatBuffer alone ('RKNN' at offset 4), and encrypted models ('CYPTRKNN'), which are opaque.
 */

const MAX_JSON = 64 * 1024 * 1024;
const MAX_TEXT = 1024;
const MAX_IO = 4096;
const MAX_RANK = 64;
/** File versions whose header carries 40 more bytes before the data (Netron's list). */
const LONG_HEADER = new Set([2, 3, 4, 5, 6, 0x1002, 0x1003, 0x1004]);
const KNOWN_VERSIONS = new Set([1, 0x1001, ...LONG_HEADER]);

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const tensorSchema = z.strictObject({
  name: z.string().describe('`input<N>` / `output<N>` from the graph entry (the JSON names no tensor).'),
  dtype: z.string().optional().describe("The tensor's `dtype.vx_type`, lower-cased without `VSI_NN_TYPE_`."),
  shape: z.array(z.number().int().nonnegative()).optional().describe("The tensor's `size`, as written (innermost first in RKNN's own order)."),
});

export const rknnMetadataSchema = z
  .strictObject({
    container: z
      .enum(['rknn', 'flatbuffers', 'openvx', 'encrypted'])
      .describe('`rknn` (RKNN header + JSON), a bare RKNN `flatbuffers` model, a bare `openvx` NBG, or `encrypted` (CYPTRKNN).'),
    fileVersion: z.number().int().nonnegative().optional().describe("The header's u64 file version (offset 8)."),
    dataSize: z.number().int().nonnegative().optional().describe("The header's u64 size of the compiled data (offset 16)."),
    dataKind: z.enum(['openvx', 'flatbuffers', 'none', 'unknown']).optional().describe('What the compiled data starts with (`VPMN`, an `RKNN` identifier).'),
    toolkitVersion: z.string().optional().describe('JSON `version`: the RKNN toolkit that built the model.'),
    name: z.string().optional().describe('JSON `name`, or the NBG name.'),
    targetPlatforms: z.array(z.string()).describe('JSON `target_platform` (`rk3588`, `rv1126`).'),
    networkPlatform: z.string().optional().describe('JSON `network_platform`.'),
    originalPlatform: z.string().optional().describe('JSON `ori_network_platform`: the framework converted from (`onnx`, `pytorch`).'),
    jsonKeys: z.array(z.string()).describe('Top-level keys of the JSON, sorted, at most 100.'),
    nodeCount: z.number().int().nonnegative().optional().describe('Entries of JSON `nodes`, or the NBG node count.'),
    ops: countByName.describe('JSON `nodes[].op` without the `VSI_NN_OP_` / `RKNN_OP_` prefix.'),
    constTypes: countByName.describe('JSON `const_tensor` entries per dtype.'),
    inputs: z.array(tensorSchema).describe('Graph entries whose `left` is `input`.'),
    outputs: z.array(tensorSchema).describe('Graph entries whose `left` is `output`.'),
    nbgVersion: z.string().optional().describe('`major.minor` of an OpenVX NBG (bare, or inside the data).'),
  })
  .meta({
    title: 'RKNN metadata',
    description:
      'Rockchip NPU models: the `RKNN` header with its embedded JSON description (toolkit version, target platform, nodes, inputs and outputs), bare OpenVX NBGs (`VPMN`), bare RKNN FlatBuffers and encrypted `CYPTRKNN` files (identity only, medium confidence). Compiled data is never read beyond its first bytes.',
  });
export type RknnMetadata = z.infer<typeof rknnMetadataSchema>;
type Tensor = z.infer<typeof tensorSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid RKNN model: ${message}`, truncated ? 'truncated' : 'format');
}

function read(src: ByteSource, at: number, n: number, what: string): Uint8Array {
  const b = src.read(at, n);
  if (b.length < n) fail(`${what} at offset ${at} needs ${n} bytes; the file ends at ${src.size}.`, true);
  return b;
}

function u64(src: ByteSource, at: number, what: string): number {
  const b = read(src, at, 8, what);
  const dv = new DataView(b.buffer, b.byteOffset, 8);
  const v = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  return checked(v, 0, Number.MAX_SAFE_INTEGER, `Invalid RKNN model: ${what} at offset ${at}`);
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? stated(v.slice(0, MAX_TEXT)) : undefined;
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder('latin1').decode(end < 0 ? b : b.subarray(0, end));
}

/** An OpenVX NBG header at `at`: 'VPMN', u16 major, u16 minor, 4 bytes, 64-byte name, u32 nodes. */
function readNbg(src: ByteSource, at: number): { version: string; name?: string; nodes: number } {
  const b = read(src, at, 80, 'OpenVX NBG header');
  const dv = new DataView(b.buffer, b.byteOffset, 80);
  const name = stated(cString(b.subarray(12, 76)));
  return { version: `${dv.getUint16(4, true)}.${dv.getUint16(6, true)}`, ...(name !== undefined ? { name } : {}), nodes: dv.getUint32(76, true) };
}

function vxType(d: unknown): string | undefined {
  const t = isObject(d) ? text(d.vx_type) : text(d);
  return t === undefined ? undefined : t.replace(/^VSI_NN_TYPE_/, '').toLowerCase();
}

/** Reads the facts of the embedded JSON description. */
function readJson(j: Record<string, unknown>, md: RknnMetadata): void {
  const t = text(j.version);
  if (t !== undefined) md.toolkitVersion = t;
  const name = text(j.name);
  if (name !== undefined) md.name = name;
  const tp = j.target_platform;
  md.targetPlatforms = (Array.isArray(tp) ? tp : [tp])
    .map(text)
    .filter((x): x is string => x !== undefined)
    .slice(0, 64);
  const np = text(j.network_platform);
  if (np !== undefined) md.networkPlatform = np;
  const op = text(j.ori_network_platform);
  if (op !== undefined) md.originalPlatform = op;
  md.jsonKeys = Object.keys(j)
    .sort(cmp)
    .slice(0, 100)
    .map((k) => k.slice(0, 256));
  const ops = new Map<string, number>();
  if (Array.isArray(j.nodes)) {
    md.nodeCount = j.nodes.length;
    for (const n of j.nodes) {
      const o = isObject(n) ? text(n.op) : undefined;
      const k = o === undefined ? 'unknown' : o.replace(/^(VSI_NN_OP_|RKNN_OP_)/, '');
      ops.set(k, (ops.get(k) ?? 0) + 1);
    }
  }
  md.ops = Object.fromEntries([...ops].sort((a, b) => cmp(a[0], b[0])));
  const consts = new Map<string, number>();
  if (Array.isArray(j.const_tensor)) {
    for (const c of j.const_tensor) {
      const d = isObject(c) ? vxType(c.dtype) : undefined;
      consts.set(d ?? 'unknown', (consts.get(d ?? 'unknown') ?? 0) + 1);
    }
  }
  md.constTypes = Object.fromEntries([...consts].sort((a, b) => cmp(a[0], b[0])));
  // Tensors the graph entries point at, by `<kind>:<id>` (norm_tensor:0).
  const tensors = new Map<string, Record<string, unknown>>();
  for (const kind of ['norm_tensor', 'const_tensor']) {
    const list = j[kind];
    if (!Array.isArray(list)) continue;
    for (const e of list) if (isObject(e) && Number.isSafeInteger(e.tensor_id)) tensors.set(`${kind}:${String(e.tensor_id)}`, e);
  }
  if (Array.isArray(j.graph)) {
    for (const g of j.graph) {
      if (!isObject(g) || (g.left !== 'input' && g.left !== 'output')) continue;
      const list = g.left === 'input' ? md.inputs : md.outputs;
      if (list.length >= MAX_IO) continue;
      const id = Number.isSafeInteger(g.left_tensor_id) ? (g.left_tensor_id as number) : list.length;
      const t: Tensor = { name: `${g.left}${id}` };
      const target = typeof g.right === 'string' ? tensors.get(`${g.right}:${String(g.right_tensor_id)}`) : undefined;
      if (target !== undefined) {
        const dt = vxType(target.dtype);
        if (dt !== undefined) t.dtype = dt;
        if (Array.isArray(target.size) && target.size.length <= MAX_RANK && target.size.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
          t.shape = target.size as number[];
      }
      list.push(t);
    }
  }
}

/** Reads an `RKNN` container: header, the first bytes of the data, and the JSON after it. */
function readContainer(src: ByteSource, warnings: ModelWarning[]): { md: RknnMetadata; confidence: ModelInfo['confidence'] } {
  const md: RknnMetadata = { container: 'rknn', targetPlatforms: [], jsonKeys: [], ops: {}, constTypes: {}, inputs: [], outputs: [] };
  const version = u64(src, 8, 'file version');
  md.fileVersion = version;
  if (!KNOWN_VERSIONS.has(version)) fail(`file version ${version} at offset 8 is not one of the known versions (1-6, 0x1001-0x1004).`);
  const dataSize = u64(src, 16, 'data size');
  md.dataSize = dataSize;
  const dataAt = 24 + (LONG_HEADER.has(version) && dataSize > 0 ? 40 : 0);
  if (dataAt + dataSize + 8 > src.size)
    fail(`the ${dataSize}-byte data at offset ${dataAt} and its JSON size run past the end of the ${src.size}-byte file.`, true);
  if (dataSize === 0) md.dataKind = 'none';
  else {
    const sig = read(src, dataAt, Math.min(8, dataSize), 'data signature');
    const at = (s: string, o: number): boolean => sig.length >= o + 4 && String.fromCharCode(...sig.subarray(o, o + 4)) === s;
    md.dataKind = at('VPMN', 0) ? 'openvx' : at('RKNN', 4) ? 'flatbuffers' : 'unknown';
    if (md.dataKind === 'openvx' && dataSize >= 80) {
      const nbg = readNbg(src, dataAt);
      md.nbgVersion = nbg.version;
    }
  }
  const jsonAt = dataAt + dataSize + 8;
  const jsonSize = checked(u64(src, dataAt + dataSize, 'JSON size'), 0, src.size - jsonAt, `Invalid RKNN model: JSON size at offset ${dataAt + dataSize}`);
  if (jsonSize === 0) return { md, confidence: 'medium' };
  if (jsonSize > MAX_JSON) {
    warnings.push({
      severity: 'warning',
      code: 'limit',
      message: `RKNN: the ${jsonSize}-byte JSON description is larger than ${MAX_JSON} bytes; it was not read.`,
    });
    return { md, confidence: 'medium' };
  }
  let j: unknown;
  try {
    j = JSON.parse(new TextDecoder('utf-8').decode(read(src, jsonAt, jsonSize, 'JSON description')));
  } catch (err) {
    if (err instanceof FormatError) throw err;
    warnings.push({ severity: 'warning', code: 'format', message: `RKNN: the JSON description at offset ${jsonAt} does not parse; only the header was read.` });
    return { md, confidence: 'medium' };
  }
  if (!isObject(j)) {
    warnings.push({
      severity: 'warning',
      code: 'format',
      message: `RKNN: the JSON description at offset ${jsonAt} is not an object; only the header was read.`,
    });
    return { md, confidence: 'medium' };
  }
  readJson(j, md);
  return { md, confidence: 'high' };
}

// ---- the card and the format ------------------------------------------------------------------------------------

export function rknnCard(metadata: Record<string, unknown>): ModelCard {
  const m = rknnMetadataSchema.parse(metadata);
  const spec = (t: Tensor): ModelCard['inputs'][number] => ({ name: t.name, ...opt('type', t.dtype), ...opt('shape', t.shape) });
  const weightTypes = Object.keys(m.constTypes)
    .filter((t) => t !== 'unknown')
    .sort(cmp);
  const quant = weightTypes.filter((t) => /^u?int(4|8|16)$/.test(t));
  return {
    ...opt('name', m.name),
    ...opt('producer', m.toolkitVersion !== undefined ? 'RKNN-Toolkit' : undefined),
    ...opt('producerVersion', m.toolkitVersion),
    format: 'rknn',
    ...opt('formatVersion', m.fileVersion !== undefined ? String(m.fileVersion) : m.nbgVersion),
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    weightTypes,
    ...(weightTypes.length > 0 ? { quantized: quant.length > 0 } : {}),
    ...opt('quantization', quant.length > 0 ? quant.join(', ') : undefined),
    operators: sortCardOperators(Object.entries(m.ops).map(([name, count]) => ({ name, count, custom: false }))),
    customOperators: false,
  };
}

function ascii(head: Uint8Array, at: number, s: string): boolean {
  if (head.length < at + s.length) return false;
  for (let i = 0; i < s.length; i++) if (head[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * RKNN models (`.rknn`): container version, toolkit version, name, target platforms, source framework,
 * node op histogram, inputs and outputs with dtype and size from the embedded JSON; bare OpenVX NBGs
 * and encrypted models by identity. Does not decode the compiled NPU data nor RKNN FlatBuffer graphs.
 */
export const rknn: ModelFormat = {
  id: 'rknn',
  description: 'Rockchip RKNN NPU model (RKNN, VPMN, CYPTRKNN): toolkit version, target platform, inputs/outputs from its JSON',
  extensions: ['.rknn'],
  signatures: [
    { offset: 0, magic: 'RKNN', note: 'RKNN container header' },
    { offset: 0, magic: 'VPMN', note: 'OpenVX network binary graph (RKNN-Toolkit 1 NBG)' },
    { offset: 0, magic: 'CYPTRKNN', note: 'encrypted RKNN model' },
    { offset: 4, magic: 'RKNN', note: 'RKNN FlatBuffers file identifier' },
  ],
  metadataSchema: rknnMetadataSchema,
  card: rknnCard,
  match(probe: Probe): boolean {
    const h = probe.head;
    return (
      (ascii(h, 0, 'RKNN') && h.length >= 32) ||
      (ascii(h, 0, 'VPMN') && h.length >= 80) ||
      (ascii(h, 0, 'CYPTRKNN') && h.length >= 16) ||
      (ascii(h, 4, 'RKNN') && h.length >= 16 && new DataView(h.buffer, h.byteOffset, 4).getUint32(0, true) < probe.size)
    );
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const h = probe.head;
    const warnings: ModelWarning[] = [];
    const empty = { targetPlatforms: [], jsonKeys: [], ops: {}, constTypes: {}, inputs: [], outputs: [] };
    let md: RknnMetadata;
    let confidence: ModelInfo['confidence'] = 'medium';
    if (ascii(h, 0, 'RKNN')) ({ md, confidence } = readContainer(src, warnings));
    else if (ascii(h, 0, 'CYPTRKNN')) {
      md = { container: 'encrypted', ...empty };
      warnings.push({ severity: 'info', code: 'encrypted', message: 'RKNN: the model is encrypted (CYPTRKNN); only its identity is reported.' });
    } else if (ascii(h, 0, 'VPMN')) {
      const nbg = readNbg(src, 0);
      md = { container: 'openvx', ...empty, nbgVersion: nbg.version, nodeCount: nbg.nodes, ...opt('name', nbg.name) };
    } else if (ascii(h, 4, 'RKNN')) md = { container: 'flatbuffers', ...empty };
    else fail('no RKNN, VPMN or CYPTRKNN signature.');
    const info: ModelInfo = { confidence, metadata: md as unknown as Record<string, unknown> };
    if (warnings.length > 0) info.warnings = warnings;
    return info;
  },
};
