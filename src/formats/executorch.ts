import { z } from 'zod';
import { FlatBufferReader } from '../decoders/flatbuffers.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * ExecuTorch programs (`.pte`, pytorch/executorch `schema/program.fbs` and `docs/source/pte-file-format.md`):
 * a FlatBuffer whose file identifier at offset 4 is 'ET' and two decimal digits ('ET12' today), with an
 * optional extended header at offset 8 ('eh' and two digits, its size, the program size and the offset
 * of the data segments that follow the FlatBuffer). The root table is `Program`: a schema version, the
 * execution plans (methods: their operators, backend delegates such as XnnpackBackend or QnnBackend,
 * values with constant tensors) and the segments. Segment data (weights, delegate blobs) is never read.
 *
 * Field ids count from 0 in schema order; a union takes two ids (type byte, then value).
 */

/** c10 ScalarType (executorch `scalar_type.fbs`), by value. */
const SCALAR_TYPES = [
  'uint8',
  'int8',
  'int16',
  'int32',
  'int64',
  'float16',
  'float32',
  'float64',
  'complex32',
  'complex64',
  'complex128',
  'bool',
  'qint8',
  'quint8',
  'qint32',
  'bfloat16',
  'quint4x2',
  'quint2x4',
  'bits1x8',
  'bits2x4',
  'bits4x2',
  'bits8',
  'bits16',
  'float8_e5m2',
  'float8_e4m3fn',
  'float8_e5m2fnuz',
  'float8_e4m3fnuz',
  'uint16',
  'uint32',
  'uint64',
] as const;
/** `KernelTypes.Tensor`: union type 5 (NONE 0, Null 1, Int 2, Bool 3, Double 4, Tensor 5...). */
const KERNEL_TYPE_TENSOR = 5;

const MAX = { plans: 1000, values: 2_000_000, operators: 100_000, delegates: 10_000, segments: 1_000_000, dims: 64, text: 1024 } as const;

export const executorchMetadataSchema = z
  .strictObject({
    fileIdentifier: z.string().describe("FlatBuffers file identifier at offset 4 ('ET12')"),
    schemaVersion: z.number().int().nonnegative().describe('`Program.version`'),
    extendedHeader: z
      .strictObject({
        magic: z.string().describe("Extended header magic at offset 8 ('eh00')"),
        programSize: z.number().int().nonnegative().describe('Bytes of the FlatBuffer program data'),
        segmentBaseOffset: z.number().int().nonnegative().describe('Where the data segments start (0: none)'),
      })
      .optional()
      .describe('The optional ExecuTorch extended header'),
    methods: z
      .array(
        z.strictObject({
          name: z.string().describe('Method name (`forward`)'),
          inputs: z.number().int().nonnegative().describe('Input values'),
          outputs: z.number().int().nonnegative().describe('Output values'),
          operators: z.number().int().nonnegative().describe('Operators the method calls'),
          delegates: z.array(z.string()).describe('Backend delegate ids of the method'),
        }),
      )
      .describe('Execution plans, in file order'),
    operators: z.record(z.string(), z.number().int().positive()).describe('Operators (`aten::add.out`) over all methods, with the methods using each'),
    delegates: z.array(z.string()).describe('Backend delegates (`XnnpackBackend`, `QnnBackend`, `CoreMLBackend`...), sorted, unique: the target hardware'),
    segments: z.number().int().nonnegative().describe('Data segments after the program'),
    constantTensors: z.number().int().nonnegative().describe('Constant tensors (weights) over all methods'),
    parameters: z.number().int().nonnegative().describe('Elements of those constant tensors, held at 2^53 - 1'),
    dtypes: z.record(z.string(), z.number().int().nonnegative()).describe('Constant tensor elements per element type'),
  })
  .meta({
    title: 'ExecuTorch metadata',
    description:
      'ExecuTorch `.pte` programs: schema version, methods with their operators and backend delegates, constant tensors; segment data is never read.',
  });

export type ExecutorchMetadata = z.output<typeof executorchMetadataSchema>;

