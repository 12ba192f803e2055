import { androidBoot } from './android-boot.js';
import { androidSparse } from './android-sparse.js';
import { asar } from './asar.js';
import { bzip2 } from './bzip2.js';
import { cpio } from './cpio.js';
import { erofs } from './erofs/index.js';
import { ext4 } from './ext4/index.js';
import { gpt } from './gpt.js';
import { gzip } from './gzip.js';
import { iso9660 } from './iso9660.js';
import { lz4 } from './lz4.js';
import { mbr } from './mbr.js';
import { otaBlockImage } from './ota-block-image.js';
import { otaPayload } from './ota-payload/index.js';
import { rockchip } from './rockchip.js';
import { squashfs } from './squashfs/index.js';
import { superImage } from './super.js';
import { tar } from './tar.js';
import type { ContainerReader } from './types.js';
import { unsupported } from './unsupported.js';
import { xz } from './xz.js';
import { zip } from './zip.js';
import { zstd } from './zstd.js';

/**
 * Container readers in priority order: the first whose `match` accepts an item opens it. Formats with
 * a fixed magic at offset 0 come first; then those found at other offsets (a super image's first
 * 4096 bytes are zeros; a hybrid ISO also carries an MBR and often a GPT, so ISO comes before both);
 * then structural matches (tar, GPT before MBR, whose 0x55AA signature is the weakest); last, the
 * formats recognised only to say they were not scanned.
 */
export const containers: readonly ContainerReader[] = [
  otaBlockImage, // '<x>.new.dat[.br]' by name, with its sibling '<x>.transfer.list' (raw blocks: no magic of its own)
  zip, // 'PK\x03\x04' (or 'PK\x05\x06' empty) at 0
  otaPayload, // 'CrAU' + format version 1 or 2
  gzip, // 1f 8b 08
  xz, // FD 37 7A 58 5A 00
  zstd, // 28 B5 2F FD
  bzip2, // 'BZh1'-'BZh9' + block magic 31 41 59 26 53 59
  lz4, // 04 22 4D 18 (frame) or 02 21 4C 18 (legacy, kernel ramdisks)
  androidSparse, // 3A FF 26 ED at 0
  androidBoot, // 'ANDROID!' or 'VNDRBOOT' at 0
  squashfs, // 'hsqs' (or big-endian 'sqsh', reported unsupported) with a version at 28
  rockchip, // 'RKFW' or 'RKAF' at 0
  asar, // Chromium Pickle header: u32 4, then sizes, then '{"files":'
  superImage, // LP geometry magic 'gDla' at 4096
  erofs, // 0xE0F5E1E2 at 1024 with a plausible block size
  ext4, // s_magic 0xEF53 at 1080 plus a plausible superblock (before mbr: boot code may end in 0x55AA)
  iso9660, // 'CD001' at 32769
  cpio, // '070701', '070702', '070707' or binary 0x71C7 with a printable name
  tar, // 'ustar' at 257, or a valid v7 header checksum
  gpt, // 'EFI PART' at LBA 1 (512 or 4096-byte sectors)
  mbr, // plausible partition entries + 0x55AA at 510
  unsupported, // UBI, UBIFS, JFFS2, CramFS, RomFS, F2FS, LUKS, vendor packages: a problem, not a walk
];
