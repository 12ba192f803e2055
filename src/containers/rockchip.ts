import { FormatError } from '../errors.js';
import { u32le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/*
 * Layouts, as documented by the public Rockchip tools (rkflashtool's rkafp.h and rkrom.h, rk2918_tools'
 * afptool.c and img_maker.c, rk3562_tools, apftool-rs); all integers little-endian, structures packed.
 *
 * RKFW (rkImageMaker's update.img), 0x66-byte header:
 *   0x00 'RKFW'  0x04 u16 header length (0x66)  0x06 u32 version  0x0A u32 code
 *   0x0E u16 year, 0x10 month, day, hour, minute, second (u8 each)  0x15 u32 chip
 *   0x19 u32 loader offset  0x1D u32 loader length  0x21 u32 image offset  0x25 u32 image length
 *   then unknown1, unknown2, system fstype, backup end (u32 each) and reserved bytes.
 * The loader ('BOOT' or 'LDR ' magic) and the RKAF image follow; a 32-character MD5 in hex ends the file.
 *
 * RKAF (afptool's firmware.img), a 2048-byte header (4096 on RK3562 images with more than 16 items):
 *   0x00 'RKAF'  0x04 u32 length (the file's size less its trailing 4-byte RKCRC)
 *   0x08 model[34]  0x2A id[30]  0x48 manufacturer[56]  0x80 u32 unknown  0x84 u32 version
 *   0x88 u32 item count  0x8C items, 112 bytes each:
 *     0x00 name[32]  0x20 file name[60]  0x5C u32 NAND size  0x60 u32 position (in the RKAF)
 *     0x64 u32 NAND address  0x68 u32 padded size  0x6C u32 file size
 */
const RKFW_HEADER = 0x29;
const RKAF_ITEMS = 0x8c;
const ITEM_SIZE = 112;
/** Items in a classic 2048-byte RKAF header. */
const CLASSIC_ITEMS = 16;
/** Items that fit a 4096-byte RK3562 header. */
const MAX_ITEMS = 35;
/** The 'parameter' item is wrapped: 'PARM', u32 length, the text, a u32 RKCRC. */
const PARM_HEADER = 8;

function magic(b: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** A NUL-terminated field as text (latin1: the tools write ASCII). */
function cString(b: Uint8Array, at: number, len: number): string {
  const field = b.subarray(at, at + len);
  const end = field.indexOf(0);
  return Buffer.from(end >= 0 ? field.subarray(0, end) : field).toString('latin1');
}

/** One RKAF item as recorded. */
interface Item {
  readonly index: number;
  readonly name: string;
  readonly fileName: string;
  readonly position: number;
  readonly fileSize: number;
}

/** Whether an item slot holds an entry: a printable name or file name. */
function slotUsed(h: Uint8Array, at: number): boolean {
  return h[at] !== 0 || h[at + 32] !== 0;
}

/**
 * Reads the RKAF item table from the header bytes `h` (up to 4096). The count at 0x88 is bounded
 * by 35 (the 4096-byte RK3562 header); more than 16 items means the 4096-byte header. As rk3562's
 * afptool does, a count of exactly 16 with a used 17th slot is read on to the first empty slot.
 */
function readItems(h: Uint8Array): Item[] {
  const declared = u32le(h, 0x88, 'Rockchip image');
  if (declared > MAX_ITEMS) throw new FormatError(`Invalid RKAF: item count ${declared} exceeds ${MAX_ITEMS}.`);
  const slots = Math.min(MAX_ITEMS, Math.floor((h.length - RKAF_ITEMS) / ITEM_SIZE));
  if (declared > slots) throw new FormatError(`Invalid RKAF: item count ${declared} does not fit the ${h.length}-byte header.`, 'truncated');
  let count = declared;
  if (declared === CLASSIC_ITEMS) while (count < slots && slotUsed(h, RKAF_ITEMS + count * ITEM_SIZE)) count++;
  const items: Item[] = [];
  for (let i = 0; i < count; i++) {
    const at = RKAF_ITEMS + i * ITEM_SIZE;
    if (!slotUsed(h, at)) continue;
    items.push({
      index: i,
      name: cString(h, at, 32),
      fileName: cString(h, at + 32, 60),
      position: u32le(h, at + 0x60, 'Rockchip image'),
      fileSize: u32le(h, at + 0x6c, 'Rockchip image'),
    });
  }
  return items;
}

/**
 * The items of an RKAF package at `base` of `src` (`limit` bytes available): each a slice named by
 * its file name (e.g. `Image/system.img`), else its item name. 'SELF' (the package itself) and
 * 'RESERVED' items are skipped; A/B slots naming the same file at the same position are listed once;
 * the 'parameter' item is unwrapped from its 'PARM' header. Items past the end are problems.
 */
function* rkafItems(src: ByteSource, ctx: ContainerContext, base: number, limit: number, names: EntryNames): Generator<ContainerEntry> {
  if (limit < RKAF_ITEMS + 4) throw new FormatError(`Invalid RKAF: ${limit} bytes cannot hold its header.`, 'truncated');
  const h = src.read(base, Math.min(limit, 4096));
  if (!magic(h, 0, 'RKAF')) throw new FormatError(`Invalid RKAF: no 'RKAF' magic at offset ${base}.`);
  const items = readItems(h);
  const seen = new Map<string, string>();
  for (const it of items) {
    const recorded = it.fileName !== '' ? it.fileName : it.name;
    if (recorded === 'SELF' || recorded === 'RESERVED' || recorded === '') continue;
    const what = `RKAF item ${it.index} ${JSON.stringify(it.name)} (${JSON.stringify(it.fileName)})`;
    if (it.position + it.fileSize > limit) {
      ctx.problem({
        path: recorded,
        severity: 'error',
        code: 'truncated',
        message: `${what} declares ${it.fileSize} bytes at offset ${it.position}, past the end of the ${limit}-byte package; it was not read.`,
      });
      continue;
    }
    const range = `${it.position}+${it.fileSize}`;
    if (seen.get(recorded) === range) continue; // the same file for another slot (A/B)
    seen.set(recorded, range);
    let offset = base + it.position;
    let size = it.fileSize;
    if (it.name === 'parameter' && size >= PARM_HEADER + 4) {
      const ph = src.read(offset, PARM_HEADER);
      const inner = u32le(ph, 4, 'Rockchip image');
      if (magic(ph, 0, 'PARM') && inner <= size - PARM_HEADER - 4) {
        offset += PARM_HEADER;
        size = inner;
      }
    }
    const path = names.accept(recorded, false);
    yield { path, type: 'file', size, open: () => Promise.resolve(new SliceSource(src, offset, size)) };
  }
}

/**
 * Rockchip firmware: an RKFW update.img (rkImageMaker) whose loader is listed as `boot.bin` and whose
 * embedded RKAF package's items are listed directly (`update.img!/Image/system.img`, one level), or
 * a bare RKAF package (afptool's firmware.img, also called update.img). Items are slices; the
 * orchestrator recurses into them (boot.img, system.img, parameter). Not handled: the RKCRC of the
 * package and the MD5 of an RKFW (verifying them costs a pass over gigabytes), 32-bit sizes that
 * vendors truncate for items over 4 GiB (such an item runs past the end and is a problem), and the
 * 'KRNL' CRC wrapper of some kernel images (listed as is).
 */
async function* rockchipEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const names = new EntryNames(ctx, 'Rockchip', false);
  const head = src.read(0, Math.min(src.size, 0x66));
  if (magic(head, 0, 'RKAF')) {
    yield* rkafItems(src, ctx, 0, src.size, names);
    return;
  }
  if (!magic(head, 0, 'RKFW')) throw new FormatError("Invalid Rockchip image: neither 'RKFW' nor 'RKAF' at offset 0.");
  if (head.length < RKFW_HEADER) throw new FormatError(`Invalid RKFW: ${src.size} bytes cannot hold its header.`, 'truncated');
  const loaderOffset = u32le(head, 0x19, 'Rockchip image');
  const loaderLength = u32le(head, 0x1d, 'Rockchip image');
  const imageOffset = u32le(head, 0x21, 'Rockchip image');
  const imageLength = u32le(head, 0x25, 'Rockchip image');
  if (loaderLength > 0) {
    if (loaderOffset + loaderLength > src.size) {
      ctx.problem({
        path: 'boot.bin',
        severity: 'error',
        code: 'truncated',
        message: `The RKFW loader (${loaderLength} bytes at offset ${loaderOffset}) lies past the end of the ${src.size}-byte image; it was not read.`,
      });
    } else {
      yield {
        path: names.accept('boot.bin', false),
        type: 'file',
        size: loaderLength,
        open: () => Promise.resolve(new SliceSource(src, loaderOffset, loaderLength)),
      };
    }
  }
  if (imageOffset >= src.size) throw new FormatError(`Invalid RKFW: image offset ${imageOffset} is past the end of the ${src.size}-byte file.`, 'truncated');
  let limit = imageLength;
  if (imageOffset + imageLength > src.size) {
    limit = src.size - imageOffset;
    ctx.problem({
      severity: 'warning',
      code: 'truncated',
      message: `The RKFW image declares ${imageLength} bytes at offset ${imageOffset} but the file ends ${limit} bytes into it; the items present were read.`,
    });
  }
  yield* rkafItems(src, ctx, imageOffset, limit, names);
}

/** Rockchip update.img (RKFW and RKAF); the packaged partition images are slices. */
export const rockchip: ContainerReader = {
  id: 'rockchip',
  description: 'Rockchip firmware (RKFW update.img, RKAF package), packaged images as slices',
  kind: 'partitions',
  extensions: ['.img'],
  signatures: [
    { offset: 0, magic: 'RKFW', note: 'Rockchip update.img' },
    { offset: 0, magic: 'RKAF', note: 'Rockchip firmware package' },
  ],
  match(probe: Probe): boolean {
    const h = probe.head;
    if (h.length >= RKFW_HEADER && magic(h, 0, 'RKFW')) return true;
    // 'RKAF' then a length that fits the file (the trailing RKCRC makes it size - 4 when whole).
    return h.length >= RKAF_ITEMS && magic(h, 0, 'RKAF') && u32le(h, 4, 'Rockchip image') <= probe.size && u32le(h, 0x88, 'Rockchip image') <= MAX_ITEMS;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return rockchipEntries(src, ctx);
  },
};
