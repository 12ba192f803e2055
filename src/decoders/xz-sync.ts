import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { FormatError, LimitError, UnsupportedError } from '../errors.js';
import { u32be, u32le } from '../io/binary.js';

/**
 * Synchronous xz decoding over the WebAssembly build of xz-embedded that the `xz-decompress` npm
 * package ships (its own wrapper is asynchronous, over web streams). We drive the four C entry points
 * ourselves:
 * - `create_context()` returns a pointer to a context whose first words are `bufsize` and an xz-embedded
 *   `struct xz_buf` (in, in_pos, in_size, out, out_pos, out_size), each a 32-bit word, followed by the
 *   decoder state and two `bufsize`-byte buffers (64 KiB in the 0.2.3 build) that `in` and `out` point at;
 * - `supply_input(ctx, n)` sets in_pos = 0 and in_size = n after we copy n bytes to `in`; n = 0 means the
 *   input is finished (the glue then calls `xz_dec_catrun` with `finish` set);
 * - `get_next_output(ctx)` runs `xz_dec_catrun` (concatenated streams, stream padding) and returns its
 *   `enum xz_ret`; `out_pos` says how many bytes of `out` are new, and we reset it to 0 after copying;
 * - `destroy_context(ctx)` frees the decoder and its dictionary.
 * The build verifies CRC32 and CRC64 checks, has no SHA-256 and no BCJ or delta filters (both answer
 * XZ_OPTIONS_ERROR), and limits dictionaries to 64 MiB. Streams with BCJ filters or SHA-256 checks
 * go through a container walk below that uses the wasm for LZMA2 alone.
 */

/** `enum xz_ret` of xz-embedded (linux/include/linux/xz.h). */
const XZ_OK = 0;
const XZ_STREAM_END = 1;
const XZ_UNSUPPORTED_CHECK = 2;
const XZ_MEM_ERROR = 3;
const XZ_MEMLIMIT_ERROR = 4;
const XZ_FORMAT_ERROR = 5;
const XZ_OPTIONS_ERROR = 6;
const XZ_DATA_ERROR = 7;
const XZ_BUF_ERROR = 8;

/** The decoder's dictionary limit: `xz_dec_init(XZ_DYNALLOC, 1 << 26)` in the glue. */
export const XZ_SYNC_DICT_MAX = 64 * 1024 * 1024;

/**
 * An instance whose memory grew past this after a decode (a large dictionary) is dropped rather than
 * reused: WebAssembly memory never shrinks, and a squashfs or OTA walk should not keep 64 MiB pinned
 * because one stream once needed it. Typical streams (dictionaries up to 8 MiB) stay under it.
 */
const KEEP_INSTANCE_MEMORY = 24 * 1024 * 1024;

/** The part of the WebAssembly API used here (the project's lib settings do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface XzExports {
  readonly memory: WasmMemory;
  create_context(): number;
  destroy_context(ctx: number): void;
  supply_input(ctx: number, n: number): void;
  get_next_output(ctx: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;
let shared: XzExports | undefined;

/**
 * Compiles the wasm once per process from the base64 `data:application/wasm` URL inside the installed
 * package's bundle (read from node_modules at first use; nothing is downloaded).
 */
function wasmModule(): object {
  if (compiled !== undefined) return compiled;
  const require = createRequire(import.meta.url);
  const file = require.resolve('xz-decompress');
  const text = fs.readFileSync(file, 'utf8');
  const m = /data:application\/wasm;base64,([A-Za-z0-9+/]+={0,2})/.exec(text);
  if (m === null || m[1] === undefined) {
    throw new UnsupportedError(`The xz decoder is unavailable: no embedded WebAssembly found in ${file}.`);
  }
  compiled = new wasmApi.Module(Buffer.from(m[1], 'base64'));
  return compiled;
}

/**
 * One instance is reused across decodes. That is safe because a decode runs synchronously from
 * create_context to destroy_context (nothing else can enter the module in between), and every exit
 * path destroys its context; the module's only global state is its allocator and the CRC tables it
 * builds once. An instance is discarded after a trap (its state is then unknown) or when its memory
 * grew past KEEP_INSTANCE_MEMORY.
 */
function acquire(): XzExports {
  if (shared === undefined) {
    const inst = new wasmApi.Instance(wasmModule(), {});
    shared = inst.exports as XzExports;
  }
  return shared;
}

function describe(code: number): string {
  switch (code) {
    case XZ_UNSUPPORTED_CHECK:
      return 'unsupported integrity check';
    case XZ_MEM_ERROR:
      return 'the decoder could not allocate memory';
    case XZ_MEMLIMIT_ERROR:
      return `the dictionary is above the decoder's ${XZ_SYNC_DICT_MAX}-byte limit`;
    case XZ_FORMAT_ERROR:
      return 'not xz data (bad stream header magic)';
    case XZ_DATA_ERROR:
      return 'corrupt data';
    case XZ_BUF_ERROR:
      return 'the input ends before the stream does';
    default:
      return `unknown status ${code}`;
  }
}

