import { FormatError } from '../errors.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/** Longest member name accepted (namesize, NUL included); PATH_MAX is 4096. */
const MAX_NAME = 64 * 1024;
/** Longest symlink target read from a member's data. */
const MAX_LINK = 64 * 1024;
const TRAILER = 'TRAILER!!!';

// st_mode file types (the high bits of c_mode).
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

type Variant = 'newc' | 'crc' | 'odc' | 'bin-le' | 'bin-be';

/** One member header, decoded; offsets are absolute in the archive. */
interface Header {
  variant: Variant;
  /** Device and inode: newc/crc hard links share them. */
  dev: string;
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  nameStart: number;
  nameSize: number;
  dataStart: number;
  /** Where the next header starts (data plus its padding). */
  next: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Parses `len` ASCII digits of `radix` (16 or 8) at `at`; NaN when any is not a digit. */
function digits(b: Uint8Array, at: number, len: number, radix: 8 | 16): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = b[i] as number;
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (radix === 16 && c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (radix === 16 && c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return Number.NaN;
    if (d >= radix) return Number.NaN;
    v = v * radix + d;
  }
  return v;
}

/** The variant announced by the magic at the start of `b`, or undefined. */
function variantOf(b: Uint8Array): Variant | undefined {
  if (b.length >= 6 && b[0] === 0x30 && b[1] === 0x37 && b[2] === 0x30 && b[3] === 0x37 && b[4] === 0x30) {
    // '070701' newc, '070702' newc with checksum, '070707' odc (POSIX.1 portable).
    if (b[5] === 0x31) return 'newc';
    if (b[5] === 0x32) return 'crc';
    if (b[5] === 0x37) return 'odc';
    return undefined;
  }
  // Old binary: the 16-bit magic 070707 (0x71C7) in the writer's byte order.
  if (b.length >= 2 && b[0] === 0xc7 && b[1] === 0x71) return 'bin-le';
  if (b.length >= 2 && b[0] === 0x71 && b[1] === 0xc7) return 'bin-be';
  return undefined;
}

const HEADER_SIZE: Readonly<Record<Variant, number>> = { newc: 110, crc: 110, odc: 76, 'bin-le': 26, 'bin-be': 26 };

/**
 * Decodes the header at `off` and checks that its name and data lie within the archive. Throws
 * FormatError naming the field; `truncated` when the archive ends inside the member.
 */
function parseHeader(src: ByteSource, off: number): Header {
  const head = src.read(off, Math.min(110, src.size - off));
  const variant = variantOf(head);
  if (variant === undefined) throw new FormatError(`No cpio header magic at offset ${off}.`);
  const hs = HEADER_SIZE[variant];
  if (head.length < hs) throw new FormatError(`The cpio header at offset ${off} is cut off by the end of the ${src.size}-byte archive.`, 'truncated');
  let h: Omit<Header, 'nameStart' | 'dataStart' | 'next' | 'variant'>;
  let nameAlign: number;
  let dataAlign: number;
  if (variant === 'newc' || variant === 'crc') {
    // 13 fields of 8 hex digits after the magic: ino, mode, uid, gid, nlink, mtime, filesize,
    // devmajor, devminor, rdevmajor, rdevminor, namesize, check.
    const f = (i: number): number => digits(head, 6 + 8 * i, 8, 16);
    h = { ino: f(0), mode: f(1), nlink: f(4), size: f(6), dev: `${f(7)}:${f(8)}`, nameSize: f(11) };
    // Header plus name padded to 4 bytes, data padded to 4 bytes.
    nameAlign = 4;
    dataAlign = 4;
  } else if (variant === 'odc') {
    // Octal fields: dev 6, ino 6, mode 6, uid 6, gid 6, nlink 6, rdev 6, mtime 11, namesize 6, filesize 11.
    h = {
      dev: String(digits(head, 6, 6, 8)),
      ino: digits(head, 12, 6, 8),
      mode: digits(head, 18, 6, 8),
      nlink: digits(head, 36, 6, 8),
      nameSize: digits(head, 59, 6, 8),
      size: digits(head, 65, 11, 8),
    };
    nameAlign = 1;
    dataAlign = 1;
  } else {
    // 13 16-bit words: magic, dev, ino, mode, uid, gid, nlink, rdev, mtime (2), namesize, filesize (2,
    // high word first); name and data padded to 2 bytes.
    const le = variant === 'bin-le';
    const w = (i: number): number =>
      le ? (head[2 * i] as number) | ((head[2 * i + 1] as number) << 8) : ((head[2 * i] as number) << 8) | (head[2 * i + 1] as number);
    h = { dev: String(w(1)), ino: w(2), mode: w(3), nlink: w(6), nameSize: w(10), size: w(11) * 0x10000 + w(12) };
    nameAlign = 2;
    dataAlign = 2;
  }
  for (const [field, value] of Object.entries(h)) {
    if (typeof value === 'number' && Number.isNaN(value))
      throw new FormatError(`The cpio header at offset ${off} has a ${field} field that is not a ${variant === 'odc' ? 'octal' : 'hex'} number.`);
  }
  if (h.nameSize < 1 || h.nameSize > MAX_NAME) throw new FormatError(`The cpio header at offset ${off} has namesize ${h.nameSize}, outside [1, ${MAX_NAME}].`);
  const nameStart = off + hs;
  const dataStart = nameAlign === 1 ? nameStart + h.nameSize : off + align(hs + h.nameSize, nameAlign);
  if (dataStart > src.size)
    throw new FormatError(`The cpio member name at offset ${nameStart} runs past the end of the ${src.size}-byte archive.`, 'truncated');
  if (h.size > src.size - dataStart) {
    throw new FormatError(
      `The cpio member at offset ${off} declares ${h.size} bytes of data but the archive ends ${src.size - dataStart} bytes after its name.`,
      'truncated',
    );
  }
  const next = dataStart + (dataAlign === 1 ? h.size : align(h.size, dataAlign));
  return { ...h, variant, nameStart, dataStart, next: Math.min(next, src.size) };
}

function entryType(mode: number): ContainerEntry['type'] {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case 0: // very old archives recorded no file type
      return 'file';
    case S_IFDIR:
      return 'directory';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other'; // character and block devices, FIFOs, sockets
  }
}

