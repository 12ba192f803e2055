import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { FormatError, UnsupportedError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { releaseDecoded } from '../io/decoded-source.js';
import { ExtentSource, type Extent } from '../io/extent-source.js';
import type { Probe } from '../probe.js';
import { sourceChunks } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

/*
 * Non-A/B block OTAs (Android 5-9 "block-based" updates, written by build/make/tools/releasetools
 * blockimgdiff.py and applied by bootable/recovery/updater/blockimg.cpp):
 *
 *   system.transfer.list   text: version (1-4), total blocks written, [v2+: max stash entries,
 *                          max stash blocks], then one command per line
 *   system.new.dat[.br]    the blocks of every `new` command, concatenated in command order
 *                          (brotli-compressed since Android O)
 *   system.patch.dat       patches for bsdiff/imgdiff commands (incremental OTAs)
 *
 * Commands: `new <rs>` (next blocks of new.dat), `zero <rs>`, `erase <rs>` (discard: zeros here),
 * `move`, `bsdiff`, `imgdiff` (read the source build), `stash <id> <rs>`, `free <id>`, and in later
 * releases `abort` and `compute_hash_tree`. A range set is `N,a1,b1,a2,b2,...`: N numbers forming
 * N/2 half-open block ranges [a, b), blocks of 4096 bytes.
 *
 * The .new.dat is not self-describing: its layout is in the sibling transfer list. So this reader
 * matches `<name>.new.dat` / `<name>.new.dat.br` by name and asks its container for
 * `<name>.transfer.list` through `ctx.sibling`.
 */

/** blockimg.cpp BLOCKSIZE. */
const BLOCK = 4096;
/** Transfer lists are KiB to a few MiB. */
const MAX_LIST = 64 * 1024 * 1024;
/** Ranges over all commands: bounds memory whatever the list says. */
const MAX_RANGES = 4_000_000;
/** 2^28 blocks of 4 KiB: 1 TiB (real partitions are a few GiB). */
const MAX_BLOCKS = 2 ** 28;
const NAME = /^(.+)\.new\.dat(\.br)?$/i;

/** One `new` range and where its bytes are in the new.dat. */
interface NewRange {
  start: number;
  end: number;
  dataOffset: number;
}

/** A parsed transfer list. */
export interface TransferList {
  readonly version: number;
  /** Second line: blocks the update writes (new, zero, move and diff targets), for progress. */
  readonly declaredBlocks: number;
  /** `new` ranges in command order, with their offset in the new.dat. */
  readonly news: readonly NewRange[];
  /** Bytes of new.dat the `new` commands consume. */
  readonly newBytes: number;
  /** End of the highest target range of any command, in blocks: the image size. */
  readonly blocks: number;
  /** Counts of commands that read the source build (move, bsdiff, imgdiff). */
  readonly incremental: ReadonlyMap<string, number>;
  /** Commands not known, with counts (skipped). */
  readonly unknown: ReadonlyMap<string, number>;
  /** Blocks written by new, zero, move and diff targets, to compare with `declaredBlocks`. */
  readonly writtenBlocks: number;
}

/** Parses a decimal field of the list. */
function int(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^\d{1,16}$/.test(text))
    throw new FormatError(`Invalid transfer list: ${what} ${JSON.stringify(text?.slice(0, 40) ?? '')} is not a number.`);
  const n = Number(text);
  if (n > max) throw new FormatError(`Invalid transfer list: ${what} ${n} exceeds ${max}.`);
  return n;
}

/**
 * Parses a range set `N,a1,b1,...` as blockimg.cpp's RangeSet::Parse does: N even and non-zero, exactly
 * N numbers after it, each range non-empty, within MAX_BLOCKS. Returns flat [a1, b1, a2, b2, ...].
 */
export function parseRangeSet(text: string | undefined, what: string): number[] {
  if (text === undefined) throw new FormatError(`Invalid transfer list: ${what} has no range set.`);
  const parts = text.split(',');
  const n = int(parts[0], `${what} range count`, 2 * MAX_RANGES);
  if (n === 0 || n % 2 !== 0) throw new FormatError(`Invalid transfer list: ${what} range set declares ${n} numbers, not a non-zero even count.`);
  if (parts.length !== n + 1) throw new FormatError(`Invalid transfer list: ${what} range set declares ${n} numbers but has ${parts.length - 1}.`);
  const out: number[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const a = int(parts[i], `${what} range start`, MAX_BLOCKS);
    const b = int(parts[i + 1], `${what} range end`, MAX_BLOCKS);
    if (a >= b) throw new FormatError(`Invalid transfer list: ${what} has an empty or reversed range [${a}, ${b}).`);
    out.push(a, b);
  }
  return out;
}

