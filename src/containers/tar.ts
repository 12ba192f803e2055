import { Header, Pax, type HeaderData } from 'tar';
import { UnsupportedError } from '../errors.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

const BLOCK = 512;
/** Largest pax extended header body accepted ('x', 'g'); real ones are a few hundred bytes. */
const MAX_PAX = 1024 * 1024;
/** Largest GNU long name or link body accepted ('L', 'K'); PATH_MAX is 4096. */
const MAX_LONG_NAME = 64 * 1024;
/** Old GNU sparse extension blocks accepted after one header. */
const MAX_SPARSE_EXTENSIONS = 4096;

/** Header checksum: the byte sum with the 8-byte checksum field (offset 148) counted as spaces. */
function checksumMatches(block: Uint8Array): boolean {
  const field = new TextDecoder('latin1').decode(block.subarray(148, 156)).replace(/\0.*$/s, '').trim();
  if (!/^[0-7]{1,8}$/.test(field)) return false;
  const stored = parseInt(field, 8);
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = block[i] as number;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // Some old tars summed signed chars; GNU tar accepts either.
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** A v7 header's name (offset 0, 100 bytes): printable, NUL-terminated or full, not empty. */
function plausibleV7(block: Uint8Array): boolean {
  if (block[0] === 0) return false;
  let i = 0;
  for (; i < 100 && block[i] !== 0; i++) {
    const c = block[i] as number;
    if (c < 0x20 || c === 0x7f) return false;
  }
  for (; i < 100; i++) if (block[i] !== 0) return false;
  // mode (100, 8) and size (124, 12): octal digits, spaces, NULs.
  const octal = (from: number, len: number): boolean => {
    for (let j = from; j < from + len; j++) {
      const c = block[j] as number;
      if (!(c === 0 || c === 0x20 || (c >= 0x30 && c <= 0x37))) return false;
    }
    return true;
  };
  return octal(100, 8) && octal(124, 12);
}

/** Body of a meta entry (pax or GNU long name) as UTF-8 text. */
function readText(src: ByteSource, offset: number, size: number): string {
  return Buffer.from(src.read(offset, size)).toString('utf8');
}

function entryType(typeName: string): ContainerEntry['type'] {
  switch (typeName) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
    case 'SparseFile':
      return 'file';
    case 'Directory':
    case 'GNUDumpDir':
      return 'directory';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    default:
      return 'other';
  }
}

/**
 * Walks a tar archive by 512-byte header blocks over the ByteSource: each header is decoded with
 * node-tar's `Header`, data is never read (each member is a SliceSource of the parent). Handled: v7,
 * POSIX ustar (prefix field), GNU (base-256 sizes, 'L'/'K' long names, old 'S' sparse headers whose
 * data is listed but not expanded), pax 'x'/'g' extended headers (path, linkpath, size). Links are
 * recorded, never followed. Two zero blocks end the archive and anything after them is ignored; a
 * bad checksum or a member running past the end is a problem and ends the walk. Not handled: pax
 * GNU.sparse members (listed; opening them is UnsupportedError), multi-volume continuation ('M').
 */
