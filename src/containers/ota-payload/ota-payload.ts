import protobuf from 'protobufjs';
import { AibomError, FormatError, UnsupportedError } from '../../errors.js';
import { u32be, u64beBig } from '../../io/binary.js';
import { MAX_READ, SliceSource, type ByteSource } from '../../io/byte-source.js';
import { checked, checkedRange } from '../../io/checked.js';
import { ExtentSource, type Extent } from '../../io/extent-source.js';
import type { ScanResources } from '../../io/scan-resources.js';
import type { Probe } from '../../probe.js';
import { EntryNames } from '../entry-names.js';
import { OP, decodeOperation, isDeltaType, isReplaceType, opName } from './ota-operations.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from '../types.js';

/*
 * Android A/B OTA payloads (`payload.bin`, update_engine's "delta update file"), major version 2:
 *
 *   char   magic[4] = "CrAU";
 *   uint64 file_format_version;      big-endian; 2 (1 is the Chrome OS format without the next field)
 *   uint64 manifest_size;            big-endian
 *   uint32 metadata_signature_size;  big-endian
 *   char   manifest[manifest_size];  a DeltaArchiveManifest protobuf, not compressed
 *   char   metadata_signature[metadata_signature_size];  a Signatures protobuf
 *   char   data[];                   the operations' blobs; data_offset counts from here
 *   (a payload signature, also a Signatures message, at manifest.signatures_offset within data)
 *
 * Each PartitionUpdate lists InstallOperations that write the new partition's blocks: REPLACE
 * (data as is), REPLACE_BZ / REPLACE_XZ / REPLACE_ZSTD (compressed data), ZERO and DISCARD (no data),
 * and in incremental payloads (minor_version > 0) operations that read the old partition
 * (SOURCE_COPY, SOURCE_BSDIFF, BROTLI_BSDIFF, PUFFDIFF, ZUCCHINI, LZ4DIFF_*), which cannot be applied
 * without the source build. A partition becomes an ExtentSource: REPLACE data is a slice of the
 * payload, compressed data is decoded per operation on first read through the scan's block cache.
 */

/**
 * The subset of AOSP system/update_engine/update_metadata.proto (proto2) that aibom reads, with the
 * field numbers of the original. DeltaArchiveManifest and PartitionUpdate are walked field by field
 * (see `walkMessage`) so that an operation list of any length is never decoded into objects at once;
 * their messages are here for reference and for the nested messages decoded whole.
 */
const UPDATE_METADATA_PROTO = `
syntax = "proto2";
package chromeos_update_engine;
message Extent { optional uint64 start_block = 1; optional uint64 num_blocks = 2; }
message Signatures {
  message Signature { optional uint32 version = 1; optional bytes data = 2; optional fixed32 unpadded_signature_size = 3; }
  repeated Signature signatures = 1;
}
message PartitionInfo { optional uint64 size = 1; optional bytes hash = 2; }
message InstallOperation {
  enum Type {
    REPLACE = 0; REPLACE_BZ = 1; MOVE = 2; BSDIFF = 3; SOURCE_COPY = 4; SOURCE_BSDIFF = 5; ZERO = 6;
    DISCARD = 7; REPLACE_XZ = 8; PUFFDIFF = 9; BROTLI_BSDIFF = 10; ZUCCHINI = 11; LZ4DIFF_BSDIFF = 12;
    LZ4DIFF_PUFFDIFF = 13; REPLACE_ZSTD = 14;
  }
  required uint32 type = 1;
  optional uint64 data_offset = 2;
  optional uint64 data_length = 3;
  repeated Extent src_extents = 4;
  optional uint64 src_length = 5;
  repeated Extent dst_extents = 6;
  optional uint64 dst_length = 7;
  optional bytes data_sha256_hash = 8;
  optional bytes src_sha256_hash = 9;
}
message PartitionUpdate {
  required string partition_name = 1;
  optional PartitionInfo old_partition_info = 6;
  optional PartitionInfo new_partition_info = 7;
  repeated InstallOperation operations = 8;
  optional string version = 17;
}
message DynamicPartitionGroup { required string name = 1; optional uint64 size = 2; repeated string partition_names = 3; }
message DynamicPartitionMetadata {
  repeated DynamicPartitionGroup groups = 1;
  optional bool snapshot_enabled = 2;
  optional bool vabc_enabled = 3;
  optional string vabc_compression_param = 4;
  optional uint32 cow_version = 5;
}
message ApexInfo { optional string package_name = 1; optional int64 version = 2; optional bool is_compressed = 3; optional int64 decompressed_size = 4; }
message DeltaArchiveManifest {
  optional uint32 block_size = 3 [default = 4096];
  optional uint64 signatures_offset = 4;
  optional uint64 signatures_size = 5;
  optional uint32 minor_version = 12 [default = 0];
  repeated PartitionUpdate partitions = 13;
  optional int64 max_timestamp = 14;
  optional DynamicPartitionMetadata dynamic_partition_metadata = 15;
  optional bool partial_update = 16;
  repeated ApexInfo apex_info = 17;
  optional string security_patch_level = 18;
}
`;

