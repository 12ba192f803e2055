import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { BinaryReader, u16be, u16le, u32be, u32le, u64le, u64leBig, u8, uintle } from '../../src/io/binary.js';

describe('binary reads', () => {
  const b = Uint8Array.of(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88);

  it('reads little- and big-endian integers, unsigned', () => {
    expect(u8(b, 7, 't')).toBe(0x88);
    expect(u16le(b, 0, 't')).toBe(0x0201);
    expect(u16be(b, 0, 't')).toBe(0x0102);
    expect(u32le(b, 4, 't')).toBe(0x88070605);
    expect(u32be(b, 4, 't')).toBe(0x05060788);
    expect(u64le(b, 0, 't')).toBe(0x88070605 * 2 ** 32 + 0x04030201);
    expect(u64leBig(b, 0, 't')).toBe(0x8807060504030201n);
    expect(uintle(b, 1, 3, 't')).toBe(0x040302);
  });

  it('throws a truncated FormatError naming the structure, offset and sizes instead of reading past the end', () => {
    expect(() => u32le(b, 6, 'test header')).toThrow(new FormatError('Invalid test header: offset 6 needs 4 bytes, 2 are available.', 'truncated'));
    expect(() => u16le(b, -1, 'x')).toThrow(expect.objectContaining({ code: 'truncated' }));
    expect(() => u8(b, 8, 'x')).toThrow(FormatError);
    expect(() => u32le(b, Number.NaN, 'x')).toThrow(FormatError);
  });

  it('a BinaryReader names the field and gives the offset in the file', () => {
    const r = new BinaryReader(new Uint8Array(56), 'ext4 superblock', 1024);
    expect(r.u16le(0x38 - 2, 's_max_mnt_count')).toBe(0);
    expect(() => r.u32le(60, 's_inodes_count')).toThrow('Invalid ext4 superblock: field s_inodes_count at offset 1084 needs 4 bytes, 0 are available.');
    expect(() => r.bytesAt(50, 16)).toThrow('Invalid ext4 superblock: offset 1074 needs 16 bytes, 6 are available.');
  });
});