/** The card: schema version, parameters, element types, operators; delegates are custom operators. */
export function executorchCard(md: ExecutorchMetadata): ModelCard {
  const types = Object.keys(md.dtypes).sort();
  const ops = Object.entries(md.operators).map(([name, count]) => ({ name, count, custom: !name.startsWith('aten::') }));
  for (const d of md.delegates) ops.push({ name: d, count: md.methods.filter((m) => m.delegates.includes(d)).length, custom: true });
  return {
    format: 'executorch',
    formatVersion: `${md.fileIdentifier}/${md.schemaVersion}`,
    inputs: [],
    outputs: [],
    ...(md.constantTensors > 0 ? { parameters: md.parameters } : {}),
    weightTypes: types,
    quantized: types.some((t) => t.startsWith('qint') || t.startsWith('quint')),
    operators: sortCardOperators(ops),
    customOperators: ops.some((o) => o.custom),
  };
}

/** 'ET' + two digits at offset 4, and a root offset inside the file past the header. */
function looksLikePte(head: Uint8Array, size: number): boolean {
  if (head.length < 16) return false;
  const digit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;
  if (head[4] !== 0x45 || head[5] !== 0x54 || !digit(head[6]) || !digit(head[7])) return false;
  const root = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
  return root >= 8 && root + 4 <= size;
}