/** Offset of the first non-zero byte at or after `from`, or `src.size`. */
function skipZeros(src: ByteSource, from: number): number {
  for (let off = from; off < src.size; off += 1024 * 1024) {
    const piece = src.read(off, Math.min(1024 * 1024, src.size - off));
    for (let i = 0; i < piece.length; i++) if (piece[i] !== 0) return off + i;
  }
  return src.size;
}

/** Hard-link group of a newc/crc archive: the member that carries the data, and those waiting for it. */
interface LinkGroup {
  holder?: string;
  waiting: { path: string; at: number }[];
}

/**
 * Walks a cpio archive header by header over the ByteSource: members are slices (never copies) of
 * the archive. Handled: newc ('070701'), crc ('070702'; its data checksum is not verified: the
 * scan hashes members anyway), odc ('070707') and old binary (0x71C7 in either byte order).
 * 'TRAILER!!!' ends an archive; zero padding and another archive after it are read on, as the Linux
 * initramfs unpacker does with concatenated ramdisks (GNU cpio stops at the first trailer). Symlinks
 * carry their target as data (read, at most 64 KiB); hard links of newc/crc, whose data GNU cpio
 * writes with the last link only, are listed as 'hardlink' members pointing at the one that has the
 * data (a group with no data at all is listed as empty files, as `cpio -i` makes them). Devices,
 * FIFOs and sockets are 'other'. A corrupt or truncated header is a problem that ends the walk.
 */
