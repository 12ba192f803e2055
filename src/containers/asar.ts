import { posix } from 'node:path';
import { FormatError } from '../errors.js';
import { u32le } from '../io/binary.js';
import { SliceSource, type ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { EntryNames } from './entry-names.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/*
 * Layout (@electron/asar, Chromium Pickle): all integers little-endian u32.
 *   0  4 (payload size of the first pickle)   4  header pickle size S
 *   8  header pickle: payload size (S - 4), JSON length L, L bytes of UTF-8 JSON, padding to 4
 *   8 + S  file data; a file's bytes are at 8 + S + its "offset" (a decimal string: it may pass 2^32).
 * JSON: {"files": {name: {"files": {...}} | {"size", "offset", "unpacked"?, "executable"?, "integrity"?} | {"link"}}}
 */
/** Largest header accepted: the JSON of an app with 100,000 files is about 10 MiB. */
const MAX_HEADER = 64 * 1024 * 1024;
/** Directory nesting followed. */
const MAX_DEPTH = 256;

/** The pickle framing checks of the first 16 bytes; returns the header pickle size and JSON length. */
function framing(h: Uint8Array): { headerSize: number; jsonLength: number } | undefined {
  if (h.length < 16 || u32le(h, 0, 'asar header') !== 4) return undefined;
  const headerSize = u32le(h, 4, 'asar header');
  const payload = u32le(h, 8, 'asar header');
  const jsonLength = u32le(h, 12, 'asar header');
  // The pickle's payload is its size less the 4-byte payload field, and holds the string length,
  // the string and up to 3 bytes of padding.
  if (payload !== headerSize - 4 || jsonLength + 4 > payload || payload - 4 - jsonLength > 3) return undefined;
  return { headerSize, jsonLength };
}

type Node = Record<string, unknown>;

/**
 * An asar link target is recorded relative to the archive root (`node_modules/tool/cli.js` for
 * `node_modules/.bin/tool`); as a symlink it is relative to the link's folder (`../tool/cli.js`),
 * which is what `asar extract` writes and what the scan's escape check expects. A target that climbs
 * out of the root keeps its climb; an absolute one is kept as recorded.
 */
function linkFromFolder(linkPath: string, target: string): string {
  if (target.startsWith('/')) return target;
  const dir = posix.dirname(linkPath);
  const up = dir === '.' ? 0 : dir.split('/').length;
  const norm = posix.normalize(target);
  if (norm === '..' || norm.startsWith('../')) return '../'.repeat(up) + target;
  // Both anchored at '/', so that no working directory is involved.
  return posix.relative(`/${dir === '.' ? '' : dir}`, `/${norm}`) || '.';
}

function isObject(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Electron app.asar archives: the pickled JSON header is size-checked before it is read and parsed,
 * the tree is walked iteratively with a depth bound and the entry limit, and each file is a slice of
 * the archive at 8 + header size + offset. Links (`{"link"}`, recorded relative to the archive root)
 * are symlinks whose target is made relative to their folder, as `asar extract` writes them. Files
 * marked `"unpacked": true` are not inside the archive: they live in the `app.asar.unpacked/` folder
 * beside it (native .node modules, runtime .so files), which the scan reads as ordinary files; they
 * are listed as `other` with their declared size, and one info problem per archive counts them.
 * Not handled: integrity hashes (not verified).
 */
async function* asarEntries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
  const f = framing(src.read(0, Math.min(16, src.size)));
  if (f === undefined) throw new FormatError('Invalid asar: the header pickle sizes at offsets 0-15 are inconsistent.', src.size < 16 ? 'truncated' : 'format');
  if (f.headerSize > MAX_HEADER) throw new FormatError(`Invalid asar: header size ${f.headerSize} exceeds ${MAX_HEADER} bytes.`);
  const dataStart = 8 + f.headerSize;
  if (dataStart > src.size)
    throw new FormatError(`Invalid asar: the ${f.headerSize}-byte header runs past the end of the ${src.size}-byte archive.`, 'truncated');
  let root: unknown;
  try {
    root = JSON.parse(Buffer.from(src.read(16, f.jsonLength)).toString('utf8'));
  } catch (err) {
    // Name the place, not the parser's own wording: "position N" is the one fact worth keeping.
    const at = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
    throw new FormatError(
      `Invalid asar: the ${f.jsonLength}-byte JSON header at offset 16 is not valid JSON${at !== undefined ? ` (it breaks at header byte ${at})` : ''}.`,
    );
  }
  if (!isObject(root) || !isObject(root.files)) throw new FormatError('Invalid asar: the header has no "files" object at its root.');
  const names = new EntryNames(ctx, 'asar', false);
  const dataSize = src.size - dataStart;
  let unpacked = 0;
  let count = 0;
  const stack: { files: Node; path: string; depth: number }[] = [{ files: root.files, path: '', depth: 0 }];
  try {
    while (stack.length > 0) {
      const dir = stack.pop()!;
      for (const [name, node] of Object.entries(dir.files)) {
        if (++count > ctx.limits.maxEntriesPerContainer) {
          ctx.problem({
            severity: 'error',
            code: 'limit',
            message: `The asar archive has more than maxEntriesPerContainer ${ctx.limits.maxEntriesPerContainer} entries; the rest are not listed.`,
          });
          return;
        }
        const recorded = dir.path === '' ? name : `${dir.path}/${name}`;
        if (!isObject(node)) {
          ctx.problem({ path: recorded, severity: 'error', code: 'format', message: `The asar entry ${JSON.stringify(recorded)} is not an object; skipped.` });
          continue;
        }
        if (isObject(node.files)) {
          const path = names.accept(recorded, true);
          yield { path, type: 'directory', open: () => Promise.reject(new FormatError(`${path} is a directory.`)) };
          if (dir.depth + 1 >= MAX_DEPTH) {
            ctx.problem({
              path,
              severity: 'error',
              code: 'limit',
              message: `The asar directory ${JSON.stringify(path)} is nested deeper than ${MAX_DEPTH} levels; not walked.`,
            });
            continue;
          }
          stack.push({ files: node.files, path, depth: dir.depth + 1 });
          continue;
        }
        if (typeof node.link === 'string') {
          const path = names.accept(recorded, false);
          yield { path, type: 'symlink', linkTarget: linkFromFolder(path, node.link), open: () => Promise.reject(new FormatError(`${path} is a link.`)) };
          continue;
        }
        const size = node.size;
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
          ctx.problem({
            path: recorded,
            severity: 'error',
            code: 'format',
            message:
              size === undefined
                ? `The asar entry ${JSON.stringify(recorded)} records no size, so its bytes cannot be located; it was skipped.`
                : `The asar entry ${JSON.stringify(recorded)} records size ${JSON.stringify(size)}, which is not a byte count; it was skipped.`,
          });
          continue;
        }
        const path = names.accept(recorded, false);
        if (node.unpacked === true) {
          unpacked++;
          yield { path, type: 'other', size, open: () => Promise.reject(new FormatError(`${path} is stored outside the archive.`)) };
          continue;
        }
        // "offset" is a decimal string; an empty file may have none.
        const raw = node.offset ?? (size === 0 ? '0' : undefined);
        const offset = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
        if (!Number.isSafeInteger(offset) || offset + size > dataSize) {
          ctx.problem({
            path,
            severity: 'error',
            code: Number.isSafeInteger(offset) ? 'truncated' : 'format',
            message: `The asar file ${JSON.stringify(path)} declares ${size} bytes at offset ${JSON.stringify(raw)}, outside the archive's ${dataSize} data bytes; it was not read.`,
          });
          continue;
        }
        yield { path, type: 'file', size, open: () => Promise.resolve(new SliceSource(src, dataStart + offset, size)) };
      }
    }
  } finally {
    if (unpacked > 0) {
      ctx.problem({
        severity: 'info',
        code: 'unsupported',
        message: `${unpacked} ${unpacked === 1 ? 'entry of this asar is' : 'entries of this asar are'} marked unpacked: their bytes are not in the archive but in the ${ctx.name}.unpacked/ folder beside it, which is scanned as ordinary files.`,
      });
    }
  }
}

/** Electron asar archives; files are slices of the archive. */
export const asar: ContainerReader = {
  id: 'asar',
  description: 'Electron asar archives (pickled JSON header); files are slices, unpacked files listed',
  kind: 'archive',
  extensions: ['.asar'],
  signatures: [{ offset: 0, magic: [0x04, 0x00, 0x00, 0x00], note: 'Chromium Pickle: u32 4, the size of the header-size field' }],
  match(probe: Probe): boolean {
    const f = framing(probe.head);
    // The JSON header starts with '{' at 16.
    return f !== undefined && f.jsonLength > 0 && probe.head.length > 16 && probe.head[16] === 0x7b && 8 + f.headerSize <= probe.size;
  },
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry> {
    return asarEntries(src, ctx);
  },
};