function readPte(src: ByteSource, head: Uint8Array): ModelInfo {
  const id = String.fromCharCode(head[4]!, head[5]!, head[6]!, head[7]!);
  const u32 = (at: number): number => (head[at]! | (head[at + 1]! << 8) | (head[at + 2]! << 16) | (head[at + 3]! << 24)) >>> 0;
  const u64 = (at: number): number => u32(at) + u32(at + 4) * 2 ** 32;
  let extendedHeader: ExecutorchMetadata['extendedHeader'];
  if (head[8] === 0x65 && head[9] === 0x68 && head.length >= 32) {
    // 'eh' + two digits at offset 8: header size (u32), program size (u64), segment base offset (u64)
    const magic = String.fromCharCode(head[8]!, head[9]!, head[10]!, head[11]!);
    const hsize = u32(12);
    const programSize = u64(16);
    const segmentBaseOffset = u64(24);
    if (hsize < 24) throw new FormatError(`Invalid ExecuTorch program: extended header size ${hsize} at offset 12 is below 24.`);
    if (!Number.isSafeInteger(programSize) || programSize > src.size) {
      throw new FormatError(`Invalid ExecuTorch program: program size ${programSize} at offset 16 is past the end of the ${src.size}-byte file.`);
    }
    if (!Number.isSafeInteger(segmentBaseOffset) || segmentBaseOffset > src.size || (segmentBaseOffset !== 0 && segmentBaseOffset < programSize)) {
      throw new FormatError(`Invalid ExecuTorch program: segment base offset ${segmentBaseOffset} at offset 24 is outside [${programSize}, ${src.size}].`);
    }
    extendedHeader = { magic, programSize, segmentBaseOffset };
  }
  const reader = new FlatBufferReader(src, { label: 'ExecuTorch program' });
  const program = reader.root();
  const schemaVersion = program.u32(0); // Program.version: field 0
  const plans = program.vector(1, 4, MAX.plans, 'Program.execution_plan'); // field 1
  const methods: ExecutorchMetadata['methods'] = [];
  const operators: Record<string, number> = {};
  const delegates = new Set<string>();
  const dtypes: Record<string, number> = {};
  let constantTensors = 0;
  let parameters = 0;
  for (let i = 0; i < (plans?.length ?? 0); i++) {
    const plan = plans!.table(i, `ExecutionPlan ${i}`);
    const name = plan.string(0, MAX.text, `ExecutionPlan ${i} name`) ?? ''; // ExecutionPlan.name: 0
    const inputs = plan.vector(3, 4, MAX.values, `ExecutionPlan ${i} inputs`)?.length ?? 0; // inputs: 3
    const outputs = plan.vector(4, 4, MAX.values, `ExecutionPlan ${i} outputs`)?.length ?? 0; // outputs: 4
    const ops = plan.vector(6, 4, MAX.operators, `ExecutionPlan ${i} operators`); // operators: 6
    const seen = new Set<string>();
    for (let k = 0; k < (ops?.length ?? 0); k++) {
      const op = ops!.table(k, `ExecutionPlan ${i} operator ${k}`);
      const opName = op.string(0, MAX.text) ?? ''; // Operator.name: 0
      const overload = op.string(1, MAX.text) ?? ''; // Operator.overload: 1
      seen.add(overload === '' ? opName : `${opName}.${overload}`);
    }
    for (const o of seen) operators[o] = (operators[o] ?? 0) + 1;
    const dels = plan.vector(7, 4, MAX.delegates, `ExecutionPlan ${i} delegates`); // delegates: 7
    const planDelegates = new Set<string>();
    for (let k = 0; k < (dels?.length ?? 0); k++) {
      const d = dels!.table(k, `ExecutionPlan ${i} delegate ${k}`).string(0, MAX.text); // BackendDelegate.id: 0
      if (d !== undefined) planDelegates.add(d);
    }
    for (const d of planDelegates) delegates.add(d);
    // values: 2, EValue.val union (type at 0, table at 1); a Tensor with data_buffer_idx > 0 and no
    // allocation_info is a constant (a weight).
    const values = plan.vector(2, 4, MAX.values, `ExecutionPlan ${i} values`);
    for (let k = 0; k < (values?.length ?? 0); k++) {
      const v = values!.table(k, `ExecutionPlan ${i} value ${k}`);
      if (v.u8(0) !== KERNEL_TYPE_TENSOR) continue;
      const t = v.table(1, `ExecutionPlan ${i} value ${k} tensor`);
      if (t === undefined || t.u32(5) === 0 || t.has(6)) continue; // data_buffer_idx: 5, allocation_info: 6
      constantTensors++;
      const sizes = t.vector(2, 4, MAX.dims, `ExecutionPlan ${i} value ${k} sizes`)?.int32s() ?? []; // sizes: 2
      const n = sizes.reduce((a, d) => (d < 0 ? a : Math.min(a * d, Number.MAX_SAFE_INTEGER)), 1);
      parameters = Math.min(parameters + n, Number.MAX_SAFE_INTEGER);
      const code = t.i8(0); // scalar_type: 0
      const type = SCALAR_TYPES[code] ?? `unknown(${code})`;
      dtypes[type] = Math.min((dtypes[type] ?? 0) + n, Number.MAX_SAFE_INTEGER);
    }
    methods.push({ name, inputs, outputs, operators: seen.size, delegates: [...planDelegates].sort() });
  }
  const segments = program.vector(4, 4, MAX.segments, 'Program.segments')?.length ?? 0; // segments: 4
  const md: ExecutorchMetadata = {
    fileIdentifier: id,
    schemaVersion,
    ...(extendedHeader === undefined ? {} : { extendedHeader }),
    methods,
    operators,
    delegates: [...delegates].sort(),
    segments,
    constantTensors,
    parameters,
    dtypes,
  };
  return { confidence: methods.length > 0 ? 'high' : 'medium', metadata: md };
}

/**
 * ExecuTorch `.pte` programs: identity, schema version, extended header, methods with operators and
 * backend delegates, constant tensors. Does not read segments or delegate blobs, nor run anything.
 */
export const executorch: ModelFormat = {
  id: 'executorch',
  description: "ExecuTorch program (.pte): FlatBuffer with file identifier 'ET' + two digits (ET12)",
  extensions: ['.pte'],
  signatures: [{ offset: 4, magic: 'ET', note: "FlatBuffers file identifier 'ET' + two decimal digits; match checks the digits and the root offset" }],
  metadataSchema: executorchMetadataSchema,
  card: (metadata) => executorchCard(executorchMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    return looksLikePte(probe.head, probe.size);
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    if (!looksLikePte(probe.head, src.size))
      throw new FormatError("Invalid ExecuTorch program: no 'ET' + two digits file identifier at offset 4 with a root offset inside the file.");
    return readPte(src, probe.head);
  },
};
