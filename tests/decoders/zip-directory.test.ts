import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashMember, locateCentralDirectory, readZipDirectory } from '../../src/decoders/zip-directory.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { hasTool } from '../helpers/corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-zipdir-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('readZipDirectory', () => {
  // One reader for every format that reads a zip itself (TFLite associated files, PyTorch, Keras v3,
  // MediaPipe): zip64 end records and zip64 extra fields included, as `zip -fz` writes them.
  it.skipIf(!hasTool('zip'))('reads a zip64 archive written by zip -fz, with the same bytes unzip extracts', () => {
    const a = crypto.randomBytes(3000);
    fs.writeFileSync(path.join(tmp, 'a.bin'), a);
    fs.writeFileSync(path.join(tmp, 'b.txt'), 'text '.repeat(500));
    const zip = path.join(tmp, 'z64.zip');
    execFileSync('zip', ['-q', '-fz', zip, 'a.bin', 'b.txt'], { cwd: tmp });
    expect(fs.readFileSync(zip).includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true); // a zip64 record is there
    const src = FileSource.open(zip);
    try {
      const loc = locateCentralDirectory(src);
      expect(loc?.start).toBe(0);
      const dir = readZipDirectory(src)!;
      expect(dir.members.map((m) => [m.name, m.zip64])).toEqual([
        ['a.bin', false],
        ['b.txt', false],
      ]);
      expect(hashMember(src, dir, dir.members[0]!)).toEqual({ sha256: crypto.createHash('sha256').update(a).digest('hex'), size: 3000, crcOk: true });
      expect(hashMember(src, dir, dir.members[1]!).size).toBe(2500);
    } finally {
      src.close();
    }
  });

  it('refuses an End Of Central Directory record that defers to a zip64 record no locator names', () => {
    const eocd = new Uint8Array(22);
    const v = new DataView(eocd.buffer);
    v.setUint32(0, 0x06054b50, true);
    v.setUint16(8, 0xffff, true);
    v.setUint16(10, 0xffff, true);
    v.setUint32(12, 0xffffffff, true);
    v.setUint32(16, 0xffffffff, true);
    expect(() => readZipDirectory(new BufferSource(eocd))).toThrow(/defers to a zip64 record, but no zip64 locator precedes it/);
  });

  it('returns undefined for bytes with no End Of Central Directory record', () => {
    expect(readZipDirectory(new BufferSource(crypto.randomBytes(500)))).toBeUndefined();
  });
});
