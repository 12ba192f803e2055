import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { opt } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Paddle Lite optimized models (`.nb`, written by the `opt` tool), as Paddle-Lite's
 * `lite/model_parser/model_parser.cc` reads them, little-endian:
 *
 *   offset 0   u16 meta_version   0 (naive buffer topology), 1 and 2 (FlatBuffers topology, newer opt)
 *   offset 2   char[16]           opt_version: the Paddle Lite version of the opt tool, NUL-terminated
 *   offset 18  u64 topo_size      bytes of the topology that follows
 *   offset 26  topology, then the combined parameters
 *
 * The topology (a naive buffer or FlatBuffers ProgramDesc) is not decoded: the header is what the
 * file states cheaply. No magic: recognised only when the name ends in `.nb` and the header is sound.
 */

const HEADER = 26;
const MAX_META_VERSION = 2;

export const paddleLiteMetadataSchema = z
  .strictObject({
    metaVersion: z.number().int().nonnegative().describe('u16 `meta_version` at offset 0 (0: naive buffer topology; 1, 2: FlatBuffers).'),
    optVersion: z.string().describe('`opt_version` at offset 2: the Paddle Lite version of the opt tool that wrote the model (`v2.12`).'),
    topologyBytes: z.number().int().nonnegative().describe('u64 `topo_size` at offset 18.'),
    paramsBytes: z.number().int().nonnegative().describe('Bytes after the topology: the combined parameters.'),
  })
  .meta({
    title: 'Paddle Lite metadata',
    description:
      'Paddle Lite optimized models (`.nb`): the header only (meta version, opt tool version, topology and parameter sizes), at medium confidence; the topology is not decoded.',
  });
export type PaddleLiteMetadata = z.infer<typeof paddleLiteMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid Paddle Lite model: ${message}`, truncated ? 'truncated' : 'format');
}

/** The header's facts, or a reason it is not one. */
function readHeader(head: Uint8Array, size: number): PaddleLiteMetadata | string {
  if (head.length < HEADER) return `the ${head.length}-byte file is shorter than the ${HEADER}-byte header.`;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const metaVersion = dv.getUint16(0, true);
  if (metaVersion > MAX_META_VERSION) return `meta_version ${metaVersion} at offset 0 is not 0 to ${MAX_META_VERSION}.`;
  const raw = head.subarray(2, 18);
  const end = raw.indexOf(0);
  const chars = raw.subarray(0, end < 0 ? 16 : end);
  // opt writes its version (`v2.10`, `2.6.3`, `v2.12-rc`): printable ASCII with a digit.
  if (chars.length === 0 || !chars.every((c) => c >= 0x20 && c < 0x7f) || !chars.some((c) => c >= 0x30 && c <= 0x39)) {
    return 'opt_version at offset 2 is not a printable version string.';
  }
  const topo = dv.getUint32(18, true) + dv.getUint32(22, true) * 2 ** 32;
  if (!Number.isSafeInteger(topo) || topo === 0 || HEADER + topo > size) return `topo_size ${topo} at offset 18 does not fit in the ${size}-byte file.`;
  return { metaVersion, optVersion: String.fromCharCode(...chars), topologyBytes: topo, paramsBytes: size - HEADER - topo };
}

export function paddleLiteCard(metadata: Record<string, unknown>): ModelCard {
  const m = paddleLiteMetadataSchema.parse(metadata);
  return {
    producer: 'Paddle Lite opt',
    producerVersion: m.optVersion,
    format: 'paddle-lite',
    formatVersion: String(m.metaVersion),
    inputs: [],
    outputs: [],
    weightTypes: [],
    operators: [],
    customOperators: false,
    ...opt('parameterBytes', m.paramsBytes > 0 ? m.paramsBytes : undefined),
  };
}

/**
 * Paddle Lite `.nb` models: meta version, the opt tool's version, topology and parameter sizes, at
 * medium confidence. Does not decode the topology (naive buffer or FlatBuffers), nor the older
 * `__model__.nb` + `param.nb` folders.
 */
export const paddleLite: ModelFormat = {
  id: 'paddle-lite',
  description: 'Paddle Lite optimized model (.nb): meta version and the opt tool version from its header',
  // `.nb` is no claim (Mathematica notebooks share it); no magic either: a u16 version and a version
  // string, so only items named `.nb` are considered.
  extensions: [],
  signatures: [],
  metadataSchema: paddleLiteMetadataSchema,
  card: paddleLiteCard,
  match(probe: Probe): boolean {
    return extensionOf(probe.name) === '.nb' && typeof readHeader(probe.head, probe.size) !== 'string';
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const head = src === probe.source ? probe.head : src.read(0, Math.min(src.size, HEADER));
    const md = readHeader(head, src.size);
    if (typeof md === 'string') fail(md, head.length < HEADER);
    return { confidence: 'medium', metadata: md as unknown as Record<string, unknown> };
  },
};
