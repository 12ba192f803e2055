import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { AibomError, FormatError } from '../errors.js';
import { BufferSource, type ByteSource } from '../io/byte-source.js';
import { releaseDecoded } from '../io/decoded-source.js';
import type { Limits } from '../io/limits.js';
import { createProbe, HEAD_SIZE } from '../probe.js';
import { cpio } from './cpio.js';
import { tar } from './tar.js';
import type { ContainerContext, ContainerEntry } from './types.js';

/**
 * Shared by the single-stream compression wrappers (gzip, xz, zstd, bzip2): naming the sole member,
 * peeking at its head, and treating a compressed tar as ONE container level, plus the zlib and chunk
 * plumbing the zip reader uses too.
 */

/** Input pieces handed to decoders. */
const INPUT_CHUNK = 1024 * 1024;

/**
 * Reads [start, end) of `src` in pieces, each a copy: the decoders queue input ahead of use, and a
 * ByteSource's result is only valid until its next read.
 */
export function* sourceChunks(src: ByteSource, start = 0, end = src.size, size = INPUT_CHUNK): Generator<Uint8Array> {
  for (let off = start; off < end; off += size) {
    yield Uint8Array.prototype.slice.call(src.read(off, Math.min(size, end - off)));
  }
}

/**
 * Inflates raw deflate data (zip method 8, a gzip member's body) from `input`. Ends at the deflate
 * stream's end even if input remains; `done.consumed` then holds the compressed bytes used, which is
 * where a gzip trailer starts. Input that ends first is a FormatError (`truncated`). Returning early
 * destroys the zlib stream, so a bomb stops where its consumer stops.
 */
export async function* inflateRaw(input: Iterable<Uint8Array>, what: string, done?: { consumed: number }, smallOutput?: number): AsyncGenerator<Uint8Array> {
  if (smallOutput !== undefined && done === undefined) {
    // Small members (most of an APK) inflate synchronously: an asynchronous zlib stream costs a round
    // trip to the thread pool per member, which dominated scans of archives with thousands of files.
    // `maxOutputLength` bounds the output; past it, or on any error, the streaming path below decides.
    const pieces = [...input];
    const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    let out: Buffer | undefined;
    try {
      out = zlib.inflateRawSync(whole, { maxOutputLength: Math.max(1, smallOutput) });
    } catch {
      out = undefined;
    }
    if (out !== undefined) {
      for (let off = 0; off < out.length; off += 1024 * 1024) yield out.subarray(off, off + 1024 * 1024);
      return;
    }
    input = pieces;
  }
  const source = Readable.from(input, { highWaterMark: 1 });
  const inflate = zlib.createInflateRaw({ chunkSize: 256 * 1024 });
  // Errors of either stream surface through `inflate`'s iterator; the callback only keeps
  // pipeline from reporting a premature close when we stop early.
  pipeline(source, inflate, () => {});
  try {
    for await (const chunk of inflate) yield chunk as Buffer;
  } catch (err) {
    throw decoderError(err, what);
  } finally {
    inflate.destroy();
    source.destroy();
  }
  if (done) done.consumed = inflate.bytesWritten;
}

/**
 * Maps an error thrown by a decoder library to a typed error: aibom's own errors pass through; zlib,
 * fzstd, xz and bzip2 failures become FormatError (`truncated` when the input ended early).
 */
export function decoderError(err: unknown, what: string): unknown {
  if (err instanceof AibomError) return err;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    const truncated = e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(message);
    return new FormatError(`Invalid compressed data in ${what}: ${message}.`, truncated ? 'truncated' : 'format');
  }
  return err;
}

/**
 * Largest window a decoder may allocate for one stream (the zstd window; fzstd allocates it whole):
 * the memory budget, but never below 128 MiB, the default limit of the reference zstd decoder, so
 * that files made with standard levels open. (xz's dictionary is capped by its decoder at 64 MiB.)
 */
export function decoderWindowLimit(limits: Readonly<Limits>): number {
  return Math.max(limits.memoryBudget, 128 * 1024 * 1024);
}

/** Whether every byte from `from` to the end is zero (flash padding, ignored silently). */
export function allZero(src: ByteSource, from: number): boolean {
  for (let off = from; off < src.size; off += 1024 * 1024) {
    const piece = src.read(off, Math.min(1024 * 1024, src.size - off));
    for (let i = 0; i < piece.length; i++) if (piece[i] !== 0) return false;
  }
  return true;
}