/** 'CrAU' at offset 0. */
const MAGIC = [0x43, 0x72, 0x41, 0x55];
/** magic (4) + file_format_version (8) + manifest_size (8) + metadata_signature_size (4). */
const HEADER_SIZE = 24;
/** Real manifests are KiB (full) to a few MiB (incrementals with many operations). */
const MAX_MANIFEST = 32 * 1024 * 1024;
/** A Signatures message holds a few RSA/EC signatures: a few hundred bytes each. */
const MAX_METADATA_SIGNATURE = 1024 * 1024;
const MAX_PARTITIONS = 4096;
/** Operations of one payload (a full payload writes 1-2 MiB per operation; incrementals have more). */
const MAX_OPERATIONS = 8_000_000;
/** Operations kept for rebuilding (REPLACE-type, ZERO, DISCARD) over the whole payload: bounds memory. */
const MAX_PLANNED = 1_000_000;
/** Destination extents of one operation. */
const MAX_OP_EXTENTS = 1_000_000;
/** update_engine writes 4096-byte blocks; anything from 512 B to 1 MiB is accepted. */
const MIN_BLOCK = 512;
const MAX_BLOCK = 1024 * 1024;
/** Largest partition accepted: 1 TiB (real partitions are a few GiB). */
const MAX_PARTITION = 2 ** 40;
/** Largest decoded output of one operation (the payload generator writes 1-2 MiB chunks). */
const MAX_OP_OUTPUT = 64 * 1024 * 1024;
/** Longest partition name shown. */
const MAX_NAME = 255;

let schema: { extent: protobuf.Type; info: protobuf.Type; op: protobuf.Type; dynamic: protobuf.Type; apex: protobuf.Type } | undefined;

/** Parses the schema once, on first use. */
function types(): NonNullable<typeof schema> {
  if (schema === undefined) {
    const root = protobuf.parse(UPDATE_METADATA_PROTO, { keepCase: true }).root;
    const t = (name: string): protobuf.Type => root.lookupType(`chromeos_update_engine.${name}`);
    schema = { extent: t('Extent'), info: t('PartitionInfo'), op: t('InstallOperation'), dynamic: t('DynamicPartitionMetadata'), apex: t('ApexInfo') };
  }
  return schema;
}

/** A uint64 as protobufjs gives it (a Long, or a number without the long package) to a number; NaN past 2^53. */
function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const { low, high } = v as { low: number; high: number };
    const n = (high >>> 0) * 2 ** 32 + (low >>> 0);
    return Number.isSafeInteger(n) ? n : Number.NaN;
  }
  return Number.NaN;
}

/** Decodes one nested message with protobufjs, turning its errors (RangeError, missing required fields) into FormatError. */
function decodeMessage<T>(type: protobuf.Type, reader: protobuf.Reader, length: number, what: string): T {
  try {
    return type.decode(reader, length) as unknown as T;
  } catch (err) {
    if (err instanceof AibomError) throw err;
    throw new FormatError(`Invalid ${what} in an OTA payload manifest: ${(err as Error).message}.`);
  }
}

