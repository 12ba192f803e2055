import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import protobuf from 'protobufjs';

/**
 * Builds Android A/B OTA payloads (`payload.bin`, major version 2) for tests: no Debian tool writes
 * them (AOSP's delta_generator / ota_from_target_files are not packaged). The layout follows AOSP
 * system/update_engine/update_metadata.proto and payload_consumer/payload_metadata.cc (see
 * fixtures/ota-payload/README.md for the facts checked there):
 *
 *   'CrAU' | u64 BE file_format_version | u64 BE manifest_size | u32 BE metadata_signature_size |
 *   manifest | metadata signature | data blobs (data_offset counts from their start) [| payload signature]
 *
 * The schema below is written here again from the AOSP file (not imported from the reader), and the
 * compressed operations are made by the real tools: `xz --check=crc32` (update_engine's xz-embedded
 * accepts CRC32 or no check), `bzip2`, `zstd`. Tests compare every rebuilt partition with its input
 * image byte for byte, which is what makes the builder trustworthy rather than self-consistent.
 */

const PROTO = `
syntax = "proto2";
package chromeos_update_engine;
message Extent { optional uint64 start_block = 1; optional uint64 num_blocks = 2; }
message Signatures {
  message Signature { optional uint32 version = 1; optional bytes data = 2; optional fixed32 unpadded_signature_size = 3; }
  repeated Signature signatures = 1;
}
message PartitionInfo { optional uint64 size = 1; optional bytes hash = 2; }
message InstallOperation {
  required int32 type = 1;
  optional uint64 data_offset = 2;
  optional uint64 data_length = 3;
  repeated Extent src_extents = 4;
  optional uint64 src_length = 5;
  repeated Extent dst_extents = 6;
  optional uint64 dst_length = 7;
  optional bytes data_sha256_hash = 8;
  optional bytes src_sha256_hash = 9;
}
message CowMergeOperation { optional int32 type = 1; optional Extent src_extent = 2; optional Extent dst_extent = 3; optional uint32 src_offset = 4; }
message PartitionUpdate {
  required string partition_name = 1;
  optional bool run_postinstall = 2;
  optional string postinstall_path = 3;
  optional string filesystem_type = 4;
  optional PartitionInfo old_partition_info = 6;
  optional PartitionInfo new_partition_info = 7;
  repeated InstallOperation operations = 8;
  optional string version = 17;
  repeated CowMergeOperation merge_operations = 18;
  optional uint64 estimate_cow_size = 19;
}
message DynamicPartitionGroup { required string name = 1; optional uint64 size = 2; repeated string partition_names = 3; }
message DynamicPartitionMetadata { repeated DynamicPartitionGroup groups = 1; optional bool snapshot_enabled = 2; optional bool vabc_enabled = 3; optional string vabc_compression_param = 4; optional uint32 cow_version = 5; }
message ApexInfo { optional string package_name = 1; optional int64 version = 2; optional bool is_compressed = 3; optional int64 decompressed_size = 4; }
message DeltaArchiveManifest {
  optional uint32 block_size = 3;
  optional uint64 signatures_offset = 4;
  optional uint64 signatures_size = 5;
  optional uint32 minor_version = 12;
  repeated PartitionUpdate partitions = 13;
  optional int64 max_timestamp = 14;
  optional DynamicPartitionMetadata dynamic_partition_metadata = 15;
  optional bool partial_update = 16;
  repeated ApexInfo apex_info = 17;
  optional string security_patch_level = 18;
}
`;

/** InstallOperation.Type values of update_metadata.proto. */
export const OP_TYPES = {
  REPLACE: 0,
  REPLACE_BZ: 1,
  SOURCE_COPY: 4,
  SOURCE_BSDIFF: 5,
  ZERO: 6,
  DISCARD: 7,
  REPLACE_XZ: 8,
  PUFFDIFF: 9,
  BROTLI_BSDIFF: 10,
  REPLACE_ZSTD: 14,
} as const;
export type OpTypeName = keyof typeof OP_TYPES;
export type ReplaceKind = 'REPLACE' | 'REPLACE_BZ' | 'REPLACE_XZ' | 'REPLACE_ZSTD';

/** [start_block, num_blocks] */
export type ExtentPair = readonly [number, number];

