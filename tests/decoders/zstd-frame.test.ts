import { describe, expect, it } from 'vitest';
import { readZstdBlockHeader, readZstdFrameHeader, zstdFrameEnd } from '../../src/decoders/zstd-frame.js';
import { FormatError, UnsupportedError } from '../../src/errors.js';
import { runBuffer } from '../helpers/container-context.js';
import { hasTool } from '../helpers/corpus.js';

describe('zstd frame headers', () => {
  it.skipIf(!hasTool('zstd'))('reads what the zstd tool writes: content size, checksum, and where the frame ends', () => {
    const data = Buffer.alloc(300_000, 7);
    const frame = runBuffer('zstd', ['-c', '-q', '--stream-size=300000'], data);
    const h = readZstdFrameHeader(frame, 'test');
    expect(h.contentSize).toBe(300_000);
    expect(h.checksum).toBe(true);
    expect(zstdFrameEnd(frame, 0, h, 'test')).toBe(frame.length);
    // Cut inside the last block or checksum: truncated, never an out-of-bounds read.
    expect(() => zstdFrameEnd(frame.subarray(0, frame.length - 2), 0, h, 'test')).toThrow(expect.objectContaining({ code: 'truncated' }));
  });

  it('computes the window of a descriptor and of a single-segment frame', () => {
    // Descriptor 0x00 (no content size, not single), window descriptor 0xA3: 2^(10+20) + 3/8 of it.
    expect(readZstdFrameHeader(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa3), 't').window).toBe(2 ** 30 + 3 * 2 ** 27);
    // Single segment, 2-byte content size 0x0100 (+256).
    const single = readZstdFrameHeader(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0x01), 't');
    expect(single).toMatchObject({ singleSegment: true, contentSize: 512, window: 512, headerSize: 7 });
  });

  it('refuses the reserved bit, a dictionary, a cut header, and the reserved block type, naming them', () => {
    expect(() => readZstdFrameHeader(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x08, 0), 'x')).toThrow(/reserved descriptor bit/);
    expect(() => readZstdFrameHeader(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x01, 0, 5), 'x')).toThrow(UnsupportedError);
    expect(() => readZstdFrameHeader(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0, 1, 2), 'x')).toThrow(expect.objectContaining({ code: 'truncated' }));
    expect(() => readZstdFrameHeader(Uint8Array.of(0, 0, 0, 0, 0, 0), 'x')).toThrow(FormatError);
    expect(() => readZstdBlockHeader(Uint8Array.of(0x07, 0, 0), 0, 'x')).toThrow(/reserved block type 3/);
    expect(() => readZstdBlockHeader(Uint8Array.of(0x01), 0, 'x')).toThrow(expect.objectContaining({ code: 'truncated' }));
  });
});
