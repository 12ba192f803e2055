import { AibomError, FormatError, UnsupportedError, describeError } from '../../errors.js';
import { u16le, u32le } from '../../io/binary.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { Probe } from '../../probe.js';
import {
  ExtVolume,
  FLAG_ENCRYPT,
  I_BLOCK_SIZE,
  INCOMPAT_RECOVER,
  ROOT_INO,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  looksLikeExt,
  type HoleBudget,
  type Inode,
} from './ext4-volume.js';
import { EntryNames } from '../entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from '../types.js';

/** Deepest directory nesting followed; Linux has no limit, but real trees stay far below. */
export const MAX_DIR_DEPTH = 256;
/** Longest symlink target read: PATH_MAX is 4096; a slow symlink is one block. */
const MAX_LINK_TARGET = 64 * 1024;

/** One name in a directory, before its inode is read. */
interface DirChild {
  readonly name: Uint8Array;
  readonly ino: number;
}

/** A directory being listed: its children in byte order of their names, and the next one to yield. */
interface Frame {
  readonly prefix: string;
  readonly depth: number;
  readonly children: DirChild[];
  next: number;
}

/** State shared by one walk: the bounds that keep a hostile image from looping or exploding. */
interface Walk {
  readonly vol: ExtVolume;
  readonly ctx: ContainerContext;
  /** Most names collected and yielded: the orchestrator stops at the same count. */
  readonly maxEntries: number;
  /** Names collected so far in directories still being walked plus those yielded. */
  collected: number;
  /** Directory blocks read so far; a sound file system cannot have more than s_blocks_count. */
  dirBlocks: number;
  /** The entry limit was reported (once). */
  limitReported: boolean;
}

/** Records a problem about `path` (the root directory, '', and the image itself have none). */
function problem(
  w: Walk,
  path: string | undefined,
  code: 'format' | 'truncated' | 'limit' | 'encrypted',
  message: string,
  severity: 'error' | 'warning' = 'error',
): void {
  w.ctx.problem({ ...(path ? { path } : {}), severity, code, message });
}

/** Records anything thrown while reading one item; aibom's own errors keep their code. */
function problemFrom(w: Walk, path: string, err: unknown): void {
  if (!(err instanceof AibomError)) throw err;
  const { code, message } = describeError(err);
  w.ctx.problem({ ...(path ? { path } : {}), severity: 'error', code, message });
}

/** rec_len as stored: values of 65536 and above are folded into the low bits (64 KiB blocks only). */
function recLen(raw: number, blockSize: number): number {
  if (blockSize < 65536) return raw;
  if (raw === 65535 || raw === 0) return blockSize;
  return (raw & 65532) | ((raw & 3) << 16);
}

/**
 * Parses linear directory entries in `buf[start, end)`: inode u32, rec_len u16, name_len u8 and
 * file_type u8 (or name_len u16 without the filetype feature), then the name. Entries with inode 0
 * are unused space: htree index blocks (a fake entry spanning the block), the dx_root hidden in the
 * '..' entry's rec_len, and metadata_csum tails all read as such, so an indexed directory lists
 * the same as a linear one. A rec_len that breaks the block ends this block's listing with a problem.
 */
function parseEntries(w: Walk, buf: Uint8Array, start: number, end: number, where: string, path: string, out: DirChild[]): void {
  const filetype = w.vol.hasFiletype;
  for (let at = start; at + 8 <= end; ) {
    const ino = u32le(buf, at, 'ext4 image');
    const len = recLen(u16le(buf, at + 4, 'ext4 image'), w.vol.sb.blockSize);
    const nameLen = filetype ? (buf[at + 6] as number) : u16le(buf, at + 6, 'ext4 image');
    if (len < 8 || len % 4 !== 0 || at + len > end || 8 + nameLen > len) {
      problem(
        w,
        path,
        'format',
        `Invalid ext4 directory ${JSON.stringify(path || '/')}: the entry at byte ${at - start} of ${where} has rec_len ${len} and name_len ${nameLen}; the rest of that block is skipped.`,
      );
      return;
    }
    if (ino !== 0 && nameLen > 0) {
      const name = buf.subarray(at + 8, at + 8 + nameLen);
      const dot = nameLen <= 2 && name[0] === 0x2e && (nameLen === 1 || name[1] === 0x2e);
      if (!dot) {
        if (w.collected >= w.maxEntries) {
          if (!w.limitReported) {
            w.limitReported = true;
            problem(w, path, 'limit', `The ext4 file system has more than maxEntriesPerContainer ${w.maxEntries} names; the rest are not listed.`);
          }
          return;
        }
        w.collected++;
        out.push({ name: Uint8Array.prototype.slice.call(name), ino });
      }
    }
    at += len;
  }
}

