import xzDecompress from 'xz-decompress';
import { FormatError, UnsupportedError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { compressedEntries, decoderError, memberName } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

// xz-decompress is a webpack UMD bundle: Node sees no named exports, so take the class off the default.
const { XzReadableStream } = xzDecompress;

/** 'FD 37 7A 58 5A 00' stream header magic. */
const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const INPUT_CHUNK = 1024 * 1024;
/** LZMA2 filter id in a block header's filter flags. */
const FILTER_LZMA2 = 0x21;

const SUFFIXES: Readonly<Record<string, string>> = { '.txz': '.tar', '.xz': '' };

/** xz-embedded return codes (xz.h), as reported in xz-decompress's error message. */
const XZ_ERRORS: Record<number, string> = {
  2: 'unsupported integrity check',
  3: 'out of memory',
  4: "dictionary above the decoder's 64 MiB limit",
  5: 'not xz data',
  6: 'unsupported options (filter or dictionary)',
  7: 'corrupt data',
  8: 'input ended early',
};

function xzError(err: unknown, what: string): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const m = /error code (\d+)/.exec(message);
  if (m === null) return decoderError(err, what);
  const code = Number(m[1]);
  const text = XZ_ERRORS[code] ?? `error ${code}`;
  if (code === 6 || code === 2 || code === 4) return new UnsupportedError(`Cannot decode ${what}: ${text} (xz-embedded code ${code}).`);
  return new FormatError(`Invalid xz data in ${what}: ${text} (xz-embedded code ${code}).`, code === 8 ? 'truncated' : 'format');
}

/** Reads a multibyte integer (xz spec 1.2) at `at`; returns [value, next]. */
function varint(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (at + i >= b.length) throw new FormatError(`An xz block header integer at byte ${at} runs past the header.`);
    const byte = b[at + i] as number;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return [value, at + i + 1];
  }
  throw new FormatError(`An xz block header integer at byte ${at} is longer than 9 bytes.`);
}

/**
 * Largest LZMA2 dictionary xz-decompress accepts: its WebAssembly build of xz-embedded is set up
 * with a 64 MiB memory limit (that of `xz -9`) and fails with XZ_MEMLIMIT_ERROR above it.
 */
const XZ_DICT_MAX = 64 * 1024 * 1024;

/**
 * Checks the first block header's LZMA2 dictionary size before any decoding, so that a file made
 * with a larger dictionary is reported as such rather than as corrupt. Later blocks and streams are
 * left to the decoder, whose own limit then answers (code 4, mapped to UnsupportedError).
 */
function checkDictionary(src: ByteSource, what: string): void {
  // Stream header: magic (6), stream flags (2), CRC32 (4); the first block header follows at 12.
  if (src.size < 13) return;
  const sizeByte = src.read(12, 1)[0] as number;
  if (sizeByte === 0) return; // an index indicator: the stream has no blocks
  const headerSize = (sizeByte + 1) * 4;
  if (12 + headerSize > src.size) return; // the decoder reports the truncation
  const h = src.read(12, headerSize);
  const flags = h[1] as number;
  const filters = (flags & 0x03) + 1;
  let at = 2;
  if (flags & 0x40) at = varint(h, at)[1]; // compressed size present
  if (flags & 0x80) at = varint(h, at)[1]; // uncompressed size present
  for (let f = 0; f < filters; f++) {
    const [id, a] = varint(h, at);
    const [propsSize, b] = varint(h, a);
    if (id === FILTER_LZMA2 && propsSize === 1) {
      const bits = (h[b] as number) & 0x3f;
      if (bits > 40) throw new FormatError(`The xz LZMA2 dictionary size code ${bits} of ${what} is above the maximum 40.`);
      const dict = bits === 40 ? 0xffffffff : (2 | (bits & 1)) * 2 ** (Math.floor(bits / 2) + 11);
      if (dict > XZ_DICT_MAX) {
        throw new UnsupportedError(`The xz data of ${what} uses a ${dict}-byte LZMA2 dictionary; the xz decoder handles up to ${XZ_DICT_MAX} bytes (xz -9).`);
      }
    }
    at = b + propsSize;
  }
}

/**
 * Decodes an xz file (all concatenated streams) with xz-decompress, a WebAssembly build of
 * xz-embedded behind a web ReadableStream. Input is pulled from the source on demand, one copied
 * 1 MiB piece at a time; output arrives in pieces of the decoder's buffer size. Leaving early cancels
 * the stream, which frees the decoder context and the library's global lock (only one xz context
 * runs at a time, so an abandoned, uncancelled stream would stall every later xz decode).
 */
async function* unxz(src: ByteSource, what: string): AsyncGenerator<Uint8Array> {
  // Stream header (12) + footer (12): xz-decompress fails with a TypeError on input that ends at once.
  if (src.size < 24) throw new FormatError(`The xz data of ${what} is ${src.size} bytes, shorter than a stream header and footer.`, 'truncated');
  checkDictionary(src, what);
  let pos = 0;
  const input = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pos >= src.size) {
          controller.close();
          return;
        }
        const n = Math.min(INPUT_CHUNK, src.size - pos);
        controller.enqueue(Uint8Array.prototype.slice.call(src.read(pos, n)));
        pos += n;
      },
    },
    { highWaterMark: 0 },
  );
  const reader = new XzReadableStream(input).getReader();
  let settled = false;
  let idle = 0;
  try {
    for (;;) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (err) {
        settled = true; // an errored stream has already freed its context and lock
        throw xzError(err, what);
      }
      if (r.done) {
        settled = true;
        return;
      }
      if (r.value.length === 0) {
        // Guard against a decoder spinning on exhausted input without an error.
        if (pos >= src.size && ++idle > 64) throw new FormatError(`The xz data of ${what} ends before its stream does.`, 'truncated');
        continue;
      }
      idle = 0;
      yield r.value;
    }
  } finally {
    if (!settled) await reader.cancel().catch(() => undefined);
  }
}

/** xz files; a .tar.xz lists the tar's members directly. */
export const xz: ContainerReader = {
  id: 'xz',
  description: 'xz streams (LZMA2, via the xz-embedded WebAssembly decoder); a compressed tar is listed as one level',
  kind: 'compression',
  extensions: ['.xz', '.txz'],
  signatures: [{ offset: 0, magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], note: 'xz stream header' }],
  match(probe: Probe): boolean {
    const h = probe.head;
    return h.length >= 12 && MAGIC.every((b, i) => h[i] === b) && h[6] === 0 && ((h[7] as number) & 0xf0) === 0;
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const name = memberName(ctx.name, SUFFIXES);
    const what = `xz stream ${JSON.stringify(ctx.name)}`;
    yield* compressedEntries(src, ctx, { format: 'xz', name, open: () => unxz(src, what) });
  },
};
