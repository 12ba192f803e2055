import { z } from 'zod';
import { ProtoReader, type ProtoMessage, WIRE_LEN, WIRE_VARINT } from '../decoders/protobuf.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * PaddlePaddle inference models: a protobuf `ProgramDesc` (paddle/fluid/framework/framework.proto)
 * in `<name>.pdmodel` (weights in `<name>.pdiparams`), or in `__model__` (weights in one `__params__` /
 * `params` file, or one file per persistable variable named after it). Fields read:
 *
 *   ProgramDesc: 1 blocks (BlockDesc), 4 version (Version: 1 version int64)
 *   BlockDesc:   1 idx, 2 parent_idx, 3 vars (VarDesc), 4 ops (OpDesc)
 *   VarDesc:     1 name, 2 type (VarType), 3 persistable
 *   VarType:     1 type (enum), 3 lod_tensor (LoDTensorDesc: 1 tensor (TensorDesc: 1 data_type, 2 dims))
 *   OpDesc:      1 inputs / 2 outputs (Var: 1 parameter, 2 arguments), 3 type
 *
 * No magic, but a fixed start: C++ and Python protobuf write fields in number order, and Paddle sets
 * block 0's `idx` to 0 and `parent_idx` to -1, so a ProgramDesc starts with `0a <length varint>` and then
 * `08 00 10 ff ff ff ff ff ff ff ff ff 01`. Those 13 bytes, after a 1-5 byte length, are declared as
 * the signatures; ONNX (`08` first) and other protobufs do not start so.
 */

/** Block 0's `idx = 0` and `parent_idx = -1` as protobuf writes them. */
const BLOCK0 = [0x08, 0x00, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] as const;

/** `VarType.Type` values that are element types, as card names. */
const DTYPES: Readonly<Record<number, string>> = {
  0: 'bool',
  1: 'int16',
  2: 'int32',
  3: 'int64',
  4: 'float16',
  5: 'float32',
  6: 'float64',
  19: 'size_t',
  20: 'uint8',
  21: 'int8',
  22: 'bfloat16',
  23: 'complex64',
  24: 'complex128',
  25: 'string',
};
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  bool: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  uint8: 1,
  int8: 1,
  bfloat16: 2,
  complex64: 8,
  complex128: 16,
};
const LOD_TENSOR = 7;
const MAX = { blocks: 100_000, vars: 4_000_000, ops: 4_000_000, args: 65_536, dims: 64, text: 1024, io: 4096, parts: 100_000 } as const;
const QUANT_OPS = /^(fake_quantize|fake_channel_wise|fake_dequantize|quantize_linear|dequantize_linear|quantize|dequantize)/;

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const tensorSchema = z.strictObject({
  name: z.string().describe('Variable name (feed op outputs for inputs, fetch op inputs for outputs).'),
  dtype: z.string().optional().describe('Its VarDesc element type (`float32`).'),
  shape: z.array(z.number().int().nullable()).optional().describe('Its VarDesc dims; -1 (dynamic) as null.'),
});

export const paddleMetadataSchema = z
  .strictObject({
    version: z
      .number()
      .int()
      .optional()
      .describe('`ProgramDesc.version.version`: the Paddle version integer (major * 10^6 + minor * 10^3 + patch; 0 for a develop build).'),
    paddleVersion: z.string().optional().describe('That integer as `major.minor.patch`, when not 0.'),
    blocks: z.number().int().nonnegative().describe('BlockDescs (control-flow sub-blocks included).'),
    opCount: z.number().int().nonnegative().describe('Ops over all blocks, feed and fetch included.'),
    ops: countByName.describe('Ops per type over all blocks.'),
    inputs: z.array(tensorSchema).describe('Feed targets: outputs of `feed` ops.'),
    outputs: z.array(tensorSchema).describe('Fetch targets: inputs of `fetch` ops.'),
    parameters: z.number().int().nonnegative().describe('Elements of the persistable dense tensors of block 0 (feed/fetch excluded) whose dims are all known.'),
    parameterBytes: z.number().int().nonnegative().describe('Their bytes, from dims and element types.'),
    persistable: z.number().int().nonnegative().describe('Persistable dense tensors of block 0 (the weights).'),
    weightTypes: countByName.describe('Persistable tensors per element type.'),
    weightsLayout: z
      .enum(['pdiparams', 'combined', 'per-tensor', 'none', 'unknown'])
      .describe('Where the weights are: `<name>.pdiparams`, one combined `__params__`/`params`, one file per tensor, none needed, or not found.'),
  })
  .meta({
    title: 'PaddlePaddle metadata',
    description:
      "PaddlePaddle inference programs (`.pdmodel`, `__model__`): a protobuf ProgramDesc recognised by its first block's fixed start, walked with bounded reads. Its weights files are its parts.",
  });
