import zlib from 'node:zlib';
import { FormatError, UnsupportedError } from '../errors.js';
import { u16be, u16le, u32be, u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Signature } from '../detect/signature.js';
import type { Probe } from '../probe.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** A format aibom recognises by a reliable signature but cannot read yet. */
interface KnownImage {
  /** Named in the problem, e.g. 'UBI'. */
  readonly format: string;
  /** Problem code: 'encrypted' for encrypted volumes, where no reader could look inside without a key. */
  readonly code: 'unsupported' | 'encrypted';
  /** Its magics as data; `test` requires one of them and checks more. */
  readonly signatures: readonly Signature[];
  test(h: Uint8Array): boolean;
}

function bytesAt(h: Uint8Array, at: number, bytes: readonly number[]): boolean {
  if (h.length < at + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (h[at + i] !== bytes[i]) return false;
  return true;
}
function asciiAt(h: Uint8Array, at: number, text: string): boolean {
  return bytesAt(
    h,
    at,
    Array.from(text, (c) => c.charCodeAt(0)),
  );
}

/**
 * JFFS2 node header: magic 0x1985, node type, total length, and a header CRC over the first 8 bytes
 * (the kernel's crc32 with seed 0 and no final inversion). The CRC makes two bytes of magic reliable.
 */
function jffs2(h: Uint8Array, littleEndian: boolean): boolean {
  if (h.length < 12) return false;
  if ((littleEndian ? u16le : u16be)(h, 0, 'JFFS2 node header') !== 0x1985) return false;
  // Known node types: dirent 0xE001, inode 0xE002, cleanmarker 0x2003, padding 0x2004, summary 0x2006
  // (0xE006 with the accurate bit), xattr 0xE008, xref 0xE009.
  const type = (littleEndian ? u16le : u16be)(h, 2, 'JFFS2 node header');
  if (![0xe001, 0xe002, 0x2003, 0x2004, 0x2006, 0xe006, 0xe008, 0xe009].includes(type)) return false;
  if ((littleEndian ? u32le : u32be)(h, 4, 'JFFS2 node header') < 12) return false;
  const crc = (zlib.crc32(h.subarray(0, 8), 0xffffffff) ^ 0xffffffff) >>> 0;
  return (littleEndian ? u32le : u32be)(h, 8, 'JFFS2 node header') === crc;
}

/**
 * Signatures, none of which another reader handles. Each is a fixed magic at a fixed offset, most
 * with a second check, so a random file cannot match by chance in practice.
 */
const KNOWN: readonly KnownImage[] = [
  // UBI erase-counter header: 'UBI#' at 0, version 1 at 4.
  { format: 'UBI', code: 'unsupported', signatures: [{ offset: 0, magic: 'UBI#' }], test: (h) => asciiAt(h, 0, 'UBI#') && h[4] === 1 },
  // UBIFS superblock node: common header magic 0x06101831 (LE) at 0, node type 6 (UBIFS_SB_NODE) at 20.
  {
    format: 'UBIFS',
    code: 'unsupported',
    signatures: [{ offset: 0, magic: [0x31, 0x18, 0x10, 0x06] }],
    test: (h) => bytesAt(h, 0, [0x31, 0x18, 0x10, 0x06]) && h[20] === 6,
  },
  {
    format: 'JFFS2',
    code: 'unsupported',
    signatures: [
      { offset: 0, magic: [0x85, 0x19] },
      { offset: 0, magic: [0x19, 0x85] },
    ],
    test: (h) => jffs2(h, true) || jffs2(h, false),
  },
  // CramFS superblock: magic 0x28CD3D45 (either endian) and 'Compressed ROMFS' at 16, at 0 or after a 512-byte pad.
  {
    format: 'CramFS',
    code: 'unsupported',
    signatures: [0, 512].flatMap((offset) => [
      { offset, magic: [0x45, 0x3d, 0xcd, 0x28] },
      { offset, magic: [0x28, 0xcd, 0x3d, 0x45] },
    ]),
    test: (h) =>
      [0, 512].some((at) => (bytesAt(h, at, [0x45, 0x3d, 0xcd, 0x28]) || bytesAt(h, at, [0x28, 0xcd, 0x3d, 0x45])) && asciiAt(h, at + 16, 'Compressed ROMFS')),
  },
  // RomFS: '-rom1fs-' at 0.
  { format: 'RomFS', code: 'unsupported', signatures: [{ offset: 0, magic: '-rom1fs-' }], test: (h) => asciiAt(h, 0, '-rom1fs-') },
  // F2FS superblock at 1024: magic 0xF2F52010 (LE), then major version 1.
  {
    format: 'F2FS',
    code: 'unsupported',
    signatures: [{ offset: 1024, magic: [0x10, 0x20, 0xf5, 0xf2] }],
    test: (h) => bytesAt(h, 1024, [0x10, 0x20, 0xf5, 0xf2]) && h[1028] === 1 && h[1029] === 0,
  },
  // LUKS encrypted volume: 'LUKS' 0xBA 0xBE at 0, version 1 or 2 (u16 BE) at 6.
  {
    format: 'LUKS',
    code: 'encrypted',
    signatures: [{ offset: 0, magic: [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe] }],
    test: (h) => bytesAt(h, 0, [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0x00]) && (h[7] === 1 || h[7] === 2),
  },
  // Allwinner PhoenixSuit firmware: 'IMAGEWTY' at 0.
  { format: 'Allwinner IMAGEWTY', code: 'unsupported', signatures: [{ offset: 0, magic: 'IMAGEWTY' }], test: (h) => asciiAt(h, 0, 'IMAGEWTY') },
  // Amlogic burning image (aml_upgrade_package.img): magic 0x27B51956 (LE) at 8, version 1 or 2 at 4.
  {
    format: 'Amlogic upgrade package',
    code: 'unsupported',
    signatures: [{ offset: 8, magic: [0x56, 0x19, 0xb5, 0x27] }],
    test: (h) => bytesAt(h, 8, [0x56, 0x19, 0xb5, 0x27]) && (h[4] === 1 || h[4] === 2) && h[5] === 0 && h[6] === 0 && h[7] === 0,
  },
];

function recognise(h: Uint8Array): KnownImage | undefined {
  return KNOWN.find((s) => s.test(h));
}

/**
 * Recognises images aibom cannot read yet (UBI, UBIFS, JFFS2, CramFS, RomFS, F2FS, LUKS, Allwinner
 * IMAGEWTY, Amlogic upgrade packages) so that they are reported, never skipped silently: `entries()`
 * lists nothing and throws UnsupportedError naming the format, which the scan records as a problem
 * at that location. Registered last: its magics collide with no other reader's. Deliberately not
 * recognised: YAFFS2 (no magic; heuristics on OOB-less dumps are unreliable), encrypted Android
 * userdata (no header), UEFI capsules.
 */
// biome-ignore lint/correctness/useYield: a recognised-only format lists nothing; it always ends in a typed error.
async function* unsupportedEntries(src: ByteSource, _ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const sig = recognise(src.read(0, Math.min(src.size, 4096)));
  if (sig === undefined) throw new FormatError('No unsupported-format signature at the start of this item.');
  const what =
    sig.code === 'encrypted'
      ? `${sig.format} encrypted volume recognised but not scanned: aibom cannot read encrypted content without its key.`
      : `${sig.format} image recognised but not scanned: aibom cannot read ${sig.format} yet.`;
  throw new UnsupportedError(what, sig.code);
}

/** Formats recognised and reported as not scanned; registered last. */
export const unsupported: ContainerReader = {
  id: 'unsupported',
  description: 'UBI, UBIFS, JFFS2, CramFS, RomFS, F2FS, LUKS and vendor packages recognised and reported as not scanned',
  kind: 'other',
  signatures: KNOWN.flatMap((k) => k.signatures),
  match(probe: Probe): boolean {
    return recognise(probe.head) !== undefined;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return unsupportedEntries(src, ctx);
  },
};
