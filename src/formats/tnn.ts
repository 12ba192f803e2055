import { z } from 'zod';
import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { cmp, opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * TNN (Tencent) models: a text network `.tnnproto` and its weights `.tnnmodel` (same base name). The
 * proto is a list of double-quoted lines; joined and split on ',' they read (as TNN's text interpreter
 * and Netron's reader do):
 *
 *   header          `<a> <b> <c> <magic>`: magic 4206624770 (v1) or 4206624772 (v2, typed inputs)
 *   inputs          `name d0 d1 ... : name ...` (v2: `name <rank> d0 ... <data type>`)
 *   blob names      (skipped)
 *   outputs         `name name ...`
 *   (skipped)
 *   layers          `Type name <n in> <n out> inputs... outputs... params...`, one per segment
 *
 * The `.tnnmodel` starts with 0xFABC0002 or 0xFABC0004 (little-endian) and is the model's part.
 */

export const MAX_TNNPROTO_BYTES = 16 * 1024 * 1024;
const MAGICS: Readonly<Record<string, 'v1' | 'v2'>> = { '4206624770': 'v1', '4206624772': 'v2' };
const DATA_TYPES = ['float32', 'float16', 'int8', 'int32', 'bfloat16'];
const MAX = { layers: 1_000_000, io: 4096, dims: 64, text: 256, counts: 65_536 } as const;

const inputSchema = z.strictObject({
  name: z.string().describe('Input name.'),
  shape: z.array(z.number().int()).describe('Dimensions as written.'),
  dtype: z.string().optional().describe('v2 only: the input data type (`float32`, `float16`, `int8`, `int32`, `bfloat16`).'),
});

export const tnnMetadataSchema = z
  .strictObject({
    version: z
      .enum(['v1', 'v2', 'none'])
      .describe('From the header magic: 4206624770 (`v1`), 4206624772 (`v2`), or a three-field header without one (`none`).'),
    inputs: z.array(inputSchema).describe('The inputs segment.'),
    outputs: z.array(z.string()).describe('The outputs segment.'),
    layerCount: z.number().int().nonnegative().describe('Layer segments.'),
    layers: z.record(z.string(), z.number().int().nonnegative()).describe('Layers per type.'),
  })
  .meta({
    title: 'TNN metadata',
    description:
      "TNN text networks (`.tnnproto`, up to 16 MiB): header version, inputs with shapes, outputs, layer histogram; the `.tnnmodel` of the same base name is the model's part.",
  });
export type TnnMetadata = z.infer<typeof tnnMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid TNN proto: ${message}`);
}

/** The header fields of a first line `"a b c magic ,"`, or undefined when it is not one. */
function header(line: string): string[] | undefined {
  const t = line.trim();
  if (!t.startsWith('"') || !t.endsWith('"')) return undefined;
  const h = t.slice(1, -1).split(',')[0]!.trim().split(/\s+/);
  if (!h.slice(0, 3).every((x) => /^\d{1,10}$/.test(x))) return undefined;
  return h.length === 3 || (h.length >= 4 && MAGICS[h[3]!] !== undefined) ? h : undefined;
}

export function readTnn(text: string): TnnMetadata {
  const lines = text.split('\n');
  const h = header(lines[0] ?? '');
  if (h === undefined) fail('the first line is not a quoted header with the TNN magic.');
  const version = h.length >= 4 ? MAGICS[h[3]!]! : 'none';
  const segments = lines
    .map((l) => l.replace(/[\r"]/g, ''))
    .join('')
    .split(',')
    .map((s) => s.trim());
  if (segments.length <= 5) fail(`only ${segments.length} segments; a network has a header, inputs, blobs, outputs and layers.`);
  const inputs: TnnMetadata['inputs'] = [];
  for (const part of segments[1]!.split(':')) {
    const f = part
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '');
    if (f.length === 0) continue;
    if (inputs.length >= MAX.io) break;
    const name = f.shift()!.slice(0, MAX.text);
    const nums = f.map((x) => Number(x));
    if (!nums.every((n) => Number.isSafeInteger(n))) fail(`input ${JSON.stringify(name)} has a dimension that is not an integer.`);
    if (version === 'v2') {
      const rank = nums.shift() ?? 0;
      if (rank < 0 || rank > MAX.dims || nums.length < rank + 1)
        fail(`input ${JSON.stringify(name)} declares ${rank} dims and a type but holds ${nums.length} numbers.`);
      const code = nums[rank]!;
      inputs.push({ name, shape: nums.slice(0, rank), dtype: DATA_TYPES[code] ?? `unknown(${code})` });
    } else inputs.push({ name, shape: nums.slice(0, MAX.dims) });
  }
  const outputs = segments[3]!
    .split(/\s+/)
    .filter((x) => x !== '')
    .slice(0, MAX.io)
    .map((x) => x.slice(0, MAX.text));
  const layers = new Map<string, number>();
  let layerCount = 0;
  for (let i = 5; i < segments.length; i++) {
    const f = segments[i]!.split(/\s+/).filter((x) => x !== '');
    if (f.length === 0) continue;
    if (f.length < 4) fail(`layer segment ${i} ${JSON.stringify(segments[i]!.slice(0, 64))} has fewer than type, name and two counts.`);
    const nIn = Number(f[2]);
    const nOut = Number(f[3]);
    if (!Number.isSafeInteger(nIn) || !Number.isSafeInteger(nOut) || nIn < 0 || nOut < 0 || nIn > MAX.counts || nOut > MAX.counts) {
      fail(`layer ${JSON.stringify(f[1]!.slice(0, 64))} has counts ${JSON.stringify(f[2])} and ${JSON.stringify(f[3])}.`);
    }
    if (f.length < 4 + nIn + nOut) fail(`layer ${JSON.stringify(f[1]!.slice(0, 64))} names fewer blobs than its ${nIn} inputs and ${nOut} outputs.`);
    if (++layerCount > MAX.layers) fail(`more than ${MAX.layers} layers.`);
    const type = f[0]!.slice(0, MAX.text);
    layers.set(type, (layers.get(type) ?? 0) + 1);
  }
  if (layerCount === 0) fail('the network holds no layer.');
  return { version, inputs, outputs, layerCount, layers: Object.fromEntries([...layers].sort((a, b) => cmp(a[0], b[0]))) };
}

export function tnnCard(metadata: Record<string, unknown>): ModelCard {
  const m = tnnMetadataSchema.parse(metadata);
  return {
    format: 'tnn',
    ...opt('formatVersion', m.version !== 'none' ? m.version : undefined),
    inputs: m.inputs.map((i) => ({ name: i.name, ...opt('type', i.dtype), shape: i.shape })),
    outputs: m.outputs.map((name) => ({ name })),
    weightTypes: [],
    operators: sortCardOperators(Object.entries(m.layers).map(([name, count]) => ({ name, count, custom: false }))),
    customOperators: false,
  };
}

/**
 * TNN `.tnnproto` networks with their `.tnnmodel` weights as part: version, inputs with shapes and
 * types, outputs, layer types. Does not read the weights, nor TNN's encrypted or binary-proto models.
 */
export const tnn: ModelFormat = {
  id: 'tnn',
  description: 'TNN network (.tnnproto text with the 4206624770/2 header) with its .tnnmodel as part: inputs, outputs, layers',
  extensions: ['.tnnproto'],
  // The magic is a decimal number in the first line, after three others: found by structure.
  signatures: [],
  metadataSchema: tnnMetadataSchema,
  card: tnnCard,
  match(probe: Probe): boolean {
    if (extensionOf(probe.name) !== '.tnnproto') return false;
    const first = Buffer.from(probe.head.buffer, probe.head.byteOffset, Math.min(probe.head.byteLength, 2048)).toString('latin1').split('\n')[0] ?? '';
    return header(first) !== undefined;
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    if (src.size > MAX_TNNPROTO_BYTES)
      throw new LimitError(
        `This ${src.size}-byte .tnnproto is larger than the ${MAX_TNNPROTO_BYTES}-byte limit for TNN networks; it was not parsed.`,
        'maxTnnprotoBytes',
      );
    const metadata = readTnn(new TextDecoder('utf-8').decode(src.read(0, src.size)));
    const base = probe.name.slice(probe.name.lastIndexOf('/') + 1).replace(/\.tnnproto$/i, '');
    return { confidence: 'high', metadata: metadata as unknown as Record<string, unknown>, parts: [{ path: `${base}.tnnmodel`, role: 'weights' }] };
  },
};
