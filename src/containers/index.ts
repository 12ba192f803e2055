import { androidSparse } from './android-sparse.js';
import { bzip2 } from './bzip2.js';
import { gzip } from './gzip.js';
import { superImage } from './super.js';
import { tar } from './tar.js';
import type { ContainerReader } from './types.js';
import { xz } from './xz.js';
import { zip } from './zip.js';
import { zstd } from './zstd.js';

/**
 * Container readers in priority order: the first whose `match` accepts an item opens it. Formats with
 * a fixed magic at offset 0 come before those found at other offsets or by structure.
 */
export const containers: readonly ContainerReader[] = [
  zip, // 'PK\x03\x04' (or 'PK\x05\x06' empty) at 0
  gzip, // 1f 8b 08
  xz, // FD 37 7A 58 5A 00
  zstd, // 28 B5 2F FD
  bzip2, // 'BZh1'-'BZh9' + block magic 31 41 59 26 53 59
  androidSparse, // 3A FF 26 ED at 0
  superImage, // LP geometry magic 'gDla' at 4096 (the first 4096 bytes are zeros)
  tar, // 'ustar' at 257, or a valid v7 header checksum: structure, not a magic at 0
];