/** Check types in the stream flags (xz spec 2.1.1.2) and whether this build verifies them. */
const CHECK_NAMES: Record<number, string> = { 0: 'none', 1: 'CRC32', 4: 'CRC64', 10: 'SHA-256' };

/**
 * Names the cause of XZ_OPTIONS_ERROR when the first stream header shows it: an integrity check other
 * than none, CRC32 or CRC64 (the build has no SHA-256). Otherwise it is a filter (BCJ, delta).
 */
function optionsCause(input: Uint8Array): string {
  // Stream header: magic FD 37 7A 58 5A 00, flags 0x00 then the check id in the low nibble.
  if (input.length >= 8 && input[0] === 0xfd && input[1] === 0x37 && input[6] === 0) {
    const check = input[7]! & 0x0f;
    if (check !== 0 && check !== 1 && check !== 4) return `its ${CHECK_NAMES[check] ?? `type ${check}`} integrity check is not supported by this decoder`;
  }
  return 'it uses a filter this decoder lacks (BCJ or delta) or options it does not know';
}

/** XZ_OPTIONS_ERROR from the direct decoder: the container walk may still decode it (BCJ, SHA-256). */
class XzOptionsError extends UnsupportedError {}

function xzError(code: number, what: string, inputDone: boolean, input: Uint8Array): Error {
  const text = `${code === XZ_OPTIONS_ERROR ? optionsCause(input) : describe(code)} (xz-embedded status ${code})`;
  if (code === XZ_OPTIONS_ERROR) return new XzOptionsError(`Cannot decode ${what}: ${text}; it was not scanned.`);
  if (code === XZ_MEMLIMIT_ERROR) return new UnsupportedError(`Cannot decode ${what}: ${text}; it was not scanned.`);
  if (code === XZ_MEM_ERROR) return new LimitError(`Cannot decode ${what}: ${text}.`, 'xzMemory');
  // A data or buffer error raised once all input was handed over and `finish` set means the input ended early.
  const truncated = code === XZ_BUF_ERROR || (code === XZ_DATA_ERROR && inputDone);
  return new FormatError(`Invalid xz data in ${what}: ${text}.`, truncated ? 'truncated' : 'format');
}

/**
 * Runs the decoder over `input`, handing each piece of output to `sink` (a view into wasm memory,
 * valid only during the call). `sink` throws to stop early; the context is destroyed on every path.
 */
function run(input: Uint8Array, what: string, sink: (piece: Uint8Array) => void): void {
  const x = acquire();
  let ctx = 0;
  let trapped = true;
  try {
    ctx = x.create_context();
    let buffer = x.memory.buffer;
    let mem8 = new Uint8Array(buffer);
    let mem32 = new Uint32Array(buffer);
    const w = ctx >>> 2; // the context is word-aligned (malloc)
    const bufSize = mem32[w]!;
    const inPtr = mem32[w + 1]!;
    const outPtr = mem32[w + 4]!;
    if (bufSize === 0 || inPtr + bufSize > buffer.byteLength || outPtr + bufSize > buffer.byteLength) {
      throw new UnsupportedError(`Cannot decode ${what}: the xz WebAssembly context layout is not the one this glue knows.`);
    }
    let at = 0;
    let finishing = false;
    let idle = 0;
    for (;;) {
      // xz_buf.in_pos (word 2) == in_size (word 3): the decoder wants more input.
      let fed = 0;
      if (mem32[w + 2] === mem32[w + 3]) {
        fed = Math.min(bufSize, input.length - at);
        if (fed > 0) mem8.set(input.subarray(at, at + fed), inPtr);
        at += fed;
        finishing = fed === 0;
        x.supply_input(ctx, fed);
      }
      const ret = x.get_next_output(ctx);
      if (x.memory.buffer !== buffer) {
        // The allocator grew memory (a dictionary): older views are detached.
        buffer = x.memory.buffer;
        mem8 = new Uint8Array(buffer);
        mem32 = new Uint32Array(buffer);
      }
      const produced = mem32[w + 5]!; // xz_buf.out_pos
      if (produced > bufSize) throw new FormatError(`Invalid xz data in ${what}: the decoder reported ${produced} output bytes in a ${bufSize}-byte buffer.`);
      if (produced > 0) {
        mem32[w + 5] = 0;
        sink(mem8.subarray(outPtr, outPtr + produced));
      }
      if (ret === XZ_STREAM_END) break;
      // XZ_UNSUPPORTED_CHECK only comes from builds with XZ_DEC_ANY_CHECK: decoding may go on unverified.
      if (ret !== XZ_OK && ret !== XZ_UNSUPPORTED_CHECK) throw xzError(ret, what, finishing, input);
      // Guard against a decoder that neither consumes nor produces (it reports XZ_BUF_ERROR itself
      // in multi-call mode; this only bounds the loop should it not).
      if (produced === 0 && fed === 0) {
        if (++idle > 8) throw new FormatError(`Invalid xz data in ${what}: the decoder stopped making progress.`, 'truncated');
      } else idle = 0;
    }
    trapped = false;
  } catch (err) {
    // Our own errors leave the instance sound; a WebAssembly trap (RuntimeError) does not.
    if (err instanceof FormatError || err instanceof LimitError || err instanceof UnsupportedError) {
      trapped = false;
      throw err;
    }
    throw new FormatError(`Invalid xz data in ${what}: the decoder failed (${err instanceof Error ? err.message : String(err)}).`);
  } finally {
    if (trapped) shared = undefined;
    else {
      if (ctx !== 0) x.destroy_context(ctx);
      if (x.memory.buffer.byteLength > KEEP_INSTANCE_MEMORY) shared = undefined;
    }
  }
}

