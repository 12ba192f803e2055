import { FormatError } from '../errors.js';
import { u32le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** The MBR's logical sector: 4Kn disks with an MBR are not handled (their firmware images use GPT). */
const SECTOR = 512;
/** Partition table at offset 446 of the boot sector: four 16-byte entries, then 0x55 0xAA at 510. */
const TABLE = 446;
const ENTRY = 16;
/** Partition types of extended partitions whose EBR chains hold the logical partitions. */
const EXTENDED = new Set([0x05, 0x0f, 0x85]);
/** 0xEE: a GPT protective partition; the disk belongs to the gpt reader. */
const GPT_PROTECTIVE = 0xee;
/** Longest EBR chain followed: real disks have a few dozen logical partitions at most. */
const MAX_LOGICAL = 256;

/** One raw MBR partition entry. */
interface RawPart {
  /** Slot 0-3 of the table. */
  readonly slot: number;
  /** Byte 0: 0x80 active, 0x00 inactive; anything else is not a partition table. */
  readonly status: number;
  /** Byte 4: the partition type. */
  readonly type: number;
  /** Bytes 8-11: first LBA (relative to the table's base); bytes 12-15: sector count. */
  readonly start: number;
  readonly count: number;
}

function hasSignature(sector: Uint8Array): boolean {
  return sector.length >= SECTOR && sector[510] === 0x55 && sector[511] === 0xaa;
}

function readTable(sector: Uint8Array): RawPart[] {
  const parts: RawPart[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const at = TABLE + slot * ENTRY;
    parts.push({
      slot,
      status: sector[at] as number,
      type: sector[at + 4] as number,
      start: u32le(sector, at + 8, 'MBR'),
      count: u32le(sector, at + 12, 'MBR'),
    });
  }
  return parts;
}

function isEmpty(p: RawPart): boolean {
  return p.type === 0 || p.count === 0;
}

function ascii(b: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * Whether the boot sector holds a plausible classic partition table for a `size`-byte image: 0x55AA
 * at 510, every status byte 0x00 or 0x80, at least one non-empty entry, non-empty entries starting
 * after the MBR itself, lying inside the image and not overlapping, and no GPT protective entry
 * (0xEE). A FAT or NTFS volume boot sector also ends in 0x55AA: its BPB ('NTFS    ' or 'EXFAT   '
 * at 3, 'FAT12   '/'FAT16   ' at 54, 'FAT32   ' at 82) rules it out before the entries are judged.
 */
export function plausibleMbr(sector: Uint8Array, size: number): boolean {
  if (!hasSignature(sector)) return false;
  if (ascii(sector, 3, 'NTFS    ') || ascii(sector, 3, 'EXFAT   ')) return false;
  if (ascii(sector, 54, 'FAT12   ') || ascii(sector, 54, 'FAT16   ') || ascii(sector, 82, 'FAT32   ')) return false;
  const sectors = Math.floor(size / SECTOR);
  const used: RawPart[] = [];
  for (const p of readTable(sector)) {
    if (p.status !== 0x00 && p.status !== 0x80) return false;
    if (p.type === GPT_PROTECTIVE) return false;
    if (isEmpty(p)) continue;
    if (p.start < 1 || p.start + p.count > sectors) return false;
    for (const q of used) if (p.start < q.start + q.count && q.start < p.start + p.count) return false;
    used.push(p);
  }
  return used.length > 0;
}

/** What a partition reader yields for one partition: a slice, clipped (with a problem) when the image ends inside it. */
export function partitionEntry(src: ByteSource, ctx: ContainerContext, path: string, offset: number, length: number, what: string): ContainerEntry | undefined {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset >= src.size) {
    ctx.problem({
      path,
      severity: 'error',
      code: 'truncated',
      message: `${what} starts at byte ${offset}, past the end of the ${src.size}-byte image; it was not read.`,
    });
    return undefined;
  }
  let size = length;
  if (offset + length > src.size) {
    size = src.size - offset;
    ctx.problem({
      path,
      severity: 'warning',
      code: 'truncated',
      message: `${what} declares ${length} bytes but the image ends ${size} bytes into it; the bytes present were scanned.`,
    });
  }
  return { path, type: 'file', size, open: () => Promise.resolve(new SliceSource(src, offset, size)) };
}

/**
 * Walks the logical partitions of one extended partition: each EBR (0x55AA at 510) holds the
 * logical partition in entry 0 (start relative to this EBR) and the link to the next EBR in entry 1
 * (start relative to the extended partition). A visited set and MAX_LOGICAL bound the chain.
 */
function* logicalPartitions(src: ByteSource, ctx: ContainerContext, ext: RawPart): Generator<{ start: number; count: number; type: number }> {
  const visited = new Set<number>();
  let ebr = ext.start;
  for (let n = 0; ; n++) {
    if (n >= MAX_LOGICAL) {
      ctx.problem({
        severity: 'error',
        code: 'limit',
        message: `The extended partition at sector ${ext.start} chains more than ${MAX_LOGICAL} EBRs; the rest were not read.`,
      });
      return;
    }
    if (visited.has(ebr)) {
      ctx.problem({
        severity: 'error',
        code: 'format',
        message: `The EBR chain of the extended partition at sector ${ext.start} loops back to sector ${ebr}; the walk stops there.`,
      });
      return;
    }
    visited.add(ebr);
    if ((ebr + 1) * SECTOR > src.size) {
      ctx.problem({ severity: 'error', code: 'truncated', message: `The EBR at sector ${ebr} lies past the end of the ${src.size}-byte image.` });
      return;
    }
    const sector = src.read(ebr * SECTOR, SECTOR);
    if (!hasSignature(sector)) {
      ctx.problem({ severity: 'error', code: 'format', message: `The EBR at sector ${ebr} lacks the 0x55AA signature; the chain stops there.` });
      return;
    }
    const [data, link] = readTable(sector);
    if (data !== undefined && !isEmpty(data) && !EXTENDED.has(data.type)) yield { start: ebr + data.start, count: data.count, type: data.type };
    if (link === undefined || isEmpty(link) || !EXTENDED.has(link.type)) return;
    ebr = ext.start + link.start;
  }
}

/**
 * Classic MBR partition tables (DOS disklabels), sector size 512. Primary partitions are `p1`..`p4`
 * by table slot (as Linux numbers them), logical partitions in extended partitions (0x05, 0x0F,
 * 0x85) `p5`, `p6`... in EBR chain order. Each partition is a slice of the image; extended
 * partitions themselves are not listed (they hold only EBRs and the logicals). Not handled: GPT
 * (the gpt reader, registered before this one, takes disks with a protective 0xEE entry; this
 * reader refuses them too), hybrid MBRs, BSD disklabels inside a partition, 4096-byte MBR sectors.
 */
async function* mbrEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  if (src.size < SECTOR) throw new FormatError(`Invalid MBR: the image is ${src.size} bytes, smaller than one 512-byte sector.`, 'truncated');
  const sector = src.read(0, SECTOR);
  if (!plausibleMbr(sector, src.size)) throw new FormatError('Invalid MBR: the boot sector holds no plausible partition table.');
  let logical = 5;
  for (const p of readTable(sector)) {
    if (isEmpty(p)) continue;
    if (!EXTENDED.has(p.type)) {
      const e = partitionEntry(src, ctx, `p${p.slot + 1}`, p.start * SECTOR, p.count * SECTOR, `MBR partition ${p.slot + 1} (type 0x${p.type.toString(16)})`);
      if (e) yield e;
      continue;
    }
    for (const l of logicalPartitions(src, ctx, p)) {
      const path = `p${logical++}`;
      const e = partitionEntry(src, ctx, path, l.start * SECTOR, l.count * SECTOR, `MBR logical partition ${path.slice(1)} (type 0x${l.type.toString(16)})`);
      if (e) yield e;
    }
  }
}

/** Classic MBR partition tables with extended partitions; partitions are slices of the image. */
export const mbr: ContainerReader = {
  id: 'mbr',
  description: 'MBR (DOS) partition tables, primary and logical partitions as slices of the disk image',
  kind: 'partitions',
  // recognised by structure: plausible partition entries (its 0x55AA at 510 is shared by every boot sector)
  extensions: ['.img'],
  signatures: [],
  match(probe: Probe): boolean {
    return probe.head.length >= SECTOR && plausibleMbr(probe.head.subarray(0, SECTOR), probe.size);
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return mbrEntries(src, ctx);
  },
};
