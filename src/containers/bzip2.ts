import { bunzip2Pieces, isBzip2StreamStart } from '../decoders/bzip2.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';
import { allZero, compressedEntries, memberName } from './compressed.js';
import type { ContainerContext, ContainerEntry, ContainerReader } from './types.js';

const SUFFIXES: Readonly<Record<string, string>> = { '.tbz2': '.tar', '.tbz': '.tar', '.tb2': '.tar', '.bzip2': '', '.bz2': '' };

/** One turn of the event loop: the decoder is synchronous and a large stream must not starve others. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The streaming decoder behind the bzip2 reader: `bunzip2Pieces` (decoders/bzip2.ts), giving the
 * event loop a turn every 16 pieces. Zero padding after the last stream is ignored; other bytes end
 * the decode with a warning.
 */
async function* bunzip2(src: ByteSource, ctx: ContainerContext, report: boolean): AsyncGenerator<Uint8Array> {
  const what = `bzip2 stream ${JSON.stringify(ctx.name)}`;
  const onTrailing = (offset: number): void => {
    if (report && !allZero(src, offset)) {
      ctx.problem({
        severity: 'warning',
        code: 'format',
        message: `The ${src.size - offset} bytes after the bzip2 data (from offset ${offset}) start no bzip2 stream; ignored.`,
      });
    }
  };
  let pieces = 0;
  for (const piece of bunzip2Pieces(src, what, onTrailing)) {
    yield piece;
    if ((++pieces & 15) === 0) await yieldToEventLoop();
  }
}

/** bzip2 files, multi-stream; a .tar.bz2 lists the tar's members directly. */
export const bzip2: ContainerReader = {
  id: 'bzip2',
  description: 'bzip2 streams (multi-stream, block and stream CRCs checked); a compressed tar is listed as one level',
  kind: 'compression',
  extensions: ['.bz2', '.tbz2', '.tbz'],
  signatures: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ offset: 0, magic: `BZh${n}`, note: `stream header, ${n}00k blocks` })),
  match(probe: Probe): boolean {
    const h = probe.head;
    // 'BZh' + block size '1'-'9', then the first block's magic 31 41 59 26 53 59.
    return h.length >= 10 && isBzip2StreamStart(h) && h[4] === 0x31 && h[5] === 0x41 && h[6] === 0x59 && h[7] === 0x26 && h[8] === 0x53 && h[9] === 0x59;
  },
  async *entries(src: ByteSource, ctx: ContainerContext): AsyncGenerator<ContainerEntry> {
    const name = memberName(ctx.name, SUFFIXES);
    yield* compressedEntries(src, ctx, { format: 'bzip2', name, open: (report) => bunzip2(src, ctx, report) });
  },
};