/** Reads an xz multibyte integer (spec 1.2) at `at`; undefined when malformed or past `end`. */
function varint(b: Uint8Array, at: number, end: number): [number, number] | undefined {
  let value = 0;
  for (let i = 0; i < 9 && at + i < end; i++) {
    const byte = b[at + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return Number.isSafeInteger(value) ? [value, at + i + 1] : undefined;
  }
  return undefined;
}

const FOOTER_MAGIC_0 = 0x59; // 'Y'
const FOOTER_MAGIC_1 = 0x5a; // 'Z'

/**
 * The total uncompressed size that the indexes of all concatenated streams declare, walking back from
 * the end as `xz --list` does: stream padding (zeros), the 12-byte footer (CRC32, Backward Size,
 * flags, 'YZ'), the index it points at (0x00, record count, then unpadded and uncompressed size per
 * block), the blocks, the 12-byte header. Only a hint for sizing the output: the decoder itself checks
 * the index against what it produced. Undefined when anything does not add up.
 */
export function xzDeclaredSize(input: Uint8Array): number | undefined {
  let pos = input.length;
  let total = 0;
  let streams = 0;
  while (pos > 0) {
    if (pos % 4 !== 0) return undefined;
    // Stream padding: zero bytes in groups of four, before or after a stream.
    while (pos >= 4 && input[pos - 1] === 0 && input[pos - 2] === 0 && input[pos - 3] === 0 && input[pos - 4] === 0) pos -= 4;
    if (pos === 0) break;
    if (pos < 24 || input[pos - 1] !== FOOTER_MAGIC_1 || input[pos - 2] !== FOOTER_MAGIC_0) return undefined;
    const footer = pos - 12;
    const backward = (input[footer + 4]! | (input[footer + 5]! << 8) | (input[footer + 6]! << 16)) + input[footer + 7]! * 2 ** 24;
    const indexSize = (backward + 1) * 4;
    const index = footer - indexSize;
    if (index < 12 || input[index] !== 0) return undefined;
    const end = footer - 4; // the index's CRC32
    let r = varint(input, index + 1, end);
    if (r === undefined) return undefined;
    const records = r[0];
    if (records > indexSize / 2) return undefined;
    let at = r[1];
    let blocks = 0;
    for (let i = 0; i < records; i++) {
      r = varint(input, at, end);
      if (r === undefined || r[0] < 5) return undefined;
      blocks += Math.ceil(r[0] / 4) * 4;
      r = varint(input, r[1], end);
      if (r === undefined) return undefined;
      total += r[0];
      at = r[1];
    }
    const start = index - blocks - 12;
    if (start < 0 || !Number.isSafeInteger(total) || input[start] !== 0xfd || input[start + 1] !== 0x37) return undefined;
    pos = start;
    if (++streams > input.length / 24) return undefined;
  }
  return streams > 0 ? total : undefined;
}

// ---------------------------------------------------------------------------------------------
// The container walk: BCJ filters and SHA-256 checks, which this xz-embedded build lacks.
//
// xz-embedded here decodes LZMA2 only, behind a CRC32 or CRC64 check. Firmware often has more:
// OpenWrt builds squashfs with `-Xbcj arm|x86|powerpc|sparc`, so some blocks carry a BCJ filter
// before LZMA2. For those, each block's LZMA2 data is rewrapped in a minimal xz stream (check none,
// one LZMA2 filter, a one-record index) for the wasm decoder; the branch conversion is then undone
// here and the block's own check verified here (CRC32 by zlib, CRC64 below, SHA-256 by node:crypto).
// Block positions come from each stream's index, walked back from the end as `xz --list` does.
// ---------------------------------------------------------------------------------------------

/** Filter ids (xz spec 5.3): LZMA2, delta, and the branch converters (BCJ). */
const FILTER_LZMA2 = 0x21;
const BCJ_NAMES: Record<number, string> = { 4: 'x86', 5: 'PowerPC', 6: 'IA-64', 7: 'ARM', 8: 'ARM-Thumb', 9: 'SPARC', 10: 'ARM64' };
/** Check field sizes by check id (xz spec 2.1.1.2): ids 0-15 use 0, 4, 4, 4, 8, 8, 8, 16, ... bytes. */
function checkSize(id: number): number {
  return id === 0 ? 0 : 4 << Math.floor((id - 1) / 3);
}

/** CRC-64/XZ (ECMA-182, reflected), as two 32-bit halves: JavaScript has no fast 64-bit integers. */
let crc64Lo: Uint32Array | undefined;
let crc64Hi: Uint32Array | undefined;
function crc64(data: Uint8Array): [number, number] {
  if (crc64Lo === undefined || crc64Hi === undefined) {
    crc64Lo = new Uint32Array(256);
    crc64Hi = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let lo = n;
      let hi = 0;
      for (let k = 0; k < 8; k++) {
        const odd = lo & 1;
        lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
        hi = hi >>> 1;
        if (odd) {
          lo = (lo ^ 0xd7870f42) >>> 0; // polynomial 0xC96C5795D7870F42
          hi = (hi ^ 0xc96c5795) >>> 0;
        }
      }
      crc64Lo[n] = lo;
      crc64Hi[n] = hi;
    }
  }
  const tl = crc64Lo;
  const th = crc64Hi;
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const k = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ tl[k]!;
    hi = (hi >>> 8) ^ th[k]!;
  }
  return [~lo >>> 0, ~hi >>> 0];
}