/**
 * Walks the fields of one protobuf message in `reader` up to `end` with protobufjs's Reader, handing
 * each field to `visit` (which must consume it and return true) or skipping it. Malformed wire data is
 * a FormatError naming `what`.
 */
function walkMessage(reader: protobuf.Reader, end: number, what: string, visit: (field: number, wire: number) => boolean): void {
  try {
    while (reader.pos < end) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) throw new FormatError(`Invalid ${what} in an OTA payload manifest: field number 0 at byte ${reader.pos}.`);
      if (!visit(field, wire)) reader.skipType(wire);
    }
    if (reader.pos > end)
      throw new FormatError(`Invalid ${what} in an OTA payload manifest: a field runs ${reader.pos - end} bytes past its end.`, 'truncated');
  } catch (err) {
    if (err instanceof AibomError) throw err;
    throw new FormatError(`Invalid ${what} in an OTA payload manifest: ${(err as Error).message}.`);
  }
}

/** Reads a length prefix and checks that the field fits inside its message. */
function lengthOf(reader: protobuf.Reader, end: number, what: string): number {
  const len = reader.uint32();
  if (len > end - reader.pos)
    throw new FormatError(`Invalid ${what} in an OTA payload manifest: a ${len}-byte field at byte ${reader.pos} runs past its message.`, 'truncated');
  return len;
}

interface ExtentMsg {
  start_block?: unknown;
  num_blocks?: unknown;
}
interface OperationMsg {
  type: number;
  data_offset?: unknown;
  data_length?: unknown;
  dst_extents: ExtentMsg[];
  data_sha256_hash?: Uint8Array;
}
interface InfoMsg {
  size?: unknown;
  hash?: Uint8Array;
}

/** The payload header. */
export interface PayloadHeader {
  /** file_format_version (major version). */
  readonly version: number;
  readonly manifestSize: number;
  readonly metadataSignatureSize: number;
  /** Offset of the data blobs in the payload: operations' data_offset counts from here. */
  readonly dataStart: number;
}

/** One operation that produces data without the source build: REPLACE*, ZERO, DISCARD. */
export interface PayloadOperation {
  readonly index: number;
  readonly type: number;
  readonly dataOffset: number;
  readonly dataLength: number;
  /** Destination extents as [start_block, num_blocks] pairs, in the operation's order. */
  readonly dst: readonly number[];
  /** Sum of num_blocks of `dst`. */
  readonly blocks: number;
  readonly sha256?: Uint8Array;
}

/** What the manifest says of one partition. */
export interface PayloadPartition {
  /** partition_name as recorded. */
  readonly name: string;
  /** new_partition_info.size, or the end of the last destination extent when absent. */
  readonly size: number;
  readonly blockSize: number;
  /** Operations whose data aibom rebuilds (REPLACE*, ZERO, DISCARD). */
  readonly ops: readonly PayloadOperation[];
  /** Counts of operations not applied (they need the source build, or are unknown), by type name. */
  readonly skipped: ReadonlyMap<string, number>;
  /** Whether some operation needs the source build (SOURCE_COPY, *BSDIFF, PUFFDIFF, ...). */
  readonly incremental: boolean;
  /** Set when the partition's manifest entry is invalid: opening it throws this. */
  readonly error?: AibomError;
}

/** What aibom reads of a DeltaArchiveManifest. */
export interface PayloadManifest {
  readonly header: PayloadHeader;
  readonly blockSize: number;
  /** 0 for a full payload, the delta version otherwise. */
  readonly minorVersion: number;
  readonly maxTimestamp?: number;
  readonly partialUpdate: boolean;
  readonly securityPatchLevel?: string;
  /** dynamic_partition_metadata groups: name and partition names. */
  readonly dynamicGroups: readonly { name: string; partitions: readonly string[] }[];
  readonly apexPackages: readonly string[];
  readonly partitions: readonly PayloadPartition[];
}

/** Whether `b` starts with 'CrAU'. */
function hasMagic(b: Uint8Array): boolean {
  return b.length >= 4 && MAGIC.every((m, i) => b[i] === m);
}

