import { FormatError, UnsupportedError } from '../errors.js';
import { u32le, u64le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** 'ANDROID!' at offset 0: boot, recovery and init_boot images. */
const BOOT_MAGIC = [0x41, 0x4e, 0x44, 0x52, 0x4f, 0x49, 0x44, 0x21];
/** 'VNDRBOOT' at offset 0: vendor_boot images (header v3 and later). */
const VENDOR_MAGIC = [0x56, 0x4e, 0x44, 0x52, 0x42, 0x4f, 0x4f, 0x54];
/** Header v3 and v4 fix the page size of boot images at 4096. */
const V3_PAGE = 4096;
/** Page sizes accepted from a v0-v2 or vendor header: powers of two in this range (mkbootimg offers 2048-16384). */
const MIN_PAGE = 2048;
const MAX_PAGE = 65536;
/** Sizes of the vendor boot headers (struct vendor_boot_img_hdr_v3 / _v4), which may span several pages. */
const VENDOR_V3_HEADER = 2112;
const VENDOR_V4_HEADER = 2128;
/** struct vendor_ramdisk_table_entry_v4: size, offset, type, name[32], board_id[16 x u32]. */
const TABLE_ENTRY_MIN = 108;
const TABLE_ENTRY_MAX = 4096;
/** Vendor ramdisk table entries accepted; real images have a handful. */
const MAX_TABLE_ENTRIES = 1024;
const RAMDISK_NAME_SIZE = 32;

/** One section of an image, by byte range. */
interface Section {
  name: string;
  offset: number;
  size: number;
}

function hasMagic(h: Uint8Array, magic: readonly number[]): boolean {
  if (h.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (h[i] !== magic[i]) return false;
  return true;
}

function plausiblePage(n: number): boolean {
  return n >= MIN_PAGE && n <= MAX_PAGE && (n & (n - 1)) === 0;
}

/** Bytes `size` takes once padded to whole pages. */
function pages(size: number, page: number): number {
  return Math.ceil(size / page) * page;
}

/** The header bytes, or a FormatError when the image is shorter than the header of its version. */
function header(src: ByteSource, need: number, what: string): Uint8Array {
  if (src.size < need) throw new FormatError(`The ${what} header needs ${need} bytes but the image has ${src.size}.`, 'truncated');
  return src.read(0, need);
}

/** What the header says, in file order. */
interface Layout {
  what: string;
  sections: Section[];
  /** Vendor ramdisk table (v4 vendor_boot): the ramdisks inside the `vendor_ramdisk` section. */
  table?: { section: Section; tableSection: Section; entries: number; entrySize: number };
}

/**
 * Boot, recovery and init_boot images ('ANDROID!'). v0-v2 (struct boot_img_hdr_v0..v2): sizes at
 * 8 (kernel), 16 (ramdisk), 24 (second), page_size at 36, header_version at 40; v1 adds
 * recovery_dtbo_size at 1632 and its offset (u64) at 1636; v2 adds dtb_size at 1648. v3/v4
 * (boot_img_hdr_v3/v4): kernel_size at 8, ramdisk_size at 12, header_version at 40, pages of 4096; v4
 * adds signature_size at 1580. Sections follow the one-page header, each padded to whole pages.
 */
function bootLayout(src: ByteSource, ctx: ContainerContext): Layout {
  const h = header(src, 44, 'Android boot image');
  const version = u32le(h, 40, 'Android boot image');
  if (version >= 3) {
    if (version > 4) {
      // Before header v1, some Qualcomm images kept a device-tree size in this field (dt_size).
      if (plausiblePage(u32le(h, 36, 'Android boot image')) && version >= MIN_PAGE) return legacyLayout(src, version);
      throw new UnsupportedError(`The Android boot image has header version ${version}; aibom reads versions 0 to 4: not scanned.`);
    }
    const b = header(src, version === 4 ? 1584 : 1580, `Android boot image v${version}`);
    const sections: Section[] = [];
    let at = V3_PAGE;
    const add = (name: string, size: number): void => {
      sections.push({ name, offset: at, size });
      at += pages(size, V3_PAGE);
    };
    add('kernel', u32le(b, 8, 'Android boot image'));
    add('ramdisk', u32le(b, 12, 'Android boot image'));
    if (version === 4) add('signature', u32le(b, 1580, 'Android boot image'));
    return { what: `Android boot image v${version}`, sections };
  }
  const b = header(src, version === 0 ? 1632 : version === 1 ? 1648 : 1660, `Android boot image v${version}`);
  const page = u32le(b, 36, 'Android boot image');
  if (!plausiblePage(page))
    throw new FormatError(`The Android boot image v${version} has page_size ${page}, not a power of two in [${MIN_PAGE}, ${MAX_PAGE}].`);
  const sections: Section[] = [];
  let at = page;
  const add = (name: string, size: number): void => {
    sections.push({ name, offset: at, size });
    at += pages(size, page);
  };
  add('kernel', u32le(b, 8, 'Android boot image'));
  add('ramdisk', u32le(b, 16, 'Android boot image'));
  add('second', u32le(b, 24, 'Android boot image'));
  if (version >= 1) {
    const size = u32le(b, 1632, 'Android boot image');
    const recorded = u64le(b, 1636, 'Android boot image');
    if (size > 0 && recorded !== 0 && recorded !== at) {
      // The bootloader and unpack_bootimg use the recorded offset; a different layout is worth a note.
      ctx.problem({
        severity: 'warning',
        code: 'format',
        message: `The Android boot image records recovery_dtbo_offset ${recorded}, not ${at} as the page-aligned sizes give; the recorded offset is used.`,
      });
      sections.push({ name: 'recovery_dtbo', offset: recorded, size });
      at += pages(size, page);
    } else {
      add('recovery_dtbo', size);
    }
  }
  if (version === 2) add('dtb', u32le(b, 1648, 'Android boot image'));
  return { what: `Android boot image v${version}`, sections };
}

/** A pre-v1 Qualcomm image whose header_version field holds dt_size: the device tree follows `second`. */
function legacyLayout(src: ByteSource, dtSize: number): Layout {
  const b = header(src, 40, 'Android boot image');
  const page = u32le(b, 36, 'Android boot image');
  const sections: Section[] = [];
  let at = page;
  for (const [name, size] of [
    ['kernel', u32le(b, 8, 'Android boot image')],
    ['ramdisk', u32le(b, 16, 'Android boot image')],
    ['second', u32le(b, 24, 'Android boot image')],
    ['dt', dtSize],
  ] as const) {
    sections.push({ name, offset: at, size });
    at += pages(size, page);
  }
  return { what: 'Android boot image v0 (with dt_size)', sections };
}

/**
 * Vendor boot images ('VNDRBOOT', struct vendor_boot_img_hdr_v3/v4): header_version at 8, page_size
 * at 12, vendor_ramdisk_size at 24, dtb_size at 2100; v4 adds vendor_ramdisk_table_size (2112),
 * entry_num (2116), entry_size (2120) and bootconfig_size (2124). The header takes as many pages as
 * its size needs; then the vendor ramdisk section, dtb, ramdisk table and bootconfig, page-aligned.
 */
function vendorLayout(src: ByteSource): Layout {
  const h = header(src, 16, 'Android vendor_boot image');
  const version = u32le(h, 8, 'Android boot image');
  if (version !== 3 && version !== 4)
    throw new UnsupportedError(`The Android vendor_boot image has header version ${version}; aibom reads versions 3 and 4: not scanned.`);
  const size = version === 4 ? VENDOR_V4_HEADER : VENDOR_V3_HEADER;
  const what = `Android vendor_boot image v${version}`;
  const b = header(src, size, what);
  const page = u32le(b, 12, 'Android boot image');
  if (!plausiblePage(page)) throw new FormatError(`The ${what} has page_size ${page}, not a power of two in [${MIN_PAGE}, ${MAX_PAGE}].`);
  const sections: Section[] = [];
  let at = pages(size, page);
  const add = (name: string, n: number): Section => {
    const s = { name, offset: at, size: n };
    sections.push(s);
    at += pages(n, page);
    return s;
  };
  const ramdisks = add('vendor_ramdisk', u32le(b, 24, 'Android boot image'));
  add('dtb', u32le(b, 2100, 'Android boot image'));
  if (version === 3) return { what, sections };
  const table = add('vendor_ramdisk_table', u32le(b, 2112, 'Android boot image'));
  add('bootconfig', u32le(b, 2124, 'Android boot image'));
  return {
    what,
    sections,
    table: { section: ramdisks, tableSection: table, entries: u32le(b, 2116, 'Android boot image'), entrySize: u32le(b, 2120, 'Android boot image') },
  };
}

/**
 * The ramdisks of a v4 vendor ramdisk table, each a range of the vendor ramdisk section named
 * `vendor_ramdisk/<name>` (`vendor_ramdisk/vendor_ramdiskNN` for an empty name, as AOSP's
 * unpack_bootimg numbers them; a sole unnamed entry covering the whole section is `vendor_ramdisk`). The entries must fit in the table's recorded size (already checked
 * against the image) and each ramdisk in the section: otherwise FormatError, and the caller lists the
 * section whole.
 */
function tableRamdisks(src: ByteSource, table: Section, t: NonNullable<Layout['table']>, ctx: ContainerContext): Section[] {
  const what = 'Android vendor_boot v4 ramdisk table';
  const entrySize = checked(t.entrySize, TABLE_ENTRY_MIN, TABLE_ENTRY_MAX, `${what}: vendor_ramdisk_table_entry_size`);
  const count = checked(t.entries, 0, Math.min(MAX_TABLE_ENTRIES, Math.floor(table.size / entrySize)), `${what}: vendor_ramdisk_table_entry_num`);
  const bytes = src.read(table.offset, count * entrySize);
  const out: Section[] = [];
  for (let i = 0; i < count; i++) {
    const e = i * entrySize;
    // ramdisk_size at 0, ramdisk_offset at 4 (within the section), ramdisk_type at 8, ramdisk_name[32] at 12.
    const size = u32le(bytes, e, 'Android boot image');
    const offset = u32le(bytes, e + 4, 'Android boot image');
    if (offset > t.section.size || size > t.section.size - offset) {
      throw new FormatError(`The ${what} entry ${i} covers ${size} bytes at offset ${offset}, outside the ${t.section.size}-byte vendor ramdisk section.`);
    }
    const raw = Buffer.from(bytes.subarray(e + 12, e + 12 + RAMDISK_NAME_SIZE));
    const nul = raw.indexOf(0);
    // eslint-disable-next-line no-control-regex
    const recorded = raw.toString('utf8', 0, nul < 0 ? raw.length : nul).replace(/[\u0000-\u001f\u007f]/g, '');
    // mkbootimg gives `--vendor_ramdisk` an entry with an empty name: alone and whole, it is the section.
    if (recorded === '' && count === 1 && offset === 0 && size === t.section.size) return [t.section];
    const name = recorded === '' ? `vendor_ramdisk${String(i).padStart(2, '0')}` : recorded;
    out.push({ name: `vendor_ramdisk/${name}`, offset: t.section.offset + offset, size });
  }
  // Names are judged once the whole table is known to be sound (else the section is listed whole).
  const names = new EntryNames(ctx, 'vendor ramdisk table', false);
  return out.map((e) => ({ name: names.accept(e.name, false), offset: e.offset, size: e.size }));
}

/**
 * Android boot images: boot, recovery and init_boot with header v0-v4 ('ANDROID!'), pre-v1 Qualcomm
 * images with a dt_size, and vendor_boot v3/v4 ('VNDRBOOT'). Every section is a slice of the image:
 * `kernel`, `ramdisk`, `second`, `recovery_dtbo`, `dtb` (`dt`), `signature` (v4 boot signature),
 * `bootconfig`, and the vendor ramdisks (`vendor_ramdisk/<name>` from a v4 table, else
 * `vendor_ramdisk`). Empty sections are not listed. Each section's page-aligned range is checked
 * against the image size: one that runs past the end is a problem, the others are still listed.
 * Compressed ramdisks are left to the gzip and lz4 readers. Not handled: vendor headers of the MTK,
 * Samsung or ChromeOS kinds (their extra headers stay inside the slices), AVB footers (ignored).
 */
async function* bootEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const h = src.read(0, Math.min(8, src.size));
  const layout = hasMagic(h, VENDOR_MAGIC) ? vendorLayout(src) : hasMagic(h, BOOT_MAGIC) ? bootLayout(src, ctx) : undefined;
  if (layout === undefined) throw new FormatError('No Android boot image magic (ANDROID! or VNDRBOOT) at offset 0.');
  let sections = layout.sections;
  const fits = (s: Section): boolean => s.offset <= src.size && s.size <= src.size - s.offset;
  const t = layout.table;
  if (t !== undefined) {
    let ramdisks: Section[] | undefined;
    if (t.entries > 0 && fits(t.tableSection) && fits(t.section)) {
      try {
        ramdisks = tableRamdisks(src, t.tableSection, t, ctx);
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        ctx.problem({ severity: 'error', code: 'format', message: `${err.message} The vendor ramdisk section is listed whole.` });
        ramdisks = undefined;
      }
    }
    // With a table, its ramdisks replace the concatenation; the table itself is not a member.
    sections = sections.flatMap((s) => (s.name === 'vendor_ramdisk' && ramdisks !== undefined ? ramdisks : s.name === 'vendor_ramdisk_table' ? [] : [s]));
  }
  for (const s of sections) {
    if (s.size === 0) continue;
    if (!fits(s)) {
      ctx.problem({
        path: s.name,
        severity: 'error',
        code: 'truncated',
        message: `The ${layout.what} section ${s.name} (${s.size} bytes at offset ${s.offset}) runs past the end of the ${src.size}-byte image; not listed.`,
      });
      continue;
    }
    yield { path: s.name, type: 'file', size: s.size, open: () => Promise.resolve(new SliceSource(src, s.offset, s.size)) };
  }
}

/** Android boot, recovery, init_boot and vendor_boot images; sections are slices of the image. */
export const androidBoot: ContainerReader = {
  id: 'android-boot',
  description: 'Android boot, recovery, init_boot (header v0-v4) and vendor_boot (v3/v4) images; sections and vendor ramdisks as slices',
  kind: 'partitions',
  extensions: ['.img'],
  signatures: [
    { offset: 0, magic: 'ANDROID!', note: 'boot image header' },
    { offset: 0, magic: 'VNDRBOOT', note: 'vendor_boot image header' },
  ],
  match(probe: Probe): boolean {
    const h = probe.head;
    if (h.length < 44) return false;
    // 'VNDRBOOT': any version, so that an unknown one is reported rather than ignored.
    if (hasMagic(h, VENDOR_MAGIC)) return true;
    return hasMagic(h, BOOT_MAGIC);
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return bootEntries(src, ctx);
  },
};