/** Verifies a block's check field against its decoded output. */
function verifyCheck(id: number, field: Uint8Array, data: Uint8Array, what: string): void {
  let ok: boolean;
  if (id === 0) ok = true;
  else if (id === 1) ok = zlib.crc32(data) === u32le(field, 0, 'xz stream');
  else if (id === 4) {
    const [lo, hi] = crc64(data);
    ok = lo === u32le(field, 0, 'xz stream') && hi === u32le(field, 4, 'xz stream');
  } else if (id === 10) ok = Buffer.from(crypto.createHash('sha256').update(data).digest()).equals(Buffer.from(field));
  else throw new UnsupportedError(`Cannot decode ${what}: integrity check type ${id} is not one aibom knows; it was not scanned.`);
  if (!ok) throw new FormatError(`Invalid xz data in ${what}: the ${CHECK_NAMES[id]} check of a block does not match its data.`);
}

function putLe(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}
function putBe(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/**
 * Undoes a BCJ filter over one block's whole output in place. `start` is the filter's start offset
 * property (the address of the first byte). Each converter turns the absolute addresses the encoder
 * wrote into branch and call instructions back into relative ones; bytes that end a block too early
 * to hold an instruction are left as they are, as the streaming decoders leave them.
 */
function unBcj(id: number, buf: Uint8Array, start: number): void {
  const size = buf.length;
  switch (id) {
    case 0x04: {
      // x86: E8 (CALL) and E9 (JMP) followed by a 32-bit displacement whose top byte is 00 or FF.
      // `mask` remembers which of the previous three bytes were E8/E9 opcodes, to avoid converting a
      // displacement that overlaps an earlier candidate (the rule xz and the kernel share).
      const allowed = [true, true, true, false, true, false, false, false];
      const bitNum = [0, 1, 2, 2, 3, 3, 3, 3];
      const msb = (b: number): boolean => b === 0x00 || b === 0xff;
      let mask = 0;
      let last = -5; // position of the previous E8/E9 seen
      for (let i = 0; i + 4 < size; i++) {
        if ((buf[i]! & 0xfe) !== 0xe8) continue;
        const gap = i - last;
        if (gap > 3) mask = 0;
        else {
          mask = (mask << (gap - 1)) & 7;
          if (mask !== 0 && (!allowed[mask] || msb(buf[i + 4 - bitNum[mask]!]!))) {
            last = i;
            mask = (mask << 1) | 1;
            continue;
          }
        }
        last = i;
        if (!msb(buf[i + 4]!)) {
          mask = (mask << 1) | 1;
          continue;
        }
        let src = u32le(buf, i + 1, 'xz stream');
        let dest: number;
        for (;;) {
          dest = (src - (start + i + 5)) >>> 0;
          if (mask === 0) break;
          const j = bitNum[mask]! * 8;
          if (!msb((dest >>> (24 - j)) & 0xff)) break;
          src = (dest ^ (2 ** (32 - j) - 1)) >>> 0;
        }
        dest &= 0x01ffffff;
        if (dest & 0x01000000) dest |= 0xfe000000; // sign-extend bit 24 over the top byte
        putLe(buf, i + 1, dest >>> 0);
        i += 4;
      }
      return;
    }
    case 0x05: // PowerPC: big-endian 'bl' (opcode 18, AA=0, LK=1) with a 24-bit word displacement.
      for (let i = 0; i + 4 <= size; i += 4) {
        const ins = u32be(buf, i, 'xz stream');
        if ((ins & 0xfc000003) >>> 0 !== 0x48000001) continue;
        const addr = ((ins & 0x03fffffc) - (start + i)) & 0x03fffffc;
        putBe(buf, i, (0x48000001 | addr) >>> 0);
      }
      return;
    case 0x06: {
      // IA-64: 128-bit bundles; the template (low 5 bits) says which of the three 41-bit slots hold
      // branches; a slot with opcode 5 and btype 0 carries a 21-bit bundle displacement.
      const slots = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 6, 6, 0, 0, 7, 7, 4, 4, 0, 0, 4, 4, 0, 0];
      for (let i = 0; i + 16 <= size; i += 16) {
        const mask = slots[buf[i]! & 0x1f]!;
        for (let slot = 0, bit = 5; slot < 3; slot++, bit += 41) {
          if (((mask >> slot) & 1) === 0) continue;
          const bytePos = i + (bit >> 3);
          const shift = BigInt(bit & 7);
          let ins = 0n;
          for (let j = 0; j < 6; j++) ins |= BigInt(buf[bytePos + j]!) << BigInt(8 * j);
          let norm = ins >> shift;
          if (((norm >> 37n) & 0x0fn) !== 0x05n || ((norm >> 9n) & 0x07n) !== 0n) continue;
          let addr = Number((norm >> 13n) & 0x0fffffn) | (Number((norm >> 36n) & 1n) << 20);
          addr = ((((addr << 4) >>> 0) - (start + i)) >>> 0) >>> 4;
          norm &= ~(0x8fffffn << 13n);
          norm |= BigInt(addr & 0x0fffff) << 13n;
          norm |= BigInt(addr & 0x100000) << 16n;
          ins = (ins & ((1n << shift) - 1n)) | (norm << shift);
          for (let j = 0; j < 6; j++) buf[bytePos + j] = Number((ins >> BigInt(8 * j)) & 0xffn);
        }
      }
      return;
    }
    case 0x07: // ARM: 'BL' (condition AL, byte 3 = 0xEB) with a 24-bit word displacement, pc + 8.
      for (let i = 0; i + 4 <= size; i += 4) {
        if (buf[i + 3] !== 0xeb) continue;
        const abs = ((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16)) << 2) >>> 0;
        const rel = ((abs - (start + i + 8)) >>> 0) >>> 2;
        buf[i] = rel;
        buf[i + 1] = rel >>> 8;
        buf[i + 2] = rel >>> 16;
      }
      return;
    case 0x08: // ARM-Thumb: the two-halfword BL pair (F000 / F800 prefixes), pc + 4.
      for (let i = 0; i + 4 <= size; i += 2) {
        if ((buf[i + 1]! & 0xf8) !== 0xf0 || (buf[i + 3]! & 0xf8) !== 0xf8) continue;
        const abs = ((((buf[i + 1]! & 7) << 19) | (buf[i]! << 11) | ((buf[i + 3]! & 7) << 8) | buf[i + 2]!) << 1) >>> 0;
        const rel = ((abs - (start + i + 4)) >>> 0) >>> 1;
        buf[i + 1] = 0xf0 | ((rel >>> 19) & 7);
        buf[i] = rel >>> 11;
        buf[i + 3] = 0xf8 | ((rel >>> 8) & 7);
        buf[i + 2] = rel;
        i += 2;
      }
      return;
    case 0x09: // SPARC: big-endian 'call' whose 30-bit displacement has its top bits all 0 or all 1.
      for (let i = 0; i + 4 <= size; i += 4) {
        let ins = u32be(buf, i, 'xz stream');
        if (ins >>> 22 !== 0x100 && ins >>> 22 !== 0x1ff) continue;
        ins = (((ins << 2) >>> 0) - (start + i)) >>> 0;
        ins >>>= 2;
        ins = ((0x40000000 - (ins & 0x400000)) | 0x40000000 | (ins & 0x3fffff)) >>> 0;
        putBe(buf, i, ins);
      }
      return;
    case 0x0a: // ARM64: BL (26-bit word displacement) and ADRP (21-bit page displacement within +-512 MiB).
      for (let i = 0; i + 4 <= size; i += 4) {
        const pc = (start + i) >>> 0;
        let ins = u32le(buf, i, 'xz stream');
        if (ins >>> 26 === 0x25) {
          const addr = (ins - (pc >>> 2)) >>> 0;
          putLe(buf, i, (0x94000000 | (addr & 0x03ffffff)) >>> 0);
        } else if ((ins & 0x9f000000) >>> 0 === 0x90000000) {
          let addr = ((ins >>> 29) & 3) | ((ins >>> 3) & 0x001ffffc);
          if (((addr + 0x00020000) & 0x001c0000) !== 0) continue;
          addr = (addr - (pc >>> 12)) >>> 0;
          ins = (ins & 0x9000001f) >>> 0;
          ins |= (addr & 3) << 29;
          ins |= (addr & 0x0003fffc) << 3;
          ins |= (0 - (addr & 0x00020000)) & 0x00e00000;
          putLe(buf, i, ins >>> 0);
        }
      }
      return;
    default:
      throw new Error(`unBcj: filter ${id}`);
  }
}