/**
 * Reads and checks the payload header: magic, major version 2 (1 is UnsupportedError), manifest and
 * metadata signature sizes within their bounds and within the file.
 */
export function readPayloadHeader(src: ByteSource): PayloadHeader {
  const h = src.read(0, Math.min(HEADER_SIZE, src.size));
  if (!hasMagic(h)) throw new FormatError(`No 'CrAU' OTA payload magic at offset 0.`);
  if (h.length < 12) throw new FormatError(`The OTA payload is ${src.size} bytes, shorter than its header.`, 'truncated');
  const version = u64beBig(h, 4, 'OTA payload header');
  if (version === 1n) throw new UnsupportedError('OTA payload major version 1 (the Chrome OS format) is not supported; the payload was not scanned.');
  if (version !== 2n) throw new UnsupportedError(`OTA payload major version ${version} is not supported (only 2); the payload was not scanned.`);
  if (h.length < HEADER_SIZE) throw new FormatError(`The OTA payload is ${src.size} bytes, shorter than its ${HEADER_SIZE}-byte header.`, 'truncated');
  const manifestSize = checked(u64beBig(h, 12, 'OTA payload header'), 1, MAX_MANIFEST, 'OTA payload manifest_size');
  const metadataSignatureSize = checked(u32be(h, 20, 'OTA payload header'), 0, MAX_METADATA_SIGNATURE, 'OTA payload metadata_signature_size');
  const dataStart = HEADER_SIZE + manifestSize + metadataSignatureSize;
  if (dataStart > src.size) {
    throw new FormatError(`The OTA payload's manifest and metadata signature end at ${dataStart}, past the end of the ${src.size}-byte file.`, 'truncated');
  }
  return { version: 2, manifestSize, metadataSignatureSize, dataStart };
}

/**
 * Reads the manifest of a payload: header fields, then each partition's operations, checked against
 * the payload (data ranges inside the data blobs, destination extents inside the partition, block size
 * plausible). A partition whose entry is invalid keeps the error in `error`; a manifest that cannot be
 * walked at all is a FormatError.
 */
export function readPayloadManifest(src: ByteSource): PayloadManifest {
  const header = readPayloadHeader(src);
  const bytes = src.read(HEADER_SIZE, header.manifestSize);
  const dataSize = src.size - header.dataStart;
  const t = types();
  const reader = protobuf.Reader.create(bytes);
  let blockSize = 4096;
  let minorVersion = 0;
  let maxTimestamp: number | undefined;
  let partialUpdate = false;
  let securityPatchLevel: string | undefined;
  const dynamicGroups: { name: string; partitions: string[] }[] = [];
  const apexPackages: string[] = [];
  const ranges: { start: number; end: number }[] = [];
  const what = 'DeltaArchiveManifest';
  walkMessage(reader, bytes.length, what, (field, wire) => {
    if (field === 3 && wire === 0) blockSize = reader.uint32();
    else if (field === 12 && wire === 0) minorVersion = reader.uint32();
    else if (field === 14 && wire === 0) maxTimestamp = num(reader.int64());
    else if (field === 16 && wire === 0) partialUpdate = reader.bool();
    else if (field === 18 && wire === 2) securityPatchLevel = reader.string().slice(0, 64);
    else if (field === 13 && wire === 2) {
      const len = lengthOf(reader, bytes.length, what);
      if (ranges.length >= MAX_PARTITIONS) throw new FormatError(`The OTA payload manifest lists more than ${MAX_PARTITIONS} partitions.`);
      ranges.push({ start: reader.pos, end: reader.pos + len });
      reader.skip(len);
    } else if (field === 15 && wire === 2) {
      const m = decodeMessage<{ groups: { name: string; partition_names: string[] }[] }>(
        t.dynamic,
        reader,
        lengthOf(reader, bytes.length, what),
        'dynamic_partition_metadata',
      );
      for (const g of m.groups.slice(0, MAX_PARTITIONS)) dynamicGroups.push({ name: g.name, partitions: g.partition_names.slice(0, MAX_PARTITIONS) });
    } else if (field === 17 && wire === 2) {
      const m = decodeMessage<{ package_name: string }>(t.apex, reader, lengthOf(reader, bytes.length, what), 'apex_info');
      if (apexPackages.length < 10_000) apexPackages.push(m.package_name);
    } else return false;
    return true;
  });
  blockSize = checked(blockSize, MIN_BLOCK, MAX_BLOCK, 'OTA payload block_size');
  if ((blockSize & (blockSize - 1)) !== 0) throw new FormatError(`OTA payload block_size ${blockSize} is not a power of two.`);
  const counts = { ops: 0, planned: 0 };
  const partitions = ranges.map((r, i) => readPartition(reader, r, i, blockSize, dataSize, counts));
  return {
    header,
    blockSize,
    minorVersion,
    ...(maxTimestamp === undefined || Number.isNaN(maxTimestamp) ? {} : { maxTimestamp }),
    partialUpdate,
    ...(securityPatchLevel === undefined ? {} : { securityPatchLevel }),
    dynamicGroups,
    apexPackages,
    partitions,
  };
}