/**
 * Which token holds the target range set of a move/bsdiff/imgdiff command, by list version
 * (blockimg.cpp LoadSrcTgtVersion1/2/3): v1 `move <src> <tgt>`, `bsdiff <off> <len> <src> <tgt>`;
 * v2 `move <tgt> ...`, `bsdiff <off> <len> <tgt> ...`; v3-4 `move <hash> <tgt> ...`,
 * `bsdiff <off> <len> <srchash> <tgthash> <tgt> ...`.
 */
function targetToken(cmd: string, version: number): number {
  const diff = cmd !== 'move';
  if (version === 1) return diff ? 4 : 2;
  if (version === 2) return diff ? 3 : 1;
  return diff ? 5 : 2;
}

/** Parses a transfer list; errors are FormatError naming the line. */
export function parseTransferList(text: string): TransferList {
  const lines = text.split('\n');
  const version = int(lines[0]?.trim(), 'version', 99);
  if (version < 1 || version > 4) throw new UnsupportedError(`Transfer list version ${version} is not supported (1-4); the block OTA was not scanned.`);
  const declaredBlocks = int(lines[1]?.trim(), 'total blocks', MAX_BLOCKS * 4);
  let first = 2;
  if (version >= 2) {
    int(lines[2]?.trim(), 'maximum stash entries', Number.MAX_SAFE_INTEGER);
    int(lines[3]?.trim(), 'maximum stash blocks', Number.MAX_SAFE_INTEGER);
    first = 4;
  }
  const news: NewRange[] = [];
  const incremental = new Map<string, number>();
  const unknown = new Map<string, number>();
  let newBytes = 0;
  let blocks = 0;
  let ranges = 0;
  let written = 0;
  const target = (rs: number[]): void => {
    ranges += rs.length / 2;
    if (ranges > MAX_RANGES) throw new FormatError(`Invalid transfer list: more than ${MAX_RANGES} ranges.`);
    for (let i = 1; i < rs.length; i += 2) blocks = Math.max(blocks, rs[i] as number);
  };
  for (let n = first; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '') continue;
    const tokens = line.split(' ');
    const cmd = tokens[0] as string;
    const what = `line ${n + 1} (${cmd.slice(0, 20)})`;
    if (cmd === 'new' || cmd === 'zero' || cmd === 'erase') {
      const rs = parseRangeSet(tokens[1], what);
      target(rs);
      for (let i = 0; i < rs.length; i += 2) {
        const start = rs[i] as number;
        const end = rs[i + 1] as number;
        if (cmd === 'new') {
          news.push({ start, end, dataOffset: newBytes });
          newBytes += (end - start) * BLOCK;
        }
        if (cmd !== 'erase') written += end - start;
      }
    } else if (cmd === 'move' || cmd === 'bsdiff' || cmd === 'imgdiff') {
      incremental.set(cmd, (incremental.get(cmd) ?? 0) + 1);
      const rs = parseRangeSet(tokens[targetToken(cmd, version)], what);
      target(rs);
      for (let i = 0; i < rs.length; i += 2) written += (rs[i + 1] as number) - (rs[i] as number);
    } else if (cmd === 'stash' || cmd === 'free' || cmd === 'abort' || cmd === 'compute_hash_tree') {
      // Stashes and frees only stage source blocks; abort and hash-tree computation write no data we rebuild.
    } else {
      const key = cmd.slice(0, 40);
      unknown.set(key, (unknown.get(key) ?? 0) + 1);
      if (unknown.size > 100) throw new FormatError(`Invalid transfer list: more than 100 unknown commands, e.g. ${JSON.stringify(key)}.`);
    }
  }
  return { version, declaredBlocks, news, newBytes, blocks, incremental, unknown, writtenBlocks: written };
}

/** Decodes a brotli stream with node:zlib, its errors as FormatError. */
async function* unbrotli(src: ByteSource, what: string): AsyncGenerator<Uint8Array> {
  const input = Readable.from(sourceChunks(src), { highWaterMark: 1 });
  const decoder = zlib.createBrotliDecompress({ chunkSize: 256 * 1024 });
  pipeline(input, decoder, () => {});
  try {
    for await (const chunk of decoder) yield chunk as Buffer;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const truncated = /unexpected end/i.test(message);
    throw new FormatError(`Invalid brotli data in ${what}: ${message}.`, truncated ? 'truncated' : 'format');
  } finally {
    decoder.destroy();
    input.destroy();
  }
}

/**
 * Non-A/B block OTA images: `<name>.new.dat` or `<name>.new.dat.br` (brotli) with the sibling
 * `<name>.transfer.list` (versions 1-4), listed as one entry `<name>` that opens as the rebuilt
 * partition image: `new` ranges map in order onto the new.dat, `zero` and `erase` ranges read as
 * zeros. The .br stream has no random access: it is decoded once, on first open, through
 * `ctx.decode` (scan budgets apply; spilled to a temp file when large) and released when the walk
 * of this item ends. Incremental lists (move, bsdiff, imgdiff) cannot be applied without the source
 * build: their targets read as zeros and a problem says so. Without a sibling transfer list the item
 * is reported unsupported. Not handled: the patch.dat (patches need the source blocks).
 */