/** One block located through its stream's index. */
interface BlockInfo {
  at: number;
  unpadded: number;
  uncompressed: number;
  check: number;
}

/**
 * Lists every block of every stream by walking back from the end: stream padding, footer, index
 * (records of unpadded and uncompressed size), then the blocks laid out after the stream header.
 * Each stream header's flags must equal its footer's. Throws FormatError when the structure does
 * not add up (the direct decoder would have said the same, less precisely).
 */
function locateBlocks(input: Uint8Array, what: string): BlockInfo[] {
  const bad = (why: string, truncated = false): FormatError => new FormatError(`Invalid xz data in ${what}: ${why}.`, truncated ? 'truncated' : 'format');
  const streams: BlockInfo[][] = [];
  let pos = input.length;
  if (pos % 4 !== 0) throw bad(`its ${pos} bytes are not a multiple of four, so it does not end with a stream`, true);
  while (pos > 0) {
    while (pos >= 4 && u32le(input, pos - 4, 'xz stream') === 0) pos -= 4;
    if (pos === 0) break;
    if (pos < 24 || input[pos - 1] !== FOOTER_MAGIC_1 || input[pos - 2] !== FOOTER_MAGIC_0) throw bad(`no stream footer ends at byte ${pos}`, true);
    const footer = pos - 12;
    if (zlib.crc32(input.subarray(footer + 4, footer + 10)) !== u32le(input, footer, 'xz stream')) throw bad(`the stream footer at ${footer} fails its CRC32`);
    const indexSize = (u32le(input, footer + 4, 'xz stream') + 1) * 4;
    const index = footer - indexSize;
    if (index < 12 || input[index] !== 0) throw bad(`the index of the stream ending at ${pos} is not where its footer says`, true);
    if (zlib.crc32(input.subarray(index, footer - 4)) !== u32le(input, footer - 4, 'xz stream')) throw bad(`the index at ${index} fails its CRC32`);
    const end = footer - 4;
    const r = varint(input, index + 1, end);
    if (r === undefined || r[0] > indexSize / 2) throw bad(`the index at ${index} has an invalid record count`);
    const records: [number, number][] = [];
    let at = r[1];
    let blocksSize = 0;
    for (let i = r[0]; i > 0; i--) {
      const a = varint(input, at, end);
      const b = a && varint(input, a[1], end);
      if (a === undefined || b === undefined || a[0] < 5) throw bad(`a record of the index at ${index} is invalid`);
      records.push([a[0], b[0]]);
      blocksSize += Math.ceil(a[0] / 4) * 4;
      at = b[1];
    }
    const start = index - blocksSize - 12;
    if (start < 0) throw bad(`the blocks listed by the index at ${index} start before the input`, true);
    if (u32le(input, start, 'xz stream') !== 0x587a37fd || input[start + 4] !== 0x5a || input[start + 5] !== 0)
      throw bad(`no stream header at ${start}, where the index at ${index} puts it`);
    if (input[start + 6] !== input[footer + 8] || input[start + 7] !== input[footer + 9]) throw bad(`the stream flags at ${start} differ from its footer's`);
    if (zlib.crc32(input.subarray(start + 6, start + 8)) !== u32le(input, start + 8, 'xz stream')) throw bad(`the stream header at ${start} fails its CRC32`);
    const check = input[start + 7]! & 0x0f;
    const blocks: BlockInfo[] = [];
    let p = start + 12;
    for (const [unpadded, uncompressed] of records) {
      blocks.push({ at: p, unpadded, uncompressed, check });
      p += Math.ceil(unpadded / 4) * 4;
    }
    streams.push(blocks);
    pos = start;
  }
  return streams.reverse().flat();
}

