import zlib from 'node:zlib';
import { FormatError } from '../errors.js';
import { u32le, u64leBig } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import type { Probe } from '../probe.js';
import { partitionEntry } from './mbr.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** Logical sector sizes tried, in this order: the header sits at LBA 1. */
const SECTOR_SIZES = [512, 4096] as const;
const SIGNATURE = 'EFI PART';
/** Smallest header (UEFI 2.x: 92 bytes); the rest of the sector is reserved. */
const HEADER_MIN = 92;
/** Partition entries accepted: real tables hold 128; the array is read in one piece. */
const MAX_ENTRIES = 1024;
const ENTRY_MIN = 128;
const ENTRY_MAX = 4096;

/** A GPT header that passed its checks, with its partition entry array. */
interface Table {
  readonly sector: number;
  /** 'primary' (LBA 1) or 'backup' (last LBA). */
  readonly which: 'primary' | 'backup';
  readonly entries: Uint8Array;
  readonly count: number;
  readonly entrySize: number;
}

/** One step of reading a header: a table, or why not (for messages). */
type Attempt = { table: Table; backupLba?: number } | { error: string; backupLba?: number };

function isSignature(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < SIGNATURE.length; i++) if (b[at + i] !== SIGNATURE.charCodeAt(i)) return false;
  return true;
}