export type PaddleMetadata = z.infer<typeof paddleMetadataSchema>;
type Tensor = z.infer<typeof tensorSchema>;

interface Var {
  dtype?: string;
  dims?: (number | null)[];
  persistable: boolean;
  dense: boolean;
}

function fail(message: string): never {
  throw new FormatError(`Invalid PaddlePaddle model: ${message}`);
}

/** `VarType`: the element type and dims of a dense tensor. */
function readVarType(m: ProtoMessage, v: Var): void {
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_VARINT) v.dense = m.int(0, 1 << 20) === LOD_TENSOR;
    else if (m.field === 3 && m.wire === WIRE_LEN) {
      const lod = m.message('LoDTensorDesc');
      while (lod.next()) {
        if (lod.field !== 1 || lod.wire !== WIRE_LEN) continue;
        const t = lod.message('TensorDesc');
        const dims: (number | null)[] = [];
        while (t.next()) {
          if (t.field === 1 && t.wire === WIRE_VARINT) {
            const code = t.int(0, 1 << 20);
            v.dtype = DTYPES[code] ?? `unknown(${code})`;
          } else if (t.field === 2) {
            const push = (d: number): void => {
              if (dims.length >= MAX.dims) fail(`a TensorDesc at offset ${t.start} has more than ${MAX.dims} dims.`);
              dims.push(Number.isSafeInteger(d) && d >= 0 ? d : null);
            };
            // proto2 `repeated int64 dims`: written unpacked, but packed is legal on the wire.
            if (t.wire === WIRE_VARINT) push(t.signedNumber());
            else if (t.wire === WIRE_LEN) t.packedVarints(MAX.dims, (d) => push(Number(BigInt.asIntN(64, d))));
          }
        }
        v.dims = dims;
      }
    }
  }
}

/** `OpDesc.Var`: its parameter name and arguments. */
function readOpVar(m: ProtoMessage): { parameter: string; args: string[] } {
  let parameter = '';
  const args: string[] = [];
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_LEN) parameter = m.string(MAX.text);
    else if (m.field === 2 && m.wire === WIRE_LEN) {
      if (args.length >= MAX.args) fail(`an op argument list at offset ${m.start} has more than ${MAX.args} entries.`);
      args.push(m.string(MAX.text));
    }
  }
  return { parameter, args };
}