/** The bytes of a minimal xz stream holding one LZMA2 block (no check) for the wasm decoder. */
function rewrap(lzma2: Uint8Array, dictProps: number, uncompressed: number): Uint8Array {
  // Stream header: magic, flags 00 00 (check none), CRC32 of the flags.
  // Block header (12 bytes): size byte 2 ((2 + 1) * 4), flags 00 (one filter, no sizes),
  // filter 0x21 with one property byte, padding, CRC32.
  const header = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x00, 0, 0, 0, 0];
  const block = [0x02, 0x00, FILTER_LZMA2, 0x01, dictProps, 0, 0, 0, 0, 0, 0, 0];
  const unpadded = 12 + lzma2.length;
  const index: number[] = [0x00, 0x01];
  for (const v of [unpadded, uncompressed]) {
    let x = v;
    while (x >= 0x80) {
      index.push((x % 128) | 0x80);
      x = Math.floor(x / 128);
    }
    index.push(x);
  }
  while (index.length % 4 !== 0) index.push(0);
  const indexSize = index.length + 4;
  const padded = Math.ceil(lzma2.length / 4) * 4;
  const out = new Uint8Array(12 + 12 + padded + indexSize + 12);
  out.set(header, 0);
  putLe(out, 8, zlib.crc32(out.subarray(6, 8)));
  out.set(block, 12);
  putLe(out, 20, zlib.crc32(out.subarray(12, 20)));
  out.set(lzma2, 24);
  let at = 24 + padded;
  out.set(index, at);
  putLe(out, at + index.length, zlib.crc32(out.subarray(at, at + index.length)));
  at += indexSize;
  // Stream footer: CRC32 of (backward size, flags), backward size (index size / 4 - 1), flags, 'YZ'.
  putLe(out, at + 4, indexSize / 4 - 1);
  out[at + 10] = FOOTER_MAGIC_0;
  out[at + 11] = FOOTER_MAGIC_1;
  putLe(out, at, zlib.crc32(out.subarray(at + 4, at + 10)));
  return out;
}