/** Walks one PartitionUpdate: name, new_partition_info, and each operation decoded on its own. */
function readPartition(
  reader: protobuf.Reader,
  range: { start: number; end: number },
  index: number,
  blockSize: number,
  dataSize: number,
  counts: { ops: number; planned: number },
): PayloadPartition {
  const t = types();
  let name = '';
  let info: InfoMsg | undefined;
  const ops: PayloadOperation[] = [];
  const skipped = new Map<string, number>();
  let count = 0;
  let maxEnd = 0;
  let incremental = false;
  let error: AibomError | undefined;
  const what = `PartitionUpdate ${index}`;
  reader.pos = range.start;
  try {
    walkMessage(reader, range.end, what, (field, wire) => {
      if (field === 1 && wire === 2) name = reader.string();
      else if (field === 7 && wire === 2) info = decodeMessage<InfoMsg>(t.info, reader, lengthOf(reader, range.end, what), `new_partition_info of ${what}`);
      else if (field === 8 && wire === 2) {
        if (++counts.ops > MAX_OPERATIONS) throw new FormatError(`The OTA payload has more than ${MAX_OPERATIONS} operations.`);
        const op = decodeMessage<OperationMsg>(t.op, reader, lengthOf(reader, range.end, what), `operation ${count} of ${what}`);
        const plan = planOperation(op, count++, blockSize, dataSize);
        if (plan === undefined) {
          const key = opName(op.type);
          skipped.set(key, (skipped.get(key) ?? 0) + 1);
          if (isDeltaType(op.type)) incremental = true;
        } else if (plan.blocks > 0) {
          if (++counts.planned > MAX_PLANNED) throw new FormatError(`The OTA payload has more than ${MAX_PLANNED} operations that write data.`);
          ops.push(plan);
          for (let k = 0; k < plan.dst.length; k += 2) maxEnd = Math.max(maxEnd, (plan.dst[k] as number) + (plan.dst[k + 1] as number));
        }
      } else return false;
      return true;
    });
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    error = err;
  }
  let size = maxEnd * blockSize;
  if (info !== undefined && Object.hasOwn(info, 'size')) {
    try {
      size = checked(num(info.size), 0, MAX_PARTITION, `new_partition_info.size of OTA payload partition ${JSON.stringify(name)}`);
      // Destination extents may end inside the last block of a size that is not a block multiple.
      const blocks = Math.ceil(size / blockSize);
      if (maxEnd > blocks) {
        error ??= new FormatError(
          `An operation of OTA payload partition ${JSON.stringify(name)} writes block ${maxEnd - 1}, past its ${blocks} blocks (new_partition_info.size ${size}).`,
        );
      }
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
      error ??= err;
      size = 0;
    }
  } else if (size > MAX_PARTITION) {
    error ??= new FormatError(`OTA payload partition ${JSON.stringify(name)} writes ${size} bytes, more than ${MAX_PARTITION}.`);
    size = 0;
  }
  return { name, size, blockSize, ops, skipped, incremental, ...(error === undefined ? {} : { error }) };
}

/**
 * Checks one operation and returns its plan, or undefined for operations that need the source build
 * (and unknown types). Throws FormatError for data outside the blobs or invalid extents.
 */