/** One operation written explicitly. REPLACE-type data is taken from the image at `dst`, in order. */
export interface OpSpec {
  type: OpTypeName;
  dst: readonly ExtentPair[];
  src?: readonly ExtentPair[];
  /** Data to attach instead of the image's blocks (as is, not compressed): for hostile payloads and diffs. */
  data?: Uint8Array;
}

export interface PartitionSpec {
  name: string;
  image: Uint8Array;
  /** Explicit operations; by default the image is cut in chunks of `chunkBlocks`. */
  ops?: readonly OpSpec[];
  /** Kinds given to non-zero chunks in turn (default REPLACE_XZ, as full payloads mostly use). */
  kinds?: readonly ReplaceKind[];
  chunkBlocks?: number;
  /** Writes old_partition_info (incremental payloads). */
  oldSize?: number;
  /** Leaves new_partition_info.size out. */
  omitSize?: boolean;
}

export interface PayloadOptions {
  partitions: readonly PartitionSpec[];
  blockSize?: number;
  /** 0 (default) for a full payload. */
  minorVersion?: number;
  /** Writes a metadata signature and a payload signature (random bytes in Signatures messages). */
  signed?: boolean;
  /** Changes the manifest object (snake_case fields) before encoding: hostile payloads. */
  mutate?: (manifest: Manifest) => void;
  /** Overrides header fields. */
  header?: { version?: bigint; manifestSize?: bigint; metadataSignatureSize?: number };
}

export interface ManifestOp {
  type: number;
  data_offset?: number;
  data_length?: number;
  src_extents?: { start_block: number; num_blocks: number }[];
  dst_extents: { start_block: number | string; num_blocks: number | string }[];
  data_sha256_hash?: Uint8Array;
}
export interface Manifest {
  block_size?: number;
  minor_version?: number;
  signatures_offset?: number;
  signatures_size?: number;
  max_timestamp?: number;
  partial_update?: boolean;
  security_patch_level?: string;
  dynamic_partition_metadata?: { groups: { name: string; size?: number; partition_names: string[] }[]; snapshot_enabled?: boolean };
  apex_info?: { package_name: string; version?: number }[];
  partitions: {
    partition_name: string;
    old_partition_info?: { size: number };
    new_partition_info?: { size: number | string; hash?: Uint8Array };
    operations: ManifestOp[];
  }[];
}

let root: protobuf.Root | undefined;
function type(name: string): protobuf.Type {
  root ??= protobuf.parse(PROTO, { keepCase: true }).root;
  return root.lookupType(`chromeos_update_engine.${name}`);
}

const compressed = new Map<string, Uint8Array>();

/**
 * Compresses with a real tool, as the payload generator's encoders would. Results are remembered by
 * content (tests rebuild the same images many times with one field changed).
 */
export function compress(kind: ReplaceKind, data: Uint8Array): Uint8Array {
  if (kind === 'REPLACE') return data;
  const key = `${kind}:${crypto.createHash('sha256').update(data).digest('hex')}`;
  let out = compressed.get(key);
  if (out === undefined) {
    out = runCompressor(kind, data);
    if (compressed.size > 2000) compressed.clear();
    compressed.set(key, out);
  }
  return out;
}

function runCompressor(kind: Exclude<ReplaceKind, 'REPLACE'>, data: Uint8Array): Uint8Array {
  const run = (cmd: string, args: string[]): Uint8Array => execFileSync(cmd, args, { input: data, maxBuffer: 1024 * 1024 * 1024 });
  if (kind === 'REPLACE_XZ') return run('xz', ['--format=xz', '--check=crc32', '-c', '-6']);
  if (kind === 'REPLACE_BZ') return run('bzip2', ['-c', '-9']);
  // With the size known, zstd writes Frame_Content_Size, as libzstd's one-shot API does for the generator.
  return run('zstd', ['-q', '-c', '-19', `--stream-size=${data.length}`]);
}