/** Lists a directory's names (not '.' and '..'), sorted by their bytes. Errors become problems. */
function listDirectory(w: Walk, dir: Inode, path: string): DirChild[] {
  const out: DirChild[] = [];
  const vol = w.vol;
  const label = JSON.stringify(path || '/');
  try {
    if (vol.isInline(dir)) {
      // Inline directory: i_block starts with the parent's inode number (4 bytes, the '..' entry),
      // then entries up to byte 60; the system.data value holds more entries.
      parseEntries(w, dir.iblock, 4, I_BLOCK_SIZE, 'the inline area', path, out);
      const tail = vol.inlineTail(dir);
      if (tail.length > 0) parseEntries(w, vol.src.read(tail.offset, tail.length), 0, tail.length, 'the system.data area', path, out);
    } else {
      const bs = vol.sb.blockSize;
      const nBlocks = Math.ceil(dir.size / bs);
      for (const r of vol.runs(dir, nBlocks, `directory ${label}`)) {
        if (r.uninit) continue;
        for (let i = 0; i < r.count && !w.limitReported; i++) {
          if (++w.dirBlocks > vol.sb.blocksCount) {
            throw new FormatError(
              `Invalid ext4 image: directories span more than the ${vol.sb.blocksCount} blocks of the file system (cross-linked directories).`,
            );
          }
          parseEntries(w, vol.readBlock(r.physical + i, `directory ${label}`), 0, bs, `logical block ${r.logical + i}`, path, out);
        }
      }
    }
  } catch (err) {
    problemFrom(w, path, err);
  }
  return out.sort((a, b) => Buffer.compare(a.name, b.name));
}

/** A symlink's target: fast symlinks keep it in i_block, slow ones in a block, some inline. */
function linkTarget(vol: ExtVolume, inode: Inode, what: string): string {
  const size = inode.size;
  if (size > MAX_LINK_TARGET) throw new FormatError(`Invalid ext4 image: ${what} has a ${size}-byte target, more than ${MAX_LINK_TARGET}.`);
  // A fast symlink (target < 60 bytes, no data blocks) keeps the target in i_block. The kernel
  // decides by i_blocks; an extent-mapped one carries the extent magic 0xF30A.
  const fast =
    !vol.isInline(inode) && size < I_BLOCK_SIZE && (inode.blocksLo === 0 || !(vol.usesExtents(inode) && u16le(inode.iblock, 0, 'ext4 image') === 0xf30a));
  const bytes = fast ? inode.iblock.subarray(0, size) : vol.open(inode, what).read(0, size);
  return Buffer.from(bytes).toString('utf8');
}