/** Reads up to `n` bytes from the start of a decoder's output, then stops it. */
export async function peekHead(stream: AsyncIterable<Uint8Array>, n = HEAD_SIZE): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let have = 0;
  for await (const chunk of stream) {
    parts.push(chunk.subarray(0, n - have));
    have += Math.min(chunk.length, n - have);
    if (have >= n) break;
  }
  const out = new Uint8Array(have);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Names the sole member of a compressed file: the container's name without its compression suffix
 * (`model.onnx.gz` -> `model.onnx`, `x.tgz` -> `x.tar`); otherwise `fallback` (the gzip FNAME field,
 * sanitised) or the name plus `.out`. `suffixes` maps a lower-case suffix to its replacement.
 */
export function memberName(containerName: string, suffixes: Readonly<Record<string, string>>, fallback?: string): string {
  const base = baseName(containerName);
  const lower = base.toLowerCase();
  for (const [suffix, replacement] of Object.entries(suffixes)) {
    if (lower.endsWith(suffix) && lower.length > suffix.length) return base.slice(0, base.length - suffix.length) + replacement;
  }
  const safe = fallback === undefined ? '' : sanitizeName(fallback);
  if (safe !== '') return safe;
  return `${base || 'data'}.out`;
}

/** Last component of a '/'-separated name. */
function baseName(name: string): string {
  const i = name.lastIndexOf('/');
  return i >= 0 ? name.slice(i + 1) : name;
}

/**
 * A name taken from a header made safe to show as one location hop: its last component only
 * (never a path), without control characters, not '.' or '..', at most 255 characters.
 */
export function sanitizeName(name: string): string {
  const last = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = last.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
  return clean === '.' || clean === '..' ? '' : clean;
}

/** What a compression wrapper tells `compressedEntries`. */
export interface CompressedStream {
  /** Format named in messages, e.g. 'gzip'. */
  readonly format: string;
  /** The sole member's name (see `memberName`). */
  readonly name: string;
  /** Declared decoded size when the format records one reliably. */
  readonly declaredSize?: number;
  /**
   * A fresh decoder over the whole input each call: once for a peek at the head, once to decode.
   * `report` is false for the peek, so that problems found on the way are recorded only once.
   */
  open(report: boolean): AsyncIterable<Uint8Array>;
}

/**
 * The entries of a compressed file. It peeks at the decoded head (64 KiB, outside the budget): when
 * the tar or cpio reader matches it, the whole stream is decoded through `ctx.decode` and the tar's own
 * entries are yielded, so `x.tar.gz!/dir/file` is one container level; the decoded tar is released
 * when this walk ends, so those entries must be opened before the walk moves on past its end.
 * Otherwise it yields one lazy member whose `open()` decodes through `ctx.decode`; that source
 * belongs to the caller, who releases it (DecodeBudget.release) when done.
 */
export async function* compressedEntries(src: ByteSource, ctx: ContainerContext, stream: CompressedStream): AsyncGenerator<ContainerEntry> {
  const what = `${stream.format} stream ${JSON.stringify(ctx.name)}`;
  const info = {
    what,
    compressedSize: src.size,
    ...(stream.declaredSize === undefined ? {} : { declaredSize: stream.declaredSize }),
  };
  let head: Uint8Array;
  try {
    head = await peekHead(stream.open(false));
  } catch (err) {
    // Corrupt or truncated within its first 64 KiB: still one member, whose open() reports it.
    if (!(err instanceof AibomError)) throw err;
    head = new Uint8Array(0);
  }
  // A compressed archive is one level: `x.tar.gz!/dir/file`, and a gzip or LZ4 ramdisk's cpio
  // `boot.img!/ramdisk!/init`.
  const probe = createProbe(new BufferSource(head), stream.name);
  const archive = [tar, cpio].find((r) => r.match(probe));
  if (archive !== undefined) {
    const decoded = await ctx.decode(stream.open(true), info);
    try {
      yield* archive.entries(decoded, ctx);
    } finally {
      releaseDecoded(decoded);
    }
    return;
  }
  yield {
    path: stream.name,
    type: 'file',
    ...(stream.declaredSize === undefined ? {} : { size: stream.declaredSize }),
    open: () => ctx.decode(stream.open(true), info),
  };
}