/** The image's bytes at the given blocks, in order; blocks past the image end read as zeros. */
export function blocksOf(image: Uint8Array, dst: readonly ExtentPair[], blockSize: number): Uint8Array {
  const total = dst.reduce((n, [, c]) => n + c, 0) * blockSize;
  const out = new Uint8Array(total);
  let at = 0;
  for (const [start, n] of dst) {
    const from = start * blockSize;
    const piece = image.subarray(Math.min(from, image.length), Math.min(from + n * blockSize, image.length));
    out.set(piece, at);
    at += n * blockSize;
  }
  return out;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The default operations of a full payload: chunks, ZERO for all-zero ones, `kinds` in turn for others. */
export function chunkOps(image: Uint8Array, blockSize: number, chunkBlocks: number, kinds: readonly ReplaceKind[]): OpSpec[] {
  const blocks = Math.ceil(image.length / blockSize);
  const ops: OpSpec[] = [];
  let k = 0;
  for (let b = 0; b < blocks; b += chunkBlocks) {
    const n = Math.min(chunkBlocks, blocks - b);
    const data = blocksOf(image, [[b, n]], blockSize);
    if (isZero(data)) ops.push({ type: 'ZERO', dst: [[b, n]] });
    else ops.push({ type: kinds[k++ % kinds.length] as ReplaceKind, dst: [[b, n]] });
  }
  return ops;
}

const sha256 = (b: Uint8Array): Uint8Array => crypto.createHash('sha256').update(b).digest();

function signatures(n: number): Uint8Array {
  const data = crypto.randomBytes(n);
  return type('Signatures')
    .encode({ signatures: [{ data, unpadded_signature_size: n }] })
    .finish();
}

/** Builds a payload.bin. */
export function buildPayload(opts: PayloadOptions): Uint8Array {
  const blockSize = opts.blockSize ?? 4096;
  const blobs: Uint8Array[] = [];
  let blobSize = 0;
  const attach = (data: Uint8Array): { data_offset: number; data_length: number; data_sha256_hash: Uint8Array } => {
    const at = blobSize;
    blobs.push(data);
    blobSize += data.length;
    return { data_offset: at, data_length: data.length, data_sha256_hash: sha256(data) };
  };
  const manifest: Manifest = { block_size: blockSize, minor_version: opts.minorVersion ?? 0, partitions: [] };
  for (const p of opts.partitions) {
    const ops = p.ops ?? chunkOps(p.image, blockSize, p.chunkBlocks ?? 16, p.kinds ?? ['REPLACE_XZ']);
    const out: ManifestOp[] = [];
    for (const op of ops) {
      const m: ManifestOp = { type: OP_TYPES[op.type], dst_extents: op.dst.map(([start_block, num_blocks]) => ({ start_block, num_blocks })) };
      if (op.src) m.src_extents = op.src.map(([start_block, num_blocks]) => ({ start_block, num_blocks }));
      if (op.data !== undefined) Object.assign(m, attach(op.data));
      else if (op.type === 'REPLACE' || op.type === 'REPLACE_BZ' || op.type === 'REPLACE_XZ' || op.type === 'REPLACE_ZSTD') {
        Object.assign(m, attach(compress(op.type, blocksOf(p.image, op.dst, blockSize))));
      }
      out.push(m);
    }
    manifest.partitions.push({
      partition_name: p.name,
      ...(p.oldSize === undefined ? {} : { old_partition_info: { size: p.oldSize } }),
      ...(p.omitSize === true ? {} : { new_partition_info: { size: p.image.length, hash: sha256(p.image) } }),
      operations: out,
    });
  }
  let payloadSignature: Uint8Array | undefined;
  if (opts.signed === true) {
    payloadSignature = signatures(256);
    manifest.signatures_offset = blobSize;
    manifest.signatures_size = payloadSignature.length;
  }
  opts.mutate?.(manifest);
  const manifestBytes = type('DeltaArchiveManifest').encode(manifest).finish();
  const metadataSignature = opts.signed === true ? signatures(256) : new Uint8Array(0);
  const header = Buffer.alloc(24);
  header.write('CrAU', 0, 'latin1');
  header.writeBigUInt64BE(opts.header?.version ?? 2n, 4);
  header.writeBigUInt64BE(opts.header?.manifestSize ?? BigInt(manifestBytes.length), 12);
  header.writeUInt32BE(opts.header?.metadataSignatureSize ?? metadataSignature.length, 20);
  return Buffer.concat([header, manifestBytes, metadataSignature, ...blobs, ...(payloadSignature ? [payloadSignature] : [])]);
}

/** What `buildBlockOta` writes: the transfer list text and the new.dat bytes (not compressed). */
export interface BlockOta {
  list: string;
  newDat: Uint8Array;
}

export interface BlockOtaOptions {
  /** Transfer list version, 1-4 (default 4). */
  version?: number;
  /** Emit the `new` commands in a shuffled order (the new.dat follows command order). */
  shuffle?: boolean;
  /** Blocks past the image that an `erase` command covers (a partition larger than its data). */
  eraseTail?: number;
  /** Most blocks per command, as blockimgdiff.py splits transfers (default 1024). */
  maxBlocksPerCommand?: number;
  /** Adds move, bsdiff, stash and free commands over these blocks (an incremental list): their targets are not in the new.dat. */
  incrementalBlocks?: readonly ExtentPair[];
}

/**
 * A tiny writer of block OTA data (build/make/tools/releasetools/blockimgdiff.py output, full OTA):
 * non-zero runs of the image become `new` commands (their blocks appended to the new.dat in command
 * order), zero runs become `zero` commands, `eraseTail` an `erase`. The header is version, blocks
 * written (new + zero + move/diff targets), and for v2+ the stash maxima. Block size 4096.
 */
export function buildBlockOta(image: Uint8Array, opts: BlockOtaOptions = {}): BlockOta {
  const B = 4096;
  const version = opts.version ?? 4;
  const max = opts.maxBlocksPerCommand ?? 1024;
  const blocks = Math.ceil(image.length / B);
  const skip = new Set<number>();
  for (const [s, n] of opts.incrementalBlocks ?? []) for (let b = s; b < s + n; b++) skip.add(b);
  const runs: { zero: boolean; start: number; end: number }[] = [];
  for (let b = 0; b < blocks; b++) {
    if (skip.has(b)) continue;
    const zero = isZero(image.subarray(b * B, (b + 1) * B));
    const last = runs[runs.length - 1];
    if (last && last.zero === zero && last.end === b && last.end - last.start < max) last.end = b + 1;
    else runs.push({ zero, start: b, end: b + 1 });
  }
  const rs = (ranges: readonly (readonly [number, number])[]): string => `${ranges.length * 2},${ranges.map(([a, b]) => `${a},${b}`).join(',')}`;
  const news = runs.filter((r) => !r.zero);
  if (opts.shuffle === true) news.reverse().push(...news.splice(0, Math.floor(news.length / 3)));
  const commands: string[] = [];
  const pieces: Uint8Array[] = [];
  let written = 0;
  // Two ranges per `new` command where they fit, as blockimgdiff groups them.
  for (let i = 0; i < news.length; i += 2) {
    const group = news.slice(i, i + 2);
    commands.push(`new ${rs(group.map((r) => [r.start, r.end] as const))}`);
    for (const r of group) {
      pieces.push(blocksOf(image, [[r.start, r.end - r.start]], B));
      written += r.end - r.start;
    }
  }
  for (const r of runs.filter((x) => x.zero)) {
    commands.push(`zero ${rs([[r.start, r.end]])}`);
    written += r.end - r.start;
  }
  let stashId = 0;
  for (const [s, n] of opts.incrementalBlocks ?? []) {
    const tgt = rs([[s, s + n]]);
    const hash = 'a'.repeat(40);
    const id = `${stashId++}`;
    if (version === 1) commands.push(`move ${tgt} ${tgt}`, `bsdiff 0 10 ${tgt} ${tgt}`);
    else if (version === 2) commands.push(`stash ${id} ${tgt}`, `move ${tgt} ${n} ${tgt}`, `free ${id}`, `bsdiff 0 10 ${tgt} ${n} ${tgt}`);
    else commands.push(`stash ${hash} ${tgt}`, `move ${hash} ${tgt} ${n} ${tgt}`, `free ${hash}`, `imgdiff 0 10 ${hash} ${hash} ${tgt} ${n} ${tgt}`);
    written += 2 * n;
  }
  if ((opts.eraseTail ?? 0) > 0) commands.push(`erase ${rs([[blocks, blocks + (opts.eraseTail as number)]])}`);
  const header = [String(version), String(written), ...(version >= 2 ? ['0', '0'] : [])];
  return { list: [...header, ...commands].join('\n') + '\n', newDat: Buffer.concat(pieces) };
}