async function* tarEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const names = new EntryNames(ctx, 'tar', false);
  let ex: HeaderData | undefined;
  let gex: HeaderData | undefined;
  let sparsePax = false;
  let count = 0;
  let offset = 0;
  const problem = (code: 'format' | 'truncated' | 'limit', message: string): void => {
    ctx.problem({ severity: 'error', code, message });
  };
  while (offset < src.size) {
    if (offset + BLOCK > src.size) {
      const rest = src.read(offset, src.size - offset);
      if (!isZeroBlock(rest)) problem('truncated', `The tar header at offset ${offset} is cut off by the end of the ${src.size}-byte archive.`);
      return;
    }
    const block = Buffer.from(src.read(offset, BLOCK));
    if (isZeroBlock(block)) {
      // End of archive: two zero blocks (a lone one followed by the end is accepted too).
      if (offset + 2 * BLOCK > src.size || isZeroBlock(src.read(offset + BLOCK, BLOCK))) return;
      offset += BLOCK;
      // One zero block then something: GNU tar goes on reading ("A lone zero block").
      continue;
    }
    if (!checksumMatches(block)) {
      problem('format', `The tar header at offset ${offset} has an invalid checksum; the walk stops there.`);
      return;
    }
    let header: Header;
    try {
      header = new Header(block, 0, ex, gex);
    } catch (err) {
      problem('format', `The tar header at offset ${offset} cannot be decoded (${(err as Error).message}); the walk stops there.`);
      return;
    }
    const size = header.size;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      problem('format', `The tar header at offset ${offset} has an invalid size field; the walk stops there.`);
      return;
    }
    let dataStart = offset + BLOCK;
    const typeName = header.type;
    if (typeName === 'SparseFile' && block[482] !== 0) {
      // Old GNU sparse: extension blocks follow the header, each flagged at byte 504 if another follows.
      let more = true;
      for (let n = 0; more; n++) {
        if (n >= MAX_SPARSE_EXTENSIONS || dataStart + BLOCK > src.size) {
          problem('truncated', `The GNU sparse header at offset ${offset} has more extension blocks than the archive holds.`);
          return;
        }
        more = src.read(dataStart, BLOCK)[504] !== 0;
        dataStart += BLOCK;
      }
    }
    if (size > src.size - dataStart) {
      problem('truncated', `The tar member at offset ${offset} declares ${size} bytes but the archive ends ${src.size - dataStart} bytes after its header.`);
      return;
    }
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    switch (typeName) {
      case 'ExtendedHeader':
      case 'OldExtendedHeader':
      case 'GlobalExtendedHeader': {
        if (size > MAX_PAX) {
          problem('format', `The pax header at offset ${offset} is ${size} bytes, more than the ${MAX_PAX} accepted; ignored.`);
          break;
        }
        const body = readText(src, dataStart, size);
        if (typeName === 'GlobalExtendedHeader') gex = Pax.parse(body, gex, true);
        else {
          ex = Pax.parse(body, ex, false);
          if (body.includes('GNU.sparse.')) sparsePax = true;
        }
        break;
      }
      case 'NextFileHasLongPath':
      case 'OldGnuLongPath':
      case 'NextFileHasLongLinkpath': {
        if (size > MAX_LONG_NAME) {
          problem('format', `The GNU long name at offset ${offset} is ${size} bytes, more than the ${MAX_LONG_NAME} accepted; ignored.`);
          break;
        }
        const value = readText(src, dataStart, size).replace(/\0.*$/s, '');
        ex = { ...ex };
        if (typeName === 'NextFileHasLongLinkpath') ex.linkpath = value;
        else ex.path = value;
        break;
      }
      default: {
        if (++count > ctx.limits.maxEntriesPerContainer) {
          ctx.problem({
            severity: 'error',
            code: 'limit',
            message: `The tar archive has more than maxEntriesPerContainer ${ctx.limits.maxEntriesPerContainer} members; the rest are not listed.`,
          });
          return;
        }
        // node-tar's Header prepends the ustar prefix even to a pax path and reads the linkname
        // field after applying pax: the extended values win, as in GNU tar.
        const recordedPath = ex?.path ?? header.path ?? '';
        const recordedLink = ex?.linkpath ?? header.linkpath ?? '';
        const type = entryType(typeName);
        const path = names.accept(recordedPath, type === 'directory');
        const sparse = typeName === 'SparseFile' || sparsePax;
        ex = undefined;
        sparsePax = false;
        if (path === '' && type === 'directory') break; // the archive root ('./')
        if (path === '') {
          problem('format', `The tar member at offset ${offset} has an empty name; skipped.`);
          break;
        }
        // Links are recorded, never followed; whether one climbs out is judged by the scan, for every reader.
        const isLink = type === 'symlink' || type === 'hardlink';
        const at = offset;
        yield {
          path,
          type,
          size,
          ...(isLink ? { linkTarget: recordedLink } : {}),
          open: () =>
            sparse
              ? Promise.reject(
                  new UnsupportedError(`The tar member ${JSON.stringify(path)} at offset ${at} is a GNU sparse file, whose holes aibom does not expand.`),
                )
              : Promise.resolve(new SliceSource(src, dataStart, size)),
        };
      }
    }
    if (next > src.size) {
      problem('truncated', `The tar archive ends inside the padding of the member at offset ${offset}, before the next header.`);
      return;
    }
    offset = next;
  }
}

/** Tar archives (v7, ustar, GNU, pax), walked by header blocks; members are slices of the archive. */
export const tar: ContainerReader = {
  id: 'tar',
  description: 'tar archives (v7, POSIX ustar, GNU, pax), walked by headers; members are slices of the archive',
  kind: 'archive',
  // 'ustar' at 257 is not declared: v7 archives have no magic and are recognised by their header checksum
  extensions: ['.tar'],
  signatures: [],
  match(probe: Probe): boolean {
    const h = probe.head;
    if (h.length < BLOCK) return false;
    const block = h.subarray(0, BLOCK);
    // 'ustar' at offset 257, then '\0' (POSIX 'ustar\0') or ' ' (GNU 'ustar  \0').
    const ustar = h[257] === 0x75 && h[258] === 0x73 && h[259] === 0x74 && h[260] === 0x61 && h[261] === 0x72 && (h[262] === 0 || h[262] === 0x20);
    if (!checksumMatches(block)) return false;
    return ustar || plausibleV7(block);
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return tarEntries(src, ctx);
  },
};