function planOperation(op: OperationMsg, index: number, blockSize: number, dataSize: number): PayloadOperation | undefined {
  const type = op.type;
  const produces = isReplaceType(type) || type === OP.ZERO || type === OP.DISCARD;
  if (!produces) return undefined;
  const what = `Operation ${index} (${opName(type)})`;
  if (op.dst_extents.length > MAX_OP_EXTENTS) throw new FormatError(`${what} has ${op.dst_extents.length} destination extents, more than ${MAX_OP_EXTENTS}.`);
  const dst: number[] = [];
  let blocks = 0;
  const maxBlocks = Math.floor(MAX_PARTITION / blockSize);
  for (const e of op.dst_extents) {
    const start = checked(num(e.start_block ?? 0), 0, maxBlocks, `${what}: dst_extents start_block`);
    const n = checked(num(e.num_blocks ?? 0), 0, maxBlocks - start, `${what}: dst_extents num_blocks`);
    if (n === 0) continue;
    dst.push(start, n);
    blocks += n;
  }
  if (blocks * blockSize > MAX_PARTITION) throw new FormatError(`${what} writes ${blocks} blocks, more than a partition can hold.`);
  let dataOffset = 0;
  let dataLength = 0;
  if (isReplaceType(type)) {
    const r = checkedRange(num(op.data_offset ?? 0), num(op.data_length ?? 0), dataSize, `${what}: data`);
    dataOffset = r.offset;
    dataLength = r.length;
    const bytes = blocks * blockSize;
    if (type === OP.REPLACE) {
      // REPLACE data fills the extents in order; the proto allows zero padding to the block size.
      if (dataLength > bytes || dataLength <= bytes - blockSize) {
        throw new FormatError(`${what} has ${dataLength} bytes of data for ${blocks} destination blocks of ${blockSize} bytes.`);
      }
    } else {
      if (dataLength > MAX_READ) throw new FormatError(`${what} has ${dataLength} bytes of compressed data, more than ${MAX_READ}.`);
      if (bytes > MAX_OP_OUTPUT) throw new FormatError(`${what} decodes to ${bytes} bytes, more than the ${MAX_OP_OUTPUT} bytes aibom decodes per operation.`);
    }
  }
  const hash = op.data_sha256_hash;
  return { index, type, dataOffset, dataLength, dst, blocks, ...(hash !== undefined && hash.length > 0 ? { sha256: hash } : {}) };
}

/**
 * Builds the ExtentSource of one partition: REPLACE data as slices of the payload, compressed data as
 * `decoded` extents (an operation with several destination extents is decoded once, kept in the scan's
 * block cache under its own key, and sliced), ZERO and DISCARD as zero fills. Extents are sorted by
 * offset; ExtentSource rejects overlaps.
 */
function partitionSource(src: ByteSource, header: PayloadHeader, p: PayloadPartition, index: number, label: string, resources: ScanResources): ExtentSource {
  if (p.error !== undefined) throw p.error;
  const blob = new SliceSource(src, header.dataStart, src.size - header.dataStart);
  const B = p.blockSize;
  const cache = resources.blockCache;
  const key = cache.newKeyspace();
  const extents: Extent[] = [];
  const zero = new Uint8Array([0]);
  for (const op of p.ops) {
    const what = `OTA payload operation ${op.index} (${opName(op.type)}) of partition ${label}`;
    const expected = op.blocks * B;
    let decodeOnce: (() => Uint8Array) | undefined;
    if (op.type !== OP.REPLACE && op.type !== OP.ZERO && op.type !== OP.DISCARD) {
      const run = (): Uint8Array => decodeOperation(op.type, blob.read(op.dataOffset, op.dataLength), expected, what, op.sha256);
      // One destination extent: ExtentSource caches the extent itself. Several: cache the operation.
      decodeOnce = op.dst.length === 2 ? run : () => cache.get(`${key}:${op.index}`, run);
    }
    let within = 0;
    for (let k = 0; k < op.dst.length; k += 2) {
      const offset = (op.dst[k] as number) * B;
      const full = (op.dst[k + 1] as number) * B;
      // The last block of a partition whose size is not a block multiple is cut at the size.
      const length = Math.min(full, p.size - offset);
      const at = within;
      within += full;
      if (length <= 0) continue;
      if (op.type === OP.ZERO || op.type === OP.DISCARD) extents.push({ kind: 'fill', offset, length, pattern: zero });
      else if (op.type === OP.REPLACE) {
        const n = Math.min(length, op.dataLength - at);
        if (n > 0) extents.push({ kind: 'source', offset, length: n, source: blob, sourceOffset: op.dataOffset + at });
      } else {
        const d = decodeOnce as () => Uint8Array;
        extents.push({ kind: 'decoded', offset, length, decode: () => d().subarray(at, at + length) });
      }
    }
  }
  extents.sort((a, b) => a.offset - b.offset);
  return new ExtentSource(p.size, extents, {
    what: `OTA payload partition ${label}`,
    resources,
    ...(src.identity === undefined ? {} : { identity: `${src.identity}#ota-payload:${index}` }),
  });
}

