import crypto from 'node:crypto';
import { AibomError, FormatError, UnsupportedError } from '../errors.js';
import { u16le, u32le, u64le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import { ExtentSource, type Extent } from '../io/extent-source.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/**
 * Android dynamic partitions (AOSP system/core/fs_mgr/liblp, `metadata_format.h`): the `super`
 * partition, and the `super.img` of factory images, holding system_a, vendor_a, product_a… as
 * extents. Layout, as liblp's GetPrimaryMetadataOffset and GetBackupMetadataOffset place it:
 *
 *   0       LP_PARTITION_RESERVED_BYTES (4096, zeros)
 *   4096    LpMetadataGeometry (magic 0x616C4467, in a 4096-byte block), again at 8192 as a backup
 *   12288   primary metadata, one metadata_max_size area per slot
 *   12288 + max × slots   backup metadata, one area per slot
 *   first_logical_sector × 512   partition contents
 *
 * A metadata copy is an LpMetadataHeader ('ALP0', version 10.0-10.2, 128 or 256 bytes) followed
 * by its tables (partitions, extents, groups, block devices), each located by a descriptor.
 */

/** LP_METADATA_GEOMETRY_MAGIC, stored little-endian: 67 44 6C 61 ('gDla'). */
const GEOMETRY_MAGIC = 0x616c4467;
/** LP_METADATA_HEADER_MAGIC, stored little-endian: 30 50 4C 41 ('0PLA', read as 'ALP0'). */
const HEADER_MAGIC = 0x414c5030;
const RESERVED_BYTES = 4096;
const GEOMETRY_SIZE = 4096;
/** sizeof(LpMetadataGeometry): magic, struct_size, checksum[32], metadata_max_size, metadata_slot_count, logical_block_size. */
const GEOMETRY_STRUCT_SIZE = 52;
const PRIMARY_GEOMETRY_OFFSET = RESERVED_BYTES;
const BACKUP_GEOMETRY_OFFSET = RESERVED_BYTES + GEOMETRY_SIZE;
const METADATA_START = RESERVED_BYTES + 2 * GEOMETRY_SIZE;
const SECTOR = 512;
const MAJOR_VERSION = 10;
const MINOR_VERSION_MAX = 2;
/** Header sizes: LpMetadataHeaderV1_0 (up to the block_devices descriptor) and the 1.2 header with flags. */
const HEADER_V1_0_SIZE = 128;
const HEADER_V1_2_SIZE = 256;
/** Entry sizes of the four tables (the structs of metadata_format.h). */
const PARTITION_SIZE = 52;
const EXTENT_SIZE = 24;
const GROUP_SIZE = 48;
const BLOCK_DEVICE_SIZE = 64;
const NAME_LEN = 36;
const TARGET_LINEAR = 0;
const TARGET_ZERO = 1;

/** Largest metadata_max_size accepted: lpmake's default is 65536; the tables are read whole. */
const MAX_METADATA_SIZE = 16 * 1024 * 1024;
/** Most metadata slots accepted (1 non-A/B, 2 A/B, 3 A/B/C). */
const MAX_SLOTS = 64;
/** Largest logical partition accepted: 1 TiB (ZERO extents can claim any size without backing bytes). */
export const MAX_PARTITION_SIZE = 2 ** 40;
/** Overlapping extents reported per image; the rest are counted. */
const MAX_OVERLAP_REPORTS = 8;

/** The fields of LpMetadataGeometry the reader uses. */
export interface LpGeometry {
  readonly metadataMaxSize: number;
  readonly metadataSlotCount: number;
  readonly logicalBlockSize: number;
  readonly checksumOk: boolean;
}

interface TableDescriptor {
  readonly offset: number;
  readonly count: number;
  readonly entrySize: number;
}

/** One parsed metadata copy: the header fields and its tables, kept as bytes. */
export interface LpMetadata {
  readonly major: number;
  readonly minor: number;
  readonly headerChecksumOk: boolean;
  readonly tablesChecksumOk: boolean;
  readonly tables: Uint8Array;
  readonly partitions: TableDescriptor;
  readonly extents: TableDescriptor;
  readonly groups: TableDescriptor;
  readonly blockDevices: TableDescriptor;
}

/** One logical partition ready to open. */
interface LogicalPartition {
  readonly path: string;
  readonly size: number;
  readonly extents: Extent[];
  readonly identity?: string;
}

/** sha256 of `bytes` with the 32-byte checksum field at `at` read as zeros. */
function sha256Zeroed(bytes: Uint8Array, at: number): Buffer {
  const copy = Uint8Array.from(bytes);
  copy.fill(0, at, at + 32);
  return crypto.createHash('sha256').update(copy).digest();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** A geometry block: magic and struct_size 52 (liblp rejects any other size). */
function looksLikeGeometry(head: Uint8Array, at: number): boolean {
  return (
    head.length >= at + 8 && u32le(head, at, 'super image metadata') === GEOMETRY_MAGIC && u32le(head, at + 4, 'super image metadata') === GEOMETRY_STRUCT_SIZE
  );
}

/**
 * Parses the geometry at `at`. Returns undefined without the magic; throws FormatError for fields
 * out of range; a checksum mismatch is returned (`checksumOk` false) for the caller to weigh.
 */
function parseGeometry(src: ByteSource, at: number): LpGeometry | undefined {
  if (at + GEOMETRY_STRUCT_SIZE > src.size) return undefined;
  const g = src.read(at, GEOMETRY_STRUCT_SIZE);
  if (u32le(g, 0, 'super image metadata') !== GEOMETRY_MAGIC) return undefined;
  const what = `Invalid super image: the geometry at offset ${at} has`;
  const structSize = u32le(g, 4, 'super image metadata');
  if (structSize !== GEOMETRY_STRUCT_SIZE) throw new FormatError(`${what} struct_size ${structSize}, not ${GEOMETRY_STRUCT_SIZE}.`);
  const checksumOk = sameBytes(sha256Zeroed(g, 8), g.subarray(8, 40));
  const metadataMaxSize = checked(u32le(g, 40, 'super image metadata'), SECTOR, MAX_METADATA_SIZE, `${what} metadata_max_size`);
  if (metadataMaxSize % SECTOR !== 0) throw new FormatError(`${what} metadata_max_size ${metadataMaxSize}, not a multiple of ${SECTOR}.`);
  if (metadataMaxSize < HEADER_V1_0_SIZE) throw new FormatError(`${what} metadata_max_size ${metadataMaxSize}, too small for a header.`);
  const metadataSlotCount = checked(u32le(g, 44, 'super image metadata'), 1, MAX_SLOTS, `${what} metadata_slot_count`);
  const logicalBlockSize = u32le(g, 48, 'super image metadata');
  return { metadataMaxSize, metadataSlotCount, logicalBlockSize, checksumOk };
}

/**
 * Reads the geometry: the primary copy when its sha256 checks, else the backup copy; when neither
 * checks, the first that parses, with an error problem (the tables have checksums of their own).
 */
function readGeometry(src: ByteSource, ctx: ContainerContext): LpGeometry {
  const copies: { name: string; geometry?: LpGeometry; error?: unknown }[] = [];
  for (const [name, at] of [
    ['primary', PRIMARY_GEOMETRY_OFFSET],
    ['backup', BACKUP_GEOMETRY_OFFSET],
  ] as const) {
    try {
      const geometry = parseGeometry(src, at);
      copies.push(
        geometry === undefined ? { name, error: new FormatError(`Invalid super image: no geometry magic 0x616C4467 at offset ${at}.`) } : { name, geometry },
      );
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
      copies.push({ name, error: err });
    }
  }
  const good = copies.find((c) => c.geometry?.checksumOk === true);
  if (good?.geometry !== undefined) {
    if (good.name !== 'primary') {
      ctx.problem({
        severity: 'warning',
        code: 'format',
        message: `The super image's primary geometry is corrupt (${messageOf(copies[0]?.error) ?? 'sha256 checksum mismatch'}); the backup copy was used.`,
      });
    }
    return good.geometry;
  }
  const parsed = copies.find((c) => c.geometry !== undefined);
  if (parsed?.geometry !== undefined) {
    ctx.problem({
      severity: 'error',
      code: 'format',
      message: `The super image's geometry checksums do not match (sha256); the ${parsed.name} copy was read anyway.`,
    });
    return parsed.geometry;
  }
  throw copies[0]?.error ?? new FormatError('Invalid super image: no geometry.');
}

function messageOf(err: unknown): string | undefined {
  return err instanceof Error ? err.message.replace(/\.$/, '') : undefined;
}

/** Parses one table descriptor at `at` of the header and checks it against the tables it points into. */
function descriptor(h: Uint8Array, at: number, tablesSize: number, structSize: number, name: string, where: number): TableDescriptor {
  const what = `Invalid super metadata at offset ${where}: the ${name} table`;
  const offset = checked(u32le(h, at, 'super image metadata'), 0, tablesSize, `${what} offset`);
  const entrySize = u32le(h, at + 4 + 4, 'super image metadata');
  // liblp requires the exact struct size; larger entries would still hold every field read here.
  if (entrySize < structSize) throw new FormatError(`${what} has entry_size ${entrySize}, smaller than the ${structSize}-byte entry.`);
  const count = checked(u32le(h, at + 4, 'super image metadata'), 0, Math.floor((tablesSize - offset) / entrySize), `${what} num_entries`);
  return { offset, count, entrySize };
}

/**
 * Parses the metadata copy at `at`: header magic 'ALP0', version 10.0-10.2, header_size 128 or 256,
 * the two sha256 checksums, the table descriptors. Throws FormatError (UnsupportedError for another
 * version) when the copy cannot be read at all; checksum mismatches are returned, not thrown.
 */
export function parseMetadata(src: ByteSource, geometry: LpGeometry, at: number): LpMetadata {
  const where = `Invalid super metadata at offset ${at}:`;
  if (at + HEADER_V1_0_SIZE > src.size) throw new FormatError(`${where} the image ends at ${src.size}, before the header.`, 'truncated');
  const first = src.read(at, HEADER_V1_0_SIZE);
  if (u32le(first, 0, 'super image metadata') !== HEADER_MAGIC) throw new FormatError(`${where} no header magic 'ALP0' (0x414C5030).`);
  const major = u16le(first, 4, 'super image metadata');
  const minor = u16le(first, 6, 'super image metadata');
  if (major !== MAJOR_VERSION || minor > MINOR_VERSION_MAX) {
    throw new UnsupportedError(`Super image metadata version ${major}.${minor} is not 10.0-10.2: its partitions were not scanned.`);
  }
  const headerSize = u32le(first, 8, 'super image metadata');
  if (headerSize !== HEADER_V1_0_SIZE && headerSize !== HEADER_V1_2_SIZE) {
    throw new FormatError(`${where} header_size ${headerSize} is neither ${HEADER_V1_0_SIZE} nor ${HEADER_V1_2_SIZE}.`);
  }
  const tablesSize = checked(u32le(first, 44, 'super image metadata'), 0, geometry.metadataMaxSize - headerSize, `${where} tables_size`);
  if (at + headerSize + tablesSize > src.size)
    throw new FormatError(`${where} the image ends at ${src.size}, inside the ${tablesSize}-byte tables.`, 'truncated');
  const header = headerSize === HEADER_V1_0_SIZE ? first : src.read(at, headerSize);
  const headerChecksumOk = sameBytes(sha256Zeroed(header, 12), header.subarray(12, 44));
  const tables = src.read(at + headerSize, tablesSize);
  const tablesChecksumOk = sameBytes(crypto.createHash('sha256').update(tables).digest(), header.subarray(48, 80));
  return {
    major,
    minor,
    headerChecksumOk,
    tablesChecksumOk,
    tables,
    partitions: descriptor(header, 80, tablesSize, PARTITION_SIZE, 'partitions', at),
    extents: descriptor(header, 92, tablesSize, EXTENT_SIZE, 'extents', at),
    groups: descriptor(header, 104, tablesSize, GROUP_SIZE, 'groups', at),
    blockDevices: descriptor(header, 116, tablesSize, BLOCK_DEVICE_SIZE, 'block_devices', at),
  };
}

/**
 * Reads slot 0's metadata: the primary copy when both its checksums hold, else the backup copy when
 * its checksums hold (a warning), else whichever copy parses, with an error problem saying the
 * checksums failed and the tables were read anyway.
 */
function readMetadata(src: ByteSource, geometry: LpGeometry, ctx: ContainerContext): LpMetadata {
  const copies: { name: string; offset: number; metadata?: LpMetadata; error?: unknown }[] = [];
  const ok = (m: LpMetadata | undefined): boolean => m?.headerChecksumOk === true && m.tablesChecksumOk;
  const tryCopy = (name: string, offset: number): void => {
    try {
      copies.push({ name, offset, metadata: parseMetadata(src, geometry, offset) });
    } catch (err) {
      if (!(err instanceof AibomError)) throw err;
      copies.push({ name, offset, error: err });
    }
  };
  tryCopy('primary', METADATA_START);
  if (!ok(copies[0]?.metadata)) tryCopy('backup', METADATA_START + geometry.metadataMaxSize * geometry.metadataSlotCount);
  const good = copies.find((c) => ok(c.metadata));
  const primary = copies[0]!;
  const primaryFault = (): string =>
    primary.metadata === undefined ? (messageOf(primary.error) ?? 'unreadable') : `${checksumFault(primary.metadata)} at offset ${primary.offset}`;
  if (good?.metadata !== undefined) {
    if (good !== primary) {
      ctx.problem({
        severity: 'warning',
        code: 'format',
        message: `The super image's primary metadata for slot 0 is corrupt (${primaryFault()}); the backup copy at offset ${good.offset} was used.`,
      });
    }
    return good.metadata;
  }
  const parsed = copies.find((c) => c.metadata !== undefined);
  if (parsed?.metadata !== undefined) {
    ctx.problem({
      severity: 'error',
      code: 'format',
      message: `The super image's metadata for slot 0 fails its checksums (${checksumFault(parsed.metadata)}) in every copy; the ${parsed.name} copy at offset ${parsed.offset} was read anyway.`,
    });
    return parsed.metadata;
  }
  // An UnsupportedError (a newer version) says more than the backup's error.
  throw primary.error instanceof UnsupportedError ? primary.error : (primary.error ?? copies[1]?.error);
}

function checksumFault(m: LpMetadata): string {
  const bad = [m.headerChecksumOk ? '' : 'header sha256 mismatch', m.tablesChecksumOk ? '' : 'tables sha256 mismatch'].filter(Boolean);
  return bad.join(', ');
}

/**
 * A partition name (36 bytes, NUL-padded, ASCII letters, digits and '_' in liblp) as a display
 * string: bytes outside printable ASCII become '_' so that a location never carries control bytes.
 */
function partitionName(bytes: Uint8Array): { name: string; clean: boolean } {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  let name = '';
  let clean = true;
  for (let i = 0; i < end; i++) {
    const c = bytes[i] as number;
    if (c < 0x20 || c > 0x7e) {
      clean = false;
      name += '_';
    } else name += String.fromCharCode(c);
  }
  return { name, clean };
}

/**
 * Turns the partition table into partitions to open, reporting per partition what prevents reading
 * it. Each extent index belongs to at most one partition, so hostile tables cannot make the walk
 * quadratic; LINEAR extents become slices of `src`, ZERO extents gaps read as zeros.
 */
function logicalPartitions(src: ByteSource, m: LpMetadata, ctx: ContainerContext): LogicalPartition[] {
  const names = new EntryNames(ctx, 'super partition', false);
  const owner = new Int32Array(m.extents.count).fill(-1);
  const ownerName: string[] = [];
  const out: LogicalPartition[] = [];
  const linear: { start: number; end: number; partition: string }[] = [];
  for (let i = 0; i < m.partitions.count; i++) {
    const p = m.tables.subarray(m.partitions.offset + i * m.partitions.entrySize);
    const raw = partitionName(p.subarray(0, NAME_LEN));
    const firstExtent = u32le(p, 40, 'super image metadata');
    const numExtents = u32le(p, 44, 'super image metadata');
    const group = u32le(p, 48, 'super image metadata');
    // An empty slot (the B copies of a factory super.img) has no extents and nothing to read.
    if (numExtents === 0) continue;
    let name = raw.name;
    if (name === '') {
      name = `partition${i}`;
      ctx.problem({ path: name, severity: 'warning', code: 'format', message: `Super partition ${i} has an empty name; it is listed as '${name}'.` });
    } else if (!raw.clean) {
      ctx.problem({
        path: name,
        severity: 'warning',
        code: 'hostile-path',
        message: `Super partition ${i}'s name has bytes outside printable ASCII; they are shown as '_'.`,
      });
    }
    const path = names.accept(name, false);
    const problem = (code: 'format' | 'truncated' | 'unsupported', message: string, severity: 'error' | 'warning' = 'error'): void =>
      ctx.problem({ path, severity, code, message });
    if (firstExtent > m.extents.count || numExtents > m.extents.count - firstExtent) {
      problem(
        'format',
        `Super partition '${path}' uses extents ${firstExtent}..${firstExtent + numExtents - 1}, past the ${m.extents.count}-entry extent table; it was not read.`,
      );
      continue;
    }
    if (group >= m.groups.count) {
      problem('format', `Super partition '${path}' names group ${group} of ${m.groups.count}; its contents are read anyway.`, 'warning');
    }
    ownerName[i] = path;
    const shared = firstSharedExtent(owner, firstExtent, numExtents, i);
    if (shared >= 0) {
      const other = ownerName[owner[shared] as number] ?? '?';
      problem('format', `Super partition '${path}' shares extent ${shared} with partition '${other}'; it was not read.`);
      continue;
    }
    const built = partitionExtents(src, m, firstExtent, numExtents, path, problem);
    if (built === undefined) continue;
    for (const e of built.extents) if (e.kind === 'source') linear.push({ start: e.sourceOffset, end: e.sourceOffset + e.length, partition: path });
    out.push({
      path,
      size: built.size,
      extents: built.extents,
      ...(src.identity === undefined ? {} : { identity: `${src.identity}!lp0:${i}` }),
    });
  }
  reportOverlaps(linear, ctx);
  return out;
}

/**
 * Marks extents [first, first + n) as owned by partition `index`; returns the first one already
 * owned by another partition (nothing marked then beyond it), or -1.
 */
function firstSharedExtent(owner: Int32Array, first: number, n: number, index: number): number {
  for (let k = first; k < first + n; k++) {
    if (owner[k] !== -1) return k;
    owner[k] = index;
  }
  return -1;
}

/**
 * The extents of one partition in its own address space. LINEAR extents on block device 0 are
 * slices of the image (clipped at its end, with a `truncated` problem); other devices are another
 * disk, not in this file (UnsupportedError-style problem, partition skipped).
 */
function partitionExtents(
  src: ByteSource,
  m: LpMetadata,
  first: number,
  n: number,
  path: string,
  problem: (code: 'format' | 'truncated' | 'unsupported', message: string) => void,
): { size: number; extents: Extent[] } | undefined {
  const extents: Extent[] = [];
  let size = 0;
  let clipped = false;
  for (let k = first; k < first + n; k++) {
    const e = m.tables.subarray(m.extents.offset + k * m.extents.entrySize);
    const sectors = u64le(e, 0, 'super image metadata');
    const type = u32le(e, 8, 'super image metadata');
    const target = u64le(e, 12, 'super image metadata');
    const device = u32le(e, 20, 'super image metadata');
    if (sectors > (MAX_PARTITION_SIZE - size) / SECTOR) {
      problem(
        'format',
        `Super partition '${path}' extent ${k} makes the partition larger than ${MAX_PARTITION_SIZE} bytes (num_sectors ${sectors}); it was not read.`,
      );
      return undefined;
    }
    const length = sectors * SECTOR;
    if (type === TARGET_LINEAR) {
      if (device >= m.blockDevices.count) {
        problem('format', `Super partition '${path}' extent ${k} names block device ${device} of ${m.blockDevices.count}; it was not read.`);
        return undefined;
      }
      if (device !== 0) {
        problem(
          'unsupported',
          `Super partition '${path}' extent ${k} lies on block device ${device}, another disk than this image (a multi-device super): the partition was not scanned.`,
        );
        return undefined;
      }
      const start = target * SECTOR;
      const available = start >= src.size ? 0 : Math.min(length, src.size - start);
      if (available < length && !clipped) {
        clipped = true;
        problem(
          'truncated',
          `Super partition '${path}' extent ${k} ends at byte ${start + length}, past the end of the ${src.size}-byte image; the missing part reads as zeros.`,
        );
      }
      if (available > 0) extents.push({ kind: 'source', offset: size, length: available, source: src, sourceOffset: start });
    } else if (type !== TARGET_ZERO) {
      problem('unsupported', `Super partition '${path}' extent ${k} has target_type ${type}, neither LINEAR (0) nor ZERO (1): the partition was not scanned.`);
      return undefined;
    }
    // ZERO extents, and the missing tail of a clipped one, are gaps: ExtentSource reads them as zeros.
    size += length;
  }
  return { size, extents };
}

/** Reports LINEAR extents that map the same bytes of the image twice (corrupt or hostile tables). */
function reportOverlaps(linear: { start: number; end: number; partition: string }[], ctx: ContainerContext): void {
  linear.sort((a, b) => a.start - b.start);
  let reported = 0;
  let total = 0;
  let reach = linear[0];
  for (let i = 1; i < linear.length; i++) {
    const cur = linear[i]!;
    if (reach !== undefined && cur.start < reach.end) {
      total++;
      if (reported < MAX_OVERLAP_REPORTS) {
        reported++;
        ctx.problem({
          path: cur.partition,
          severity: 'warning',
          code: 'format',
          message: `Super partition '${cur.partition}' maps bytes ${cur.start}..${Math.min(cur.end, reach.end) - 1} of the image that '${reach.partition}' maps too; both were read.`,
        });
      }
    }
    if (reach === undefined || cur.end > reach.end) reach = cur;
  }
  if (total > reported) {
    ctx.problem({ severity: 'warning', code: 'format', message: `The super image has ${total - reported} more overlapping extents.` });
  }
}

/**
 * The dynamic-partition (super) reader: yields each logical partition of metadata slot 0 with its
 * name as recorded (`system_a`, `vendor_b`, …: A/B suffixes are part of the names) as an
 * ExtentSource over the image (LINEAR extents are slices of it, ZERO extents zeros), so nothing is
 * copied. Both sha256 checksums are verified; on a mismatch the backup copy is tried, and if no copy
 * checks, the tables are read anyway with an error problem.
 *
 * Deliberately not handled: metadata slots other than 0 (factory images write the same tables to every
 * slot; a device's live super may differ in slot 1 after an update); extents on block devices other
 * than 0 (retrofit and multi-device supers, whose other devices are other files); partitions with no
 * extents (empty B slots) are skipped without a problem. A sparse super.img is read through the
 * android-sparse reader first, whose raw image this reader then matches.
 */
export const superImage: ContainerReader = {
  id: 'super',
  description: 'Android dynamic partitions (liblp super.img): logical partitions as extents of the image',
  kind: 'partitions',
  extensions: ['.img'],
  signatures: [
    { offset: 4096, magic: 'gDla', note: 'LP metadata geometry' },
    { offset: 8192, magic: 'gDla', note: 'backup LP metadata geometry' },
  ],
  match(probe: Probe): boolean {
    // LpMetadataGeometry magic 0x616C4467 with struct_size 52, at 4096 or in its copy at 8192.
    return looksLikeGeometry(probe.head, PRIMARY_GEOMETRY_OFFSET) || looksLikeGeometry(probe.head, BACKUP_GEOMETRY_OFFSET);
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const geometry = readGeometry(src, ctx);
    const metadata = readMetadata(src, geometry, ctx);
    for (const p of logicalPartitions(src, metadata, ctx)) {
      yield {
        path: p.path,
        type: 'file',
        size: p.size,
        open: () =>
          Promise.resolve(
            new ExtentSource(p.size, p.extents, {
              what: `super partition '${p.path}'`,
              ...(p.identity === undefined ? {} : { identity: p.identity }),
            }),
          ),
      };
    }
  },
};