/** Walks the ProgramDesc. */
export function readPaddle(src: ByteSource, head?: Uint8Array): PaddleMetadata {
  const r = new ProtoReader(src, { format: 'PaddlePaddle model', ...(head !== undefined ? { head } : {}) });
  const prog = r.root('ProgramDesc', { 1: 'blocks', 4: 'version' });
  let blocks = 0;
  let version: number | undefined;
  let opCount = 0;
  const ops = new Map<string, number>();
  const vars = new Map<string, Var>();
  const feeds: string[] = [];
  const fetches: string[] = [];
  while (prog.next()) {
    if (prog.field === 4 && prog.wire === WIRE_LEN) {
      const v = prog.message('Version', { 1: 'version' });
      while (v.next()) if (v.field === 1 && v.wire === WIRE_VARINT) version = v.signedNumber();
      continue;
    }
    if (prog.field !== 1 || prog.wire !== WIRE_LEN) continue;
    if (++blocks > MAX.blocks) fail(`more than ${MAX.blocks} blocks.`);
    const block = prog.message('BlockDesc', { 1: 'idx', 2: 'parent_idx', 3: 'vars', 4: 'ops' });
    const first = blocks === 1;
    while (block.next()) {
      if (block.field === 3 && block.wire === WIRE_LEN && first) {
        if (vars.size >= MAX.vars) fail(`block 0 declares more than ${MAX.vars} variables.`);
        const vd = block.message('VarDesc', { 1: 'name', 2: 'type', 3: 'persistable' });
        let name = '';
        const v: Var = { persistable: false, dense: false };
        while (vd.next()) {
          if (vd.field === 1 && vd.wire === WIRE_LEN) name = vd.string(MAX.text);
          else if (vd.field === 2 && vd.wire === WIRE_LEN) readVarType(vd.message('VarType', { 1: 'type', 3: 'lod_tensor' }), v);
          else if (vd.field === 3 && vd.wire === WIRE_VARINT) v.persistable = vd.int(0, 1) === 1;
        }
        vars.set(name, v);
      } else if (block.field === 4 && block.wire === WIRE_LEN) {
        if (++opCount > MAX.ops) fail(`more than ${MAX.ops} ops.`);
        const od = block.message('OpDesc', { 1: 'inputs', 2: 'outputs', 3: 'type', 4: 'attrs' });
        let type = '';
        const ins: { parameter: string; args: string[] }[] = [];
        const outs: { parameter: string; args: string[] }[] = [];
        while (od.next()) {
          if (od.field === 3 && od.wire === WIRE_LEN) type = od.string(MAX.text);
          else if (od.field === 1 && od.wire === WIRE_LEN) ins.push(readOpVar(od.message('OpDesc.Var')));
          else if (od.field === 2 && od.wire === WIRE_LEN) outs.push(readOpVar(od.message('OpDesc.Var')));
        }
        const t = stated(type) ?? 'unknown';
        ops.set(t, (ops.get(t) ?? 0) + 1);
        if (first && t === 'feed') for (const o of outs) if (o.parameter === 'Out') feeds.push(...o.args);
        if (first && t === 'fetch') for (const i of ins) if (i.parameter === 'X') fetches.push(...i.args);
      }
    }
  }
  if (blocks === 0) fail('the ProgramDesc has no block.');
  const tensor = (name: string): Tensor => {
    const v = vars.get(name);
    return { name, ...opt('dtype', v?.dtype), ...opt('shape', v?.dims) };
  };
  let parameters = 0;
  let parameterBytes = 0;
  let persistable = 0;
  const weightTypes = new Map<string, number>();
  for (const [name, v] of vars) {
    if (!v.persistable || !v.dense || name === 'feed' || name === 'fetch') continue;
    persistable++;
    const dt = v.dtype ?? 'unknown';
    weightTypes.set(dt, (weightTypes.get(dt) ?? 0) + 1);
    if (v.dims === undefined || v.dims.some((d) => d === null)) continue;
    const n = (v.dims as number[]).reduce((a, b) => a * b, 1);
    parameters += n;
    parameterBytes += n * (DTYPE_BYTES[dt] ?? 0);
  }
  if (!Number.isSafeInteger(parameters) || !Number.isSafeInteger(parameterBytes)) fail('the persistable tensors add up to more than 2^53 elements.');
  const paddleVersion =
    version !== undefined && version > 0 ? `${Math.floor(version / 1_000_000)}.${Math.floor(version / 1000) % 1000}.${version % 1000}` : undefined;
  return {
    ...opt('version', version),
    ...opt('paddleVersion', paddleVersion),
    blocks,
    opCount,
    ops: Object.fromEntries([...ops].sort((a, b) => cmp(a[0], b[0]))),
    inputs: feeds.slice(0, MAX.io).map(tensor),
    outputs: fetches.slice(0, MAX.io).map(tensor),
    parameters,
    parameterBytes,
    persistable,
    weightTypes: Object.fromEntries([...weightTypes].sort((a, b) => cmp(a[0], b[0]))),
    weightsLayout: persistable === 0 ? 'none' : 'unknown',
  };
}

/** Persistable tensor names of block 0, for the per-tensor layout (read again: the metadata keeps counts only). */
function persistableNames(src: ByteSource): string[] {
  const r = new ProtoReader(src, { format: 'PaddlePaddle model' });
  const prog = r.root('ProgramDesc');
  const names: string[] = [];
  while (prog.next()) {
    if (prog.field !== 1 || prog.wire !== WIRE_LEN) continue;
    const block = prog.message('BlockDesc');
    while (block.next()) {
      if (block.field !== 3 || block.wire !== WIRE_LEN) continue;
      const vd = block.message('VarDesc');
      let name = '';
      let persistable = false;
      while (vd.next()) {
        if (vd.field === 1 && vd.wire === WIRE_LEN) name = vd.string(MAX.text);
        else if (vd.field === 3 && vd.wire === WIRE_VARINT) persistable = vd.int(0, 1) === 1;
      }
      if (persistable && name !== 'feed' && name !== 'fetch' && names.length < MAX.parts) names.push(name);
    }
    break; // block 0 only
  }
  return names;
}

// ---- the card and the format ------------------------------------------------------------------------------------

