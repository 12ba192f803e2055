/**
 * Writes Android boot and vendor_boot images for tests, from the structures of AOSP
 * system/tools/mkbootimg include/bootimg/bootimg.h, independently of src/containers/android-boot.ts.
 * Debian's mkbootimg (29.0.6) stops at header v3 and vendor_boot v3; this builder covers boot v4
 * (with a boot signature section), init_boot (v4 without a kernel) and vendor_boot v4 with a ramdisk
 * table and bootconfig, and v1/v2 images with a recovery DTBO (Debian's mkbootimg 29 fails on
 * `--recovery_dtbo` under Python 3), laid out as AOSP's mkbootimg.py lays them out: checked byte for
 * byte against it when written, apart from the v0-v2 `id` (sha1) field, left zero here (see
 * fixtures/android-boot/README.md).
 *
 *   bootImage({ version: 4, kernel, ramdisk, signature })
 *   vendorBootImage({ version: 4, pageSize: 4096, ramdisks: [{ name: 'dlkm', type: 3, data }], dtb, bootconfig })
 */

const pad = (n: number, page: number): number => Math.ceil(n / page) * page;

function put(out: Buffer, at: number, s: string, size: number): void {
  Buffer.from(s, 'latin1').subarray(0, size).copy(out, at);
}

/** Concatenates `parts`, each padded to whole pages, after a header padded the same way. */
function assemble(header: Buffer, parts: readonly Uint8Array[], page: number): Buffer {
  const total = pad(header.length, page) + parts.reduce((n, p) => n + pad(p.length, page), 0);
  const out = Buffer.alloc(total);
  header.copy(out, 0);
  let at = pad(header.length, page);
  for (const p of parts) {
    out.set(p, at);
    at += pad(p.length, page);
  }
  return out;
}

export interface BootImageSpec {
  version: 0 | 1 | 2 | 3 | 4;
  kernel?: Uint8Array;
  ramdisk?: Uint8Array;
  /** v0-v2 only. */
  second?: Uint8Array;
  /** v1-v2 only. */
  recoveryDtbo?: Uint8Array;
  /** v2 only. */
  dtb?: Uint8Array;
  /** v4 only: the boot signature section. */
  signature?: Uint8Array;
  /** v0-v2 page size (v3/v4 use 4096). */
  pageSize?: number;
  cmdline?: string;
  board?: string;
}

const EMPTY = new Uint8Array(0);

/** A boot (or recovery, init_boot) image, header v0 to v4. */
export function bootImage(spec: BootImageSpec): Buffer {
  const kernel = spec.kernel ?? EMPTY;
  const ramdisk = spec.ramdisk ?? EMPTY;
  if (spec.version >= 3) {
    // boot_img_hdr_v3/v4: magic, kernel_size, ramdisk_size, os_version, header_size, reserved[4],
    // header_version, cmdline[1536] (v4: signature_size).
    const size = spec.version === 4 ? 1584 : 1580;
    const h = Buffer.alloc(size);
    put(h, 0, 'ANDROID!', 8);
    h.writeUInt32LE(kernel.length, 8);
    h.writeUInt32LE(ramdisk.length, 12);
    h.writeUInt32LE((12 << 25) | ((2023 - 2000) << 4) | 5, 16);
    h.writeUInt32LE(size, 20);
    h.writeUInt32LE(spec.version, 40);
    put(h, 44, spec.cmdline ?? '', 1536);
    const parts = [kernel, ramdisk];
    if (spec.version === 4) {
      const sig = spec.signature ?? EMPTY;
      h.writeUInt32LE(sig.length, 1580);
      parts.push(sig);
    }
    return assemble(h, parts, 4096);
  }
  const page = spec.pageSize ?? 2048;
  const second = spec.second ?? EMPTY;
  const dtbo = spec.recoveryDtbo ?? EMPTY;
  const dtb = spec.dtb ?? EMPTY;
  const size = spec.version === 0 ? 1632 : spec.version === 1 ? 1648 : 1660;
  const h = Buffer.alloc(size);
  put(h, 0, 'ANDROID!', 8);
  const base = 0x10000000;
  h.writeUInt32LE(kernel.length, 8);
  h.writeUInt32LE(base + 0x8000, 12);
  // Load addresses of absent sections are 0, as mkbootimg writes them; the id (sha1) field stays zero.
  h.writeUInt32LE(ramdisk.length, 16);
  h.writeUInt32LE(ramdisk.length === 0 ? 0 : base + 0x1000000, 20);
  h.writeUInt32LE(second.length, 24);
  h.writeUInt32LE(second.length === 0 ? 0 : base + 0xf00000, 28);
  h.writeUInt32LE(base + 0x100, 32);
  h.writeUInt32LE(page, 36);
  h.writeUInt32LE(spec.version, 40);
  put(h, 48, spec.board ?? '', 16);
  put(h, 64, spec.cmdline ?? '', 512);
  const parts = [kernel, ramdisk, second];
  if (spec.version >= 1) {
    h.writeUInt32LE(dtbo.length, 1632);
    const offset = dtbo.length === 0 ? 0 : page + pad(kernel.length, page) + pad(ramdisk.length, page) + pad(second.length, page);
    h.writeBigUInt64LE(BigInt(offset), 1636);
    h.writeUInt32LE(size, 1644);
    parts.push(dtbo);
  }
  if (spec.version === 2) {
    h.writeUInt32LE(dtb.length, 1648);
    h.writeBigUInt64LE(BigInt(base + 0x1f00000), 1652);
    parts.push(dtb);
  }
  return assemble(h, parts, page);
}

