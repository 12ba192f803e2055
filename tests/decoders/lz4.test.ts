import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeLz4Block } from '../../src/decoders/lz4.js';
import { FormatError } from '../../src/errors.js';
import { hasTool } from '../helpers/corpus.js';

// Reference: the `lz4` tool writes the LZ4 frame format; with -B4 -BI? no: we take the blocks out of
// a frame written with --no-frame-crc and block checksums off, independent blocks (-BD off).
function frameBlocks(frame: Uint8Array): { data: Uint8Array; compressed: boolean }[] {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  expect(dv.getUint32(0, true)).toBe(0x184d2204);
  const flg = frame[4]!;
  let p = 6 + ((flg & 0x08) !== 0 ? 8 : 0) + 1; // FLG BD [content size] HC
  const blocks: { data: Uint8Array; compressed: boolean }[] = [];
  for (;;) {
    const word = dv.getUint32(p, true);
    p += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    blocks.push({ data: frame.subarray(p, p + size), compressed: (word & 0x80000000) === 0 });
    p += size + ((flg & 0x10) !== 0 ? 4 : 0);
  }
  return blocks;
}

describe.skipIf(!hasTool('lz4'))('LZ4 block decoder against the lz4 tool', () => {
  it.each([
    ['text', Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(3000))],
    ['runs', Buffer.concat([Buffer.alloc(100_000, 7), Buffer.from('abcabcabcabc'.repeat(999))])],
    ['random', crypto.randomBytes(70_000)],
  ])('decodes %s exactly', (_name, input) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-lz4-'));
    try {
      fs.writeFileSync(path.join(dir, 'in'), input);
      execFileSync('lz4', ['-q', '-f', '-B4', '--no-frame-crc', '-BI', path.join(dir, 'in'), path.join(dir, 'in.lz4')]);
      const blocks = frameBlocks(fs.readFileSync(path.join(dir, 'in.lz4')));
      const parts: Buffer[] = [];
      for (const b of blocks) {
        if (!b.compressed) {
          parts.push(Buffer.from(b.data));
          continue;
        }
        const out = new Uint8Array(64 * 1024);
        const n = decodeLz4Block(b.data, out);
        parts.push(Buffer.from(out.subarray(0, n)));
      }
      expect(Buffer.concat(parts).equals(input)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('LZ4 block decoder on hostile input', () => {
  it('rejects a match reaching before the output start', () => {
    // token: 1 literal, match len 4; literal 'a'; distance 5 > 1 byte written.
    expect(() => decodeLz4Block(Uint8Array.from([0x10, 0x61, 0x05, 0x00]), new Uint8Array(16))).toThrow(/match distance 5/);
  });
  it('rejects output overflow and truncated lengths', () => {
    expect(() => decodeLz4Block(Uint8Array.from([0xf0, 0xff, 0xff]), new Uint8Array(16))).toThrow(FormatError);
    expect(() => decodeLz4Block(Uint8Array.from([0x50, 1, 2, 3, 4, 5]), new Uint8Array(3))).toThrow(/overflow/);
  });
  it('never throws anything but FormatError on random input', () => {
    let seed = 1;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 3000; i++) {
      const b = Uint8Array.from({ length: 1 + (i % 200) }, rnd);
      try {
        decodeLz4Block(b, new Uint8Array(4096));
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
      }
    }
  });
});