export function paddleCard(metadata: Record<string, unknown>): ModelCard {
  const m = paddleMetadataSchema.parse(metadata);
  const spec = (t: Tensor): ModelCard['inputs'][number] => ({ name: t.name, ...opt('type', t.dtype), ...opt('shape', t.shape) });
  const quantOps = Object.keys(m.ops).filter((o) => QUANT_OPS.test(o));
  const types = Object.keys(m.weightTypes).filter((t) => t !== 'unknown');
  const lowBit = types.filter((t) => t === 'int8' || t === 'uint8');
  return {
    ...opt('producer', m.paddleVersion !== undefined ? 'PaddlePaddle' : undefined),
    ...opt('producerVersion', m.paddleVersion),
    format: 'paddle',
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    ...(m.persistable > 0 ? { parameters: m.parameters, parameterBytes: m.parameterBytes } : {}),
    weightTypes: types.sort(cmp),
    quantized: quantOps.length > 0 || lowBit.length > 0,
    ...opt('quantization', quantOps.length > 0 ? quantOps.sort(cmp).join(', ') : lowBit.length > 0 ? lowBit.join(', ') : undefined),
    // Paddle has no custom-op marker in the program; custom ops are registered by the runtime.
    operators: sortCardOperators(Object.entries(m.ops).map(([name, count]) => ({ name, count, custom: false }))),
    customOperators: false,
  };
}

/** True when the head starts with blocks (field 1) whose first bytes are block 0's `idx 0, parent_idx -1`. */
function looksLikeProgram(head: Uint8Array): boolean {
  if (head[0] !== 0x0a) return false;
  let p = 1;
  while (p < 6 && p < head.length && (head[p]! & 0x80) !== 0) p++;
  p++; // the last byte of the length varint
  if (p > 6 || p + BLOCK0.length > head.length) return false;
  return BLOCK0.every((b, i) => head[p + i] === b);
}

/** Where the weights of a program named `name` are, and which files are its parts. */
async function weightParts(
  src: ByteSource,
  name: string,
  md: PaddleMetadata,
  ctx: InspectContext,
): Promise<{ layout: PaddleMetadata['weightsLayout']; parts: string[] }> {
  if (md.persistable === 0) return { layout: 'none', parts: [] };
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (/\.pdmodel$/i.test(base)) return { layout: 'pdiparams', parts: [`${base.slice(0, -8)}.pdiparams`] };
  // `__model__` and other names: a combined file if one is beside it, else one file per tensor.
  for (const combined of ['__params__', 'params', `${base}.pdiparams`])
    if ((await ctx.sibling?.(combined)) !== undefined) return { layout: 'combined', parts: [combined] };
  if (base === '__model__') return { layout: 'per-tensor', parts: persistableNames(src).filter((n) => /^[^/\\]+$/.test(n) && n !== '.' && n !== '..') };
  return { layout: 'unknown', parts: [] };
}

/**
 * PaddlePaddle inference programs (`.pdmodel`, `__model__`): Paddle version, op histogram over all
 * blocks, feed and fetch targets with dtype and dims, persistable tensors (count, elements, bytes,
 * types), quantization ops; the weights file(s) as parts. Does not read the weights, op attributes,
 * nor PIR JSON programs (`.json`, Paddle 3).
 */
export const paddle: ModelFormat = {
  id: 'paddle',
  description: 'PaddlePaddle inference program (.pdmodel, __model__: protobuf ProgramDesc) with its weights as parts: ops, feed/fetch, version',
  extensions: ['.pdmodel'],
  // `0a <len>` then block 0's `08 00 10 ff..ff 01`, for a length varint of 1 to 5 bytes.
  signatures: [2, 3, 4, 5, 6].map((offset) => ({ offset, magic: BLOCK0, note: 'ProgramDesc block 0: idx 0, parent_idx -1' })),
  metadataSchema: paddleMetadataSchema,
  card: paddleCard,
  match(probe: Probe): boolean {
    return looksLikeProgram(probe.head);
  },
  async inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    const metadata = readPaddle(src, src === probe.source ? probe.head : undefined);
    const { layout, parts } = await weightParts(src, probe.name, metadata, ctx);
    metadata.weightsLayout = layout;
    const warnings: ModelWarning[] = [];
    if (layout === 'unknown')
      warnings.push({
        severity: 'info',
        code: 'external-data',
        message: 'PaddlePaddle: no weights file was found beside the program (neither <name>.pdiparams, __params__ nor params).',
      });
    const info: ModelInfo = { confidence: 'high', metadata: metadata as unknown as Record<string, unknown> };
    if (parts.length > 0) info.parts = parts.map((path) => ({ path, role: 'weights' }));
    if (warnings.length > 0) info.warnings = warnings;
    return info;
  },
};