async function* cpioEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const names = new EntryNames(ctx, 'cpio', false);
  let groups = new Map<string, LinkGroup>();
  let count = 0;
  let off = 0;
  const problem = (code: 'format' | 'truncated' | 'limit', message: string, path?: string): void => {
    ctx.problem({ severity: 'error', code, message, ...(path === undefined ? {} : { path }) });
  };
  const slice =
    (start: number, size: number): (() => Promise<ByteSource>) =>
    () =>
      Promise.resolve(new SliceSource(src, start, size));
  /** Hard-link members whose data never came: empty files, as `cpio -i` leaves them. */
  function* flush(): Generator<ContainerEntry> {
    for (const g of groups.values()) {
      if (g.holder !== undefined) continue;
      for (const w of g.waiting) yield { path: w.path, type: 'file', size: 0, open: slice(w.at, 0) };
    }
    groups = new Map();
  }

  for (;;) {
    if (off >= src.size) {
      problem('truncated', `The cpio archive ends at offset ${off} without its ${TRAILER} member.`);
      break;
    }
    let h: Header;
    try {
      h = parseHeader(src, off);
    } catch (err) {
      if (off === 0 || !(err instanceof FormatError)) throw err;
      problem(err.code, `${err.message} The walk stops there.`);
      break;
    }
    const raw = Buffer.from(src.read(h.nameStart, h.nameSize));
    const nul = raw.indexOf(0);
    const recorded = raw.toString('utf8', 0, nul < 0 ? raw.length : nul);
    if (recorded === TRAILER) {
      yield* flush();
      // Another archive may follow the padding (concatenated initramfs images).
      const next = skipZeros(src, h.next);
      if (next >= src.size) return;
      if (variantOf(src.read(next, Math.min(6, src.size - next))) === undefined) {
        ctx.problem({
          severity: 'warning',
          code: 'format',
          message: `The ${src.size - next} bytes after the cpio trailer (from offset ${next}) are not a cpio archive; ignored.`,
        });
        return;
      }
      off = next;
      continue;
    }
    if (++count > ctx.limits.maxEntriesPerContainer) {
      problem('limit', `The cpio archive has more than maxEntriesPerContainer ${ctx.limits.maxEntriesPerContainer} members; the rest are not listed.`);
      return;
    }
    const at = off;
    off = h.next;
    const type = entryType(h.mode);
    if (recorded === '.' || recorded === './') continue; // the archive root
    const path = names.accept(recorded, type === 'directory');
    if (path === '') {
      problem('format', `The cpio member at offset ${at} has an empty name; skipped.`);
      continue;
    }
    if (type === 'symlink') {
      if (h.size > MAX_LINK) {
        problem('format', `The cpio symlink at offset ${at} has a ${h.size}-byte target, more than the ${MAX_LINK} accepted; listed without it.`, path);
        yield { path, type, size: h.size, open: slice(h.dataStart, h.size) };
      } else {
        const linkTarget = Buffer.from(src.read(h.dataStart, h.size)).toString('utf8');
        yield { path, type, size: h.size, linkTarget, open: slice(h.dataStart, h.size) };
      }
      continue;
    }
    if (type === 'file' && h.nlink > 1 && (h.variant === 'newc' || h.variant === 'crc')) {
      // newc hard links: same device and inode; the data travels with one of them (GNU cpio: the last).
      const key = `${h.dev}:${h.ino}`;
      let g = groups.get(key);
      if (g === undefined) {
        g = { waiting: [] };
        groups.set(key, g);
      }
      if (g.holder !== undefined && h.size === 0) {
        yield { path, type: 'hardlink', linkTarget: g.holder, open: slice(h.dataStart, 0) };
        continue;
      }
      if (g.holder === undefined && h.size === 0) {
        g.waiting.push({ path, at: h.dataStart });
        continue;
      }
      yield { path, type: 'file', size: h.size, open: slice(h.dataStart, h.size) };
      if (g.holder === undefined) {
        g.holder = path;
        for (const w of g.waiting) yield { path: w.path, type: 'hardlink', linkTarget: path, open: slice(w.at, 0) };
        g.waiting = [];
      }
      continue;
    }
    yield { path, type, size: type === 'file' ? h.size : 0, open: slice(h.dataStart, type === 'file' ? h.size : 0) };
  }
  yield* flush();
}

/**
 * cpio archives (newc, crc, odc, old binary in both byte orders), walked by headers; members are
 * slices of the archive. See `cpioEntries` for what is and is not handled.
 */
export const cpio: ContainerReader = {
  id: 'cpio',
  description: 'cpio archives (newc, crc, odc, old binary), walked by headers, concatenated archives read on; members are slices',
  kind: 'archive',
  extensions: ['.cpio'],
  signatures: [
    { offset: 0, magic: '070701', note: 'newc' },
    { offset: 0, magic: '070702', note: 'newc with checksums' },
    { offset: 0, magic: '070707', note: 'odc (POSIX.1 portable)' },
    { offset: 0, magic: [0xc7, 0x71], note: 'old binary, little-endian' },
    { offset: 0, magic: [0x71, 0xc7], note: 'old binary, big-endian' },
  ],
  match(probe: Probe): boolean {
    const h = probe.head;
    const variant = variantOf(h);
    if (variant === undefined) return false;
    const hs = HEADER_SIZE[variant];
    if (h.length < hs) return false;
    if (variant === 'newc' || variant === 'crc') {
      for (let i = 0; i < 13; i++) if (Number.isNaN(digits(h, 6 + 8 * i, 8, 16))) return false;
      return true;
    }
    if (variant === 'odc') return !Number.isNaN(digits(h, 6, 70, 8));
    // Old binary: a two-byte magic is weak, so the name must be there, NUL-terminated and printable.
    const le = variant === 'bin-le';
    const nameSize = le ? (h[20] as number) | ((h[21] as number) << 8) : ((h[20] as number) << 8) | (h[21] as number);
    if (nameSize < 2 || nameSize > 4096 || h.length < 26 + nameSize || h[26 + nameSize - 1] !== 0) return false;
    for (let i = 26; i < 26 + nameSize - 1; i++) if ((h[i] as number) < 0x20 || h[i] === 0x7f) return false;
    return true;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return cpioEntries(src, ctx);
  },
};