export interface VendorRamdisk {
  name: string;
  /** VENDOR_RAMDISK_TYPE_*: 0 none, 1 platform, 2 recovery, 3 dlkm. */
  type?: number;
  data: Uint8Array;
}

export interface VendorBootSpec {
  version: 3 | 4;
  pageSize?: number;
  /** v3: exactly one (its name is ignored); v4: one table entry each. */
  ramdisks: readonly VendorRamdisk[];
  dtb?: Uint8Array;
  /** v4 only. */
  bootconfig?: Uint8Array;
  cmdline?: string;
  board?: string;
}

/** A vendor_boot image, header v3 or v4 (with its vendor ramdisk table). */
export function vendorBootImage(spec: VendorBootSpec): Buffer {
  const page = spec.pageSize ?? 2048;
  const size = spec.version === 4 ? 2128 : 2112;
  const section = Buffer.concat(spec.ramdisks.map((r) => r.data));
  const dtb = spec.dtb ?? Buffer.from('dtb');
  const h = Buffer.alloc(size);
  // vendor_boot_img_hdr_v3/v4: magic, header_version, page_size, kernel_addr, ramdisk_addr,
  // vendor_ramdisk_size, cmdline[2048], tags_addr, name[16], header_size, dtb_size, dtb_addr (u64);
  // v4: vendor_ramdisk_table_size, _entry_num, _entry_size, bootconfig_size.
  put(h, 0, 'VNDRBOOT', 8);
  h.writeUInt32LE(spec.version, 8);
  h.writeUInt32LE(page, 12);
  h.writeUInt32LE(0x10008000, 16);
  h.writeUInt32LE(0x11000000, 20);
  h.writeUInt32LE(section.length, 24);
  put(h, 28, spec.cmdline ?? '', 2048);
  h.writeUInt32LE(0x10000100, 2076);
  put(h, 2080, spec.board ?? '', 16);
  h.writeUInt32LE(size, 2096);
  h.writeUInt32LE(dtb.length, 2100);
  h.writeBigUInt64LE(0x11f00000n, 2104);
  if (spec.version === 3) return assemble(h, [section, dtb], page);
  const entry = 108;
  const table = Buffer.alloc(spec.ramdisks.length * entry);
  let offset = 0;
  spec.ramdisks.forEach((r, i) => {
    // vendor_ramdisk_table_entry_v4: ramdisk_size, ramdisk_offset, ramdisk_type, ramdisk_name[32], board_id[16].
    table.writeUInt32LE(r.data.length, i * entry);
    table.writeUInt32LE(offset, i * entry + 4);
    table.writeUInt32LE(r.type ?? 1, i * entry + 8);
    put(table, i * entry + 12, r.name, 32);
    offset += r.data.length;
  });
  const bootconfig = spec.bootconfig ?? EMPTY;
  h.writeUInt32LE(table.length, 2112);
  h.writeUInt32LE(spec.ramdisks.length, 2116);
  h.writeUInt32LE(entry, 2120);
  h.writeUInt32LE(bootconfig.length, 2124);
  return assemble(h, [section, dtb, table, bootconfig], page);
}