/** The walk behind `ext4.entries`; see `ext4` for what it covers. */
async function* extEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const vol = new ExtVolume(src);
  const { sb } = vol;
  const w: Walk = { vol, ctx, maxEntries: ctx.limits.maxEntriesPerContainer, collected: 0, dirBlocks: 0, limitReported: false };
  if (sb.incompat & INCOMPAT_RECOVER) {
    problem(
      w,
      undefined,
      'format',
      'The ext4 journal needs recovery (incompat 0x4): the file system is read as is, and its latest changes may be missing.',
      'warning',
    );
  }
  if (sb.blocksCount * sb.blockSize > src.size) {
    problem(
      w,
      undefined,
      'truncated',
      `Truncated ext4 image: the file system spans ${sb.blocksCount * sb.blockSize} bytes but the image has ${src.size}; files past the end cannot be read.`,
    );
  }
  const root = vol.readInode(ROOT_INO);
  if ((root.mode & S_IFMT) !== S_IFDIR) throw new FormatError(`Invalid ext4 image: the root inode 2 has mode 0o${root.mode.toString(8)}, not a directory.`);
  if (root.flags & FLAG_ENCRYPT) throw new UnsupportedError('The ext4 root directory is encrypted (fscrypt): the file system was not scanned.', 'encrypted');
  const names = new EntryNames(ctx, 'ext4', false);
  const visited = new Set<number>([ROOT_INO]);
  const stack: Frame[] = [{ prefix: '', depth: 1, children: listDirectory(w, root, ''), next: 0 }];
  const identityBase = src.identity === undefined ? undefined : `${src.identity}!ext4:`;
  // Holes are produced bytes, like decompressed ones: the same limit bounds them per file system.
  const holes: HoleBudget = { left: ctx.limits.maxDecompressedBytes, max: ctx.limits.maxDecompressedBytes, limit: 'maxDecompressedBytes' };

  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const child = frame.children[frame.next++];
    if (child === undefined) {
      stack.pop();
      continue;
    }
    const name = Buffer.from(child.name).toString('utf8');
    const recorded = frame.prefix + name;
    if (name.includes('/') || name.includes('\0')) {
      problem(w, recorded, 'format', `Invalid ext4 directory entry name ${JSON.stringify(name)}: it contains '/' or NUL; listed as recorded.`, 'warning');
    }
    let inode: Inode;
    try {
      inode = vol.readInode(child.ino);
    } catch (err) {
      problemFrom(w, recorded, err);
      continue;
    }
    const type = inode.mode & S_IFMT;
    if (inode.mode === 0) {
      problem(w, recorded, 'format', `Invalid ext4 image: ${JSON.stringify(recorded)} names inode ${child.ino}, which is not in use (i_mode 0).`);
      continue;
    }
    const path = names.accept(recorded, type === S_IFDIR);
    const what = `file ${JSON.stringify(path)}`;
    const encrypted = (inode.flags & FLAG_ENCRYPT) !== 0;

    if (type === S_IFDIR) {
      yield { path, type: 'directory', open: () => Promise.reject(new FormatError(`${JSON.stringify(path)} is a directory.`)) };
      if (visited.has(child.ino)) {
        problem(
          w,
          path,
          'format',
          `Invalid ext4 image: directory ${JSON.stringify(path)} is inode ${child.ino}, already visited (a directory loop); not followed.`,
          'warning',
        );
        continue;
      }
      if (frame.depth >= MAX_DIR_DEPTH) {
        problem(w, path, 'limit', `The ext4 directory ${JSON.stringify(path)} is nested deeper than ${MAX_DIR_DEPTH} levels; its content is not listed.`);
        continue;
      }
      if (encrypted) {
        problem(w, path, 'encrypted', `The ext4 directory ${JSON.stringify(path)} is encrypted (fscrypt): its names and files were not scanned.`);
        continue;
      }
      visited.add(child.ino);
      stack.push({ prefix: `${path}/`, depth: frame.depth + 1, children: listDirectory(w, inode, path), next: 0 });
    } else if (type === S_IFREG) {
      const identity = identityBase === undefined ? undefined : `${identityBase}${child.ino}`;
      yield {
        path,
        type: 'file',
        size: inode.size,
        open: () => {
          if (encrypted)
            return Promise.reject(new UnsupportedError(`The ext4 file ${JSON.stringify(path)} is encrypted (fscrypt): it was not scanned.`, 'encrypted'));
          try {
            return Promise.resolve(vol.open(inode, what, identity, holes));
          } catch (err) {
            return Promise.reject(err);
          }
        },
      };
    } else if (type === S_IFLNK) {
      let target: string | undefined;
      if (encrypted) problem(w, path, 'encrypted', `The ext4 symlink ${JSON.stringify(path)} is encrypted (fscrypt): its target is unknown.`);
      else {
        try {
          target = linkTarget(vol, inode, `symlink ${JSON.stringify(path)}`);
        } catch (err) {
          problemFrom(w, path, err);
        }
      }
      yield {
        path,
        type: 'symlink',
        ...(target === undefined ? {} : { linkTarget: target }),
        open: () => Promise.reject(new FormatError(`${JSON.stringify(path)} is a symlink.`)),
      };
    } else {
      // Character and block devices, FIFOs, sockets (and unknown types): no content.
      yield { path, type: 'other', open: () => Promise.reject(new FormatError(`${JSON.stringify(path)} is not a regular file.`)) };
    }
  }
}

/**
 * ext2, ext3 and ext4 file systems, matched by s_magic 0xEF53 at byte 1080 and a plausible
 * superblock. `entries` walks them from the root directory (inode 2), depth first, each
 * directory's names in byte order (deterministic whatever the htree hash seed), paths without a
 * leading '/'; htree directories are read linearly (their index blocks are unused entries). Regular files open as ExtentSources over the image (holes and uninitialized extents
 * are zeros); symlinks carry their target; hardlinks are plain files under each name (same
 * identity, so hashed once); devices, FIFOs and sockets are 'other'. Files with the fscrypt flag
 * are listed and fail to open with an 'encrypted' error; encrypted directories are not entered.
 * Bounded: directory inodes are visited once (a loop is a problem, not followed), depth at most
 * MAX_DIR_DEPTH, names at most maxEntriesPerContainer, directory blocks at most s_blocks_count,
 * bytes of holes in opened files at most maxDecompressedBytes (a LimitError for the file that
 * passes it: holes are free on disk but hashed and scanned like decompressed bytes).
 * Not read: the journal (a file system needing recovery is read as is, with a warning), orphan
 * lists, extended attributes other than `system.data`, checksums (never verified). Refused with
 * UnsupportedError: external journal devices, the old ext2 compression and Lustre dirdata
 * features, unknown incompatible features. A partition table around the file system is not
 * looked for: partitions come sliced by their own readers.
 */
export const ext4: ContainerReader = {
  id: 'ext4',
  description: 'ext2/ext3/ext4 file systems (extents, block maps, inline data, htree directories); files are extents of the image',
  kind: 'filesystem',
  extensions: ['.ext2', '.ext3', '.ext4', '.img'],
  signatures: [{ offset: 1080, magic: [0x53, 0xef], note: 's_magic 0xEF53 (ext2, ext3 and ext4)' }],
  match(probe: Probe): boolean {
    return looksLikeExt(probe.head);
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return extEntries(src, ctx);
  },
};