/**
 * Decodes `input` block by block through the container walk into `out` (sized by the caller from
 * the indexes) and returns the bytes written. Handles filter chains [LZMA2] and [BCJ, LZMA2] and
 * every check type xz defines names for.
 */
function decodeByBlocks(input: Uint8Array, blocks: readonly BlockInfo[], out: Uint8Array, what: string): number {
  let written = 0;
  for (const b of blocks) {
    const label = `${what} (block at ${b.at})`;
    const bad = (why: string): FormatError => new FormatError(`Invalid xz data in ${label}: ${why}.`);
    const hsize = (input[b.at]! + 1) * 4;
    if (input[b.at] === 0 || b.at + hsize > input.length) throw bad('the block header is missing or cut off');
    if (zlib.crc32(input.subarray(b.at, b.at + hsize - 4)) !== u32le(input, b.at + hsize - 4, 'xz stream')) throw bad('the block header fails its CRC32');
    const flags = input[b.at + 1]!;
    if (flags & 0x3c) throw bad(`the block flags 0x${flags.toString(16)} set reserved bits`);
    const hend = b.at + hsize - 4;
    let at = b.at + 2;
    const sizes: number[] = [];
    for (const bit of [0x40, 0x80]) {
      if ((flags & bit) === 0) continue;
      const r = varint(input, at, hend);
      if (r === undefined) throw bad('a size field of the block header is invalid');
      sizes.push(r[0]);
      at = r[1];
    }
    const filters: { id: number; props: Uint8Array }[] = [];
    for (let f = (flags & 3) + 1; f > 0; f--) {
      const id = varint(input, at, hend);
      const n = id && varint(input, id[1], hend);
      if (id === undefined || n === undefined || n[1] + n[0] > hend) throw bad('a filter of the block header is invalid');
      filters.push({ id: id[0], props: input.subarray(n[1], n[1] + n[0]) });
      at = n[1] + n[0];
    }
    const lzma = filters[filters.length - 1]!;
    const bcj = filters.length === 2 ? filters[0]! : undefined;
    if (lzma.id !== FILTER_LZMA2 || lzma.props.length !== 1 || filters.length > 2 || (bcj !== undefined && BCJ_NAMES[bcj.id] === undefined)) {
      const names = filters.map((f) => BCJ_NAMES[f.id] ?? (f.id === FILTER_LZMA2 ? 'LZMA2' : f.id === 0x03 ? 'delta' : `0x${f.id.toString(16)}`));
      throw new UnsupportedError(
        `Cannot decode ${label}: its filter chain ${names.join(' + ')} is not one aibom decodes (LZMA2, optionally after one BCJ filter); it was not scanned.`,
      );
    }
    if (bcj !== undefined && bcj.props.length !== 0 && bcj.props.length !== 4)
      throw bad(`the ${BCJ_NAMES[bcj.id]} filter has ${bcj.props.length} property bytes`);
    const startOffset = bcj !== undefined && bcj.props.length === 4 ? u32le(bcj.props, 0, 'xz stream') : 0;
    const csize = b.unpadded - hsize - checkSize(b.check);
    if (csize <= 0) throw bad(`its unpadded size ${b.unpadded} leaves no room for data`);
    if ((flags & 0x40 && sizes[0] !== csize) || (flags & 0x80 && sizes[sizes.length - 1] !== b.uncompressed))
      throw bad('the sizes in the block header differ from the index');
    if (written + b.uncompressed > out.length) throw bad(`its ${b.uncompressed} bytes overflow the ${out.length}-byte output`);
    const dataEnd = b.at + hsize + csize;
    // Block: header, compressed data, padding to four bytes, then the check field.
    const checkAt = b.at + Math.ceil(b.unpadded / 4) * 4 - checkSize(b.check);
    if (checkAt + checkSize(b.check) > input.length)
      throw new FormatError(`Invalid xz data in ${label}: the block runs past the end of the input.`, 'truncated');
    const target = out.subarray(written, written + b.uncompressed);
    let n = 0;
    run(rewrap(input.subarray(b.at + hsize, dataEnd), lzma.props[0]!, b.uncompressed), label, (piece) => {
      if (n + piece.length > target.length) throw bad(`it decodes to more than the ${target.length} bytes its index declares`);
      target.set(piece, n);
      n += piece.length;
    });
    if (n !== target.length) throw bad(`it decodes to ${n} bytes where its index declares ${target.length}`);
    if (bcj !== undefined) unBcj(bcj.id, target, startOffset);
    verifyCheck(b.check, input.subarray(checkAt, checkAt + checkSize(b.check)), target, label);
    written += n;
  }
  return written;
}