/**
 * Android A/B OTA payloads (`payload.bin`, major version 2), full and incremental. Each partition is
 * listed under its partition_name and opens as a virtual image rebuilt from its operations, nothing
 * materialised: REPLACE data is read in place, REPLACE_BZ / REPLACE_XZ / REPLACE_ZSTD operations are
 * decoded on first read (1-2 MiB each), ZERO and DISCARD read as zeros. Operations that need the source
 * build (SOURCE_COPY, *BSDIFF, PUFFDIFF, ZUCCHINI, LZ4DIFF_*) are not applied: the partition is still
 * listed, with only its REPLACE-type data (the rest reads as zeros), and a problem says so.
 * Not handled: major version 1 (Chrome OS; UnsupportedError), signature verification, and the
 * Virtual A/B merge hints (merge_operations), which do not change the new image.
 */
export const otaPayload: ContainerReader = {
  id: 'ota-payload',
  description:
    "Android A/B OTA payloads (payload.bin, 'CrAU' v2): each partition rebuilt in place from REPLACE, REPLACE_BZ/XZ/ZSTD and ZERO operations; incremental operations reported",
  kind: 'partitions',
  signatures: [{ offset: 0, magic: 'CrAU', note: 'payload.bin magic' }],
  match(probe: Probe): boolean {
    const h = probe.head;
    // 'CrAU', then a big-endian u64 file_format_version of 1 or 2.
    return (
      h.length >= 12 &&
      hasMagic(h) &&
      h[4] === 0 &&
      h[5] === 0 &&
      h[6] === 0 &&
      h[7] === 0 &&
      h[8] === 0 &&
      h[9] === 0 &&
      h[10] === 0 &&
      (h[11] === 1 || h[11] === 2)
    );
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const manifest = readPayloadManifest(src);
    const names = new EntryNames(ctx, 'OTA payload', false);
    for (const [i, p] of manifest.partitions.entries()) {
      let recorded = p.name.slice(0, MAX_NAME);
      if (recorded === '') {
        recorded = `partition${i}`;
        ctx.problem({
          path: recorded,
          severity: 'warning',
          code: 'format',
          message: `OTA payload partition ${i} has no partition_name; listed as ${recorded}.`,
        });
      }
      const path = names.accept(recorded, false);
      const label = JSON.stringify(recorded);
      if (p.skipped.size > 0 && p.error === undefined) {
        const counts = [...p.skipped].map(([type, n]) => `${n} ${type}`).join(', ');
        ctx.problem({
          path,
          severity: 'warning',
          code: 'unsupported',
          message: p.incremental
            ? `OTA payload partition ${label} is incremental (${counts} operations): it cannot be rebuilt without the source build; only its REPLACE-type data was scanned, the rest reads as zeros.`
            : `OTA payload partition ${label} has operations aibom does not know (${counts}); their blocks read as zeros.`,
        });
      }
      yield { path, type: 'file', size: p.size, open: () => Promise.resolve(partitionSource(src, manifest.header, p, i, label, ctx.resources)) };
    }
  },
};