/** GUID as text: the first three fields little-endian, the last two as bytes (UEFI mixed-endian). */
function guidText(b: Uint8Array): string {
  const h = (i: number): string => (b[i] as number).toString(16).padStart(2, '0');
  const le = (from: number, n: number): string => Array.from({ length: n }, (_, k) => h(from + n - 1 - k)).join('');
  const be = (from: number, n: number): string => Array.from({ length: n }, (_, k) => h(from + k)).join('');
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${be(8, 2)}-${be(10, 6)}`.toUpperCase();
}

/**
 * Reads and checks the header at `lba`: signature, header size (92..sector), header CRC32 (field at
 * 16, computed with the field zeroed), entry count and size (bounded), the partition entry array
 * inside the image, and its CRC32 (field at 88).
 */
function readHeader(src: ByteSource, sector: number, lba: number, which: Table['which']): Attempt {
  const at = lba * sector;
  if (lba < 1 || at + sector > src.size) return { error: `the ${which} GPT header at LBA ${lba} lies outside the ${src.size}-byte image` };
  const h = src.read(at, sector);
  if (!isSignature(h, 0)) return { error: `no 'EFI PART' signature at LBA ${lba} (${sector}-byte sectors)` };
  const headerSize = u32le(h, 12, 'GPT header');
  if (headerSize < HEADER_MIN || headerSize > sector) return { error: `the ${which} GPT header size ${headerSize} is outside [${HEADER_MIN}, ${sector}]` };
  const copy = Uint8Array.prototype.slice.call(h, 0, headerSize);
  copy.fill(0, 16, 20);
  // Alternate LBA (offset 32): where the other copy says it is; untrusted, only a hint for the backup.
  const alt = u64leBig(h, 32, 'GPT header');
  const backupLba = alt > 0n && alt <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(alt) : undefined;
  const hint = backupLba === undefined ? {} : { backupLba };
  if (zlib.crc32(copy) !== u32le(h, 16, 'GPT header')) return { error: `the ${which} GPT header CRC32 does not match its content`, ...hint };
  const myLba = u64leBig(h, 24, 'GPT header');
  if (myLba !== BigInt(lba)) return { error: `the ${which} GPT header at LBA ${lba} says it is at LBA ${myLba}`, ...hint };
  const entriesLba = u64leBig(h, 72, 'GPT header');
  const count = u32le(h, 80, 'GPT header');
  const entrySize = u32le(h, 84, 'GPT header');
  if (count > MAX_ENTRIES) return { error: `the ${which} GPT header declares ${count} partition entries, more than ${MAX_ENTRIES}`, ...hint };
  if (entrySize < ENTRY_MIN || entrySize > ENTRY_MAX || entrySize % 8 !== 0) {
    return { error: `the ${which} GPT partition entry size ${entrySize} is not a multiple of 8 in [${ENTRY_MIN}, ${ENTRY_MAX}]`, ...hint };
  }
  const arrayBytes = count * entrySize;
  const arrayAt = entriesLba * BigInt(sector);
  if (entriesLba < 1n || arrayAt + BigInt(arrayBytes) > BigInt(src.size)) {
    return { error: `the ${which} GPT partition entry array (${arrayBytes} bytes at LBA ${entriesLba}) lies outside the ${src.size}-byte image`, ...hint };
  }
  const entries = src.read(Number(arrayAt), arrayBytes);
  if (zlib.crc32(entries) !== u32le(h, 88, 'GPT header')) return { error: `the ${which} GPT partition entry array CRC32 does not match`, ...hint };
  return { table: { sector, which, entries, count, entrySize }, ...hint };
}

/**
 * Finds a valid GPT: the primary header at LBA 1 for 512- then 4096-byte sectors; when it fails its
 * checks, the backup header (at the primary's alternate LBA, else the last LBA of the image). Using
 * the backup is recorded as a problem; no valid header at all is a FormatError naming each failure.
 */
function findTable(src: ByteSource, ctx: ContainerContext): Table {
  const failures: string[] = [];
  const head = src.read(0, Math.min(src.size, 4096 + SIGNATURE.length));
  const present = SECTOR_SIZES.filter((s) => isSignature(head, s));
  for (const sector of present) {
    const primary = readHeader(src, sector, 1, 'primary');
    if ('table' in primary) return primary.table;
    failures.push(primary.error);
  }
  // Primary missing or damaged: the backup header at the last LBA (or where the primary says).
  const order = present.length > 0 ? [...present, ...SECTOR_SIZES.filter((s) => !present.includes(s))] : [...SECTOR_SIZES];
  for (const sector of order) {
    const last = Math.floor(src.size / sector) - 1;
    if (last < 2) continue;
    const candidates = new Set<number>([last]);
    if (present.includes(sector)) {
      const hint = readHeader(src, sector, 1, 'primary').backupLba;
      if (hint !== undefined) candidates.add(hint);
    }
    for (const lba of candidates) {
      const backup = readHeader(src, sector, lba, 'backup');
      if ('table' in backup) {
        ctx.problem({
          severity: 'warning',
          code: 'format',
          message: `The primary GPT is damaged (${failures.join('; ') || `no primary header for ${sector}-byte sectors`}); the partitions were read from the backup header at LBA ${lba}.`,
        });
        return backup.table;
      }
      if (!failures.includes(backup.error)) failures.push(backup.error);
    }
  }
  throw new FormatError(`Invalid GPT: no valid header (${failures.join('; ') || 'no EFI PART signature at LBA 1 or at the last LBA'}).`);
}

/** Partition name: UTF-16LE, 72 bytes at entry offset 56, ended by a NUL. */
function entryName(e: Uint8Array): string {
  const raw = e.subarray(56, 128);
  let end = 0;
  while (end + 1 < raw.length && (raw[end] !== 0 || raw[end + 1] !== 0)) end += 2;
  return Buffer.from(raw.subarray(0, end)).toString('utf16le');
}

/** A name usable as one location hop: printable, no separators, not '.' or '..'. */
function safeName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name !== '' && name !== '.' && name !== '..' && !/[\u0000-\u001f\u007f/\\]/.test(name) && name.trim() === name;
}

/**
 * GUID partition tables. The header is looked for at LBA 1 for 512- and 4096-byte logical sectors;
 * header and partition array CRC32s are verified, and a damaged primary falls back to the backup
 * header at the end of the disk (a problem says so). Each used entry (non-zero type GUID) is a slice
 * of the image from its first to its last LBA (inclusive), named by its partition name (UTF-16LE)
 * when that name is present, safe and unique in the table, else `p<N>` with N its 1-based entry
 * index (as Linux numbers `sda<N>`); a partition running past the end of the image is clipped with a
 * problem. Not handled: partition attributes (read, not acted on), overlapping partitions (each is
 * listed as declared), hybrid MBRs (the MBR side is ignored).
 */
async function* gptEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const t = findTable(src, ctx);
  interface Part {
    index: number;
    name: string;
    first: bigint;
    last: bigint;
    type: string;
  }
  const parts: Part[] = [];
  for (let i = 0; i < t.count; i++) {
    const e = t.entries.subarray(i * t.entrySize, (i + 1) * t.entrySize);
    const type = e.subarray(0, 16);
    if (type.every((b) => b === 0)) continue; // unused entry
    parts.push({
      index: i + 1,
      name: entryName(e),
      first: u64leBig(e, 32, 'GPT partition entry'),
      last: u64leBig(e, 40, 'GPT partition entry'),
      type: guidText(type),
    });
  }
  const counts = new Map<string, number>();
  for (const p of parts) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
  for (const p of parts) {
    // A name that is itself `p<M>` would collide with the fallback of entry M: only its own index is kept.
    const usable = safeName(p.name) && counts.get(p.name) === 1 && (!/^p\d+$/.test(p.name) || p.name === `p${p.index}`);
    const path = usable ? p.name : `p${p.index}`;
    const what = `GPT partition ${p.index}${p.name === '' ? '' : ` ${JSON.stringify(p.name)}`} (type ${p.type})`;
    if (p.last < p.first) {
      ctx.problem({ path, severity: 'error', code: 'format', message: `${what} ends at LBA ${p.last}, before its first LBA ${p.first}; it was not read.` });
      continue;
    }
    const sector = BigInt(t.sector);
    let offset: number;
    let length: number;
    try {
      offset = checked(p.first * sector, 0, Number.MAX_SAFE_INTEGER, `${what} start`);
      length = checked((p.last - p.first + 1n) * sector, 0, Number.MAX_SAFE_INTEGER, `${what} length`);
    } catch (err) {
      ctx.problem({ path, severity: 'error', code: 'format', message: `${(err as Error).message} It was not read.` });
      continue;
    }
    const entry = partitionEntry(src, ctx, path, offset, length, what);
    if (entry) yield entry;
  }
}

/** GUID partition tables (512- or 4096-byte sectors, backup header on damage); partitions are slices. */
export const gpt: ContainerReader = {
  id: 'gpt',
  description: 'GPT partition tables (512/4096-byte sectors, CRC-checked, backup header), partitions as slices',
  kind: 'partitions',
  extensions: ['.img'],
  signatures: [
    { offset: 512, magic: 'EFI PART', note: 'GPT header at LBA 1, 512-byte sectors' },
    { offset: 4096, magic: 'EFI PART', note: 'GPT header at LBA 1, 4096-byte sectors' },
    // A protective MBR whose GPT header is damaged is still matched, for the backup header.
    { offset: 510, magic: [0x55, 0xaa], note: 'protective MBR boot signature' },
  ],
  match(probe: Probe): boolean {
    const h = probe.head;
    for (const s of SECTOR_SIZES) if (h.length >= s + SIGNATURE.length && isSignature(h, s)) return true;
    // A protective MBR (0x55AA at 510, an entry of type 0xEE from LBA 1) whose GPT header is damaged:
    // entries() then looks for the backup header.
    if (h.length < 512 || h[510] !== 0x55 || h[511] !== 0xaa) return false;
    for (let slot = 0; slot < 4; slot++) {
      const at = 446 + slot * 16;
      if (h[at + 4] === 0xee && h[at + 8] === 1 && h[at + 9] === 0 && h[at + 10] === 0 && h[at + 11] === 0) return true;
    }
    return false;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return gptEntries(src, ctx);
  },
};