/**
 * Whether the first block needs the container walk: a SHA-256 (or unknown) check in the stream
 * header, or a filter chain longer than LZMA2 alone in the first block header. Later blocks that do
 * are caught when the direct decoder answers XZ_OPTIONS_ERROR.
 */
function needsWalk(input: Uint8Array): boolean {
  if (input.length < 24 || input[0] !== 0xfd || input[1] !== 0x37 || input[6] !== 0) return false;
  const check = input[7]! & 0x0f;
  if (check !== 0 && check !== 1 && check !== 4) return true;
  const size = input[12]!;
  return size !== 0 && (input[13]! & 3) !== 0;
}

/** Whether an error from the direct decoder is one the container walk may answer. */
function walkMayHelp(err: unknown): boolean {
  return err instanceof XzOptionsError;
}

/**
 * Decodes a complete xz file (one stream or several concatenated, with stream padding) held in
 * memory, synchronously. Output is gathered in one buffer sized from the streams' indexes when they
 * are plausible (grown by doubling otherwise), never beyond `maxOutput` bytes: decoding stops with a
 * LimitError as soon as the output would pass it. Corrupt input or input that ends early is a
 * FormatError (`truncated` for the latter). Filter chains LZMA2 and BCJ + LZMA2 (x86, PowerPC, IA-64,
 * ARM, ARM-Thumb, SPARC, ARM64) are decoded; delta filters and dictionaries above 64 MiB are an
 * UnsupportedError. CRC32, CRC64 and SHA-256 checks are verified. `what` names the data in messages,
 * e.g. `payload operation 12 (REPLACE_XZ)`.
 */
export function decodeXzSync(input: Uint8Array, maxOutput: number, what: string): Uint8Array {
  if (!Number.isSafeInteger(maxOutput) || maxOutput < 0) throw new RangeError(`maxOutput ${maxOutput} is not a byte count.`);
  if (!needsWalk(input)) {
    try {
      return decodeDirect(input, maxOutput, what);
    } catch (err) {
      if (!walkMayHelp(err)) throw err;
    }
  }
  const blocks = locateBlocks(input, what);
  const total = blocks.reduce((sum, b) => sum + b.uncompressed, 0);
  if (total > maxOutput)
    throw new LimitError(
      `Decoding ${what} stopped before it began: its indexes declare ${total} bytes, more than the ${maxOutput}-byte limit.`,
      'maxDecompressedBytes',
    );
  const out = new Uint8Array(total);
  decodeByBlocks(input, blocks, out, what);
  return out;
}

function decodeDirect(input: Uint8Array, maxOutput: number, what: string): Uint8Array {
  // The indexes size the buffer when what they declare is plausible (a lying index must not make us
  // allocate up to maxOutput for a tiny input); otherwise the buffer starts small and doubles.
  const hint = xzDeclaredSize(input);
  const plausible = hint !== undefined && hint <= maxOutput && hint <= Math.max(64 * 1024 * 1024, input.length * 64);
  let cap = plausible ? hint : Math.min(maxOutput, Math.max(64 * 1024, input.length * 4));
  let out = new Uint8Array(cap);
  let len = 0;
  run(input, what, (piece) => {
    if (len + piece.length > maxOutput) {
      throw new LimitError(`Decoding ${what} stopped at ${len} bytes: its output passes the ${maxOutput}-byte limit.`, 'maxDecompressedBytes');
    }
    if (len + piece.length > cap) {
      cap = Math.min(maxOutput, Math.max(cap * 2, len + piece.length));
      const grown = new Uint8Array(cap);
      grown.set(out.subarray(0, len));
      out = grown;
    }
    out.set(piece, len);
    len += piece.length;
  });
  if (len === cap) return out;
  // Keep a view when little is wasted; copy when the buffer is mostly empty.
  return len >= cap * 0.75 ? out.subarray(0, len) : out.slice(0, len);
}

/**
 * Decodes a complete xz stream into `out` (squashfs blocks: each block is one xz stream whose output
 * is at most the block size) and returns the bytes written. Output that would overflow `out` is a
 * FormatError: the container declared a smaller block. Filters, checks and other errors as for
 * `decodeXzSync`.
 */
export function decodeXzInto(input: Uint8Array, out: Uint8Array, what: string): number {
  if (!needsWalk(input)) {
    let len = 0;
    try {
      run(input, what, (piece) => {
        if (len + piece.length > out.length) {
          throw new FormatError(`Invalid xz data in ${what}: it decodes to more than the ${out.length} bytes expected.`);
        }
        out.set(piece, len);
        len += piece.length;
      });
      return len;
    } catch (err) {
      if (!walkMayHelp(err)) throw err;
    }
  }
  const blocks = locateBlocks(input, what);
  const total = blocks.reduce((sum, b) => sum + b.uncompressed, 0);
  if (total > out.length) throw new FormatError(`Invalid xz data in ${what}: its indexes declare ${total} bytes, more than the ${out.length} bytes expected.`);
  return decodeByBlocks(input, blocks, out, what);
}