export const otaBlockImage: ContainerReader = {
  id: 'ota-block-image',
  description: 'Android non-A/B block OTAs: <name>.new.dat[.br] laid out by the sibling <name>.transfer.list (v1-4) into the partition image',
  kind: 'partitions',
  // recognised by name ('<x>.new.dat[.br]' beside '<x>.transfer.list'): raw blocks have no magic
  signatures: [],
  match(probe: Probe): boolean {
    // The data has no header of its own (brotli has no magic; a .new.dat is raw blocks): the
    // name is the only claim, and entries() then requires the sibling transfer list.
    return NAME.test(probe.name);
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const base = ctx.name.slice(ctx.name.lastIndexOf('/') + 1);
    const m = NAME.exec(base);
    if (m === null) throw new FormatError(`The name ${JSON.stringify(base)} is not <partition>.new.dat or <partition>.new.dat.br.`);
    const partition = m[1] as string;
    const brotli = m[2] !== undefined;
    const listName = `${partition}.transfer.list`;
    // May throw the orchestrator's own "sibling not listed yet" signal: let it through untouched.
    const listSource = await ctx.sibling(listName);
    if (listSource === undefined) {
      throw new UnsupportedError(`${base} is a block OTA image whose layout is in ${listName}, which is not beside it; it was not scanned.`);
    }
    if (listSource.size > MAX_LIST) throw new FormatError(`${listName} is ${listSource.size} bytes, more than the ${MAX_LIST} bytes a transfer list may have.`);
    const list = parseTransferList(Buffer.from(listSource.read(0, listSource.size)).toString('latin1'));
    if (list.incremental.size > 0) {
      const counts = [...list.incremental].map(([c, n]) => `${n} ${c}`).join(', ');
      ctx.problem({
        path: partition,
        severity: 'warning',
        code: 'unsupported',
        message: `The block OTA ${partition} is incremental (${counts} commands): it cannot be rebuilt without the source build; only its new data was scanned, the rest reads as zeros.`,
      });
    }
    if (list.unknown.size > 0) {
      const counts = [...list.unknown].map(([c, n]) => `${n} ${JSON.stringify(c)}`).join(', ');
      ctx.problem({
        path: partition,
        severity: 'warning',
        code: 'format',
        message: `${listName} has commands aibom does not know (${counts}); they were skipped.`,
      });
    }
    if (list.writtenBlocks !== list.declaredBlocks) {
      ctx.problem({
        path: partition,
        severity: 'info',
        code: 'format',
        message: `${listName} declares ${list.declaredBlocks} blocks written, but its commands write ${list.writtenBlocks}.`,
      });
    }
    const size = list.blocks * BLOCK;
    // One decode of the brotli stream, shared by every open of the entry.
    let decoding: Promise<ByteSource> | undefined;
    const open = async (): Promise<ByteSource> => {
      let data: ByteSource;
      if (brotli) {
        decoding ??= ctx.decode(unbrotli(src, base), { what: `${base} (brotli)`, compressedSize: src.size, declaredSize: list.newBytes });
        data = await decoding;
      } else {
        if (src.size < list.newBytes) {
          throw new FormatError(`${base} has ${src.size} bytes, but the new commands of ${listName} need ${list.newBytes}.`, 'truncated');
        }
        data = src;
      }
      return layout(list, data, size, partition, src.identity);
    };
    if (!brotli && src.size > list.newBytes) {
      ctx.problem({
        path: partition,
        severity: 'warning',
        code: 'format',
        message: `${base} has ${src.size - list.newBytes} bytes more than the new commands of ${listName} use; ignored.`,
      });
    }
    try {
      yield { path: partition, type: 'file', size, open };
    } finally {
      // The orchestrator is done with the entry once the walk moves on: free the decoded new.dat.
      const decoded = await decoding?.catch(() => undefined);
      if (decoded !== undefined) releaseDecoded(decoded);
    }
  },
};

/** The partition as an ExtentSource: `new` ranges sorted by block, read from `data`; the rest zeros. */
function layout(list: TransferList, data: ByteSource, size: number, partition: string, identity: string | undefined): ExtentSource {
  const extents: Extent[] = list.news.map((r) => ({
    kind: 'source',
    offset: r.start * BLOCK,
    length: (r.end - r.start) * BLOCK,
    source: data,
    sourceOffset: r.dataOffset,
  }));
  extents.sort((a, b) => a.offset - b.offset);
  return new ExtentSource(size, extents, {
    what: `block OTA image ${JSON.stringify(partition)}`,
    ...(identity === undefined ? {} : { identity: `${identity}#ota-block-image` }),
  });
}
