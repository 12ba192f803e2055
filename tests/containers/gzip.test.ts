import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { gzip } from '../../src/containers/gzip.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { compressedReaderTests } from '../helpers/compressed-cases.js';
import { listEntries, makeContext, python, run, sha256Bytes } from '../helpers/container-context.js';

compressedReaderTests({ reader: gzip, tool: 'gzip', ext: '.gz', tarShort: '.tgz', compressArgs: ['-c', '-n'], trailingGarbageTolerated: true }, ({ dir }) => {
  it('names an unknown-suffix member from the FNAME field, sanitised to one safe component', async () => {
    const file = path.join(dir(), 'weights.onnx');
    fs.writeFileSync(file, 'onnx bytes');
    run('gzip', ['-k', '-N', '-f', file]); // stores FNAME 'weights.onnx'
    const blob = fs.readFileSync(`${file}.gz`);
    const t = makeContext('firmware-part-7'); // no .gz suffix: the header's name is used
    expect((await listEntries(gzip, new BufferSource(blob), t)).map((e) => e.path)).toEqual(['weights.onnx']);
    // A hostile FNAME is cut to its last component.
    const evil = path.join(dir(), 'evil.bin');
    python("import gzip,sys\nwith open(sys.argv[1],'wb') as f:\n  with gzip.GzipFile(filename='../../etc/passwd', mode='wb', fileobj=f) as g: g.write(b'x')", [
      evil,
    ]);
    const e = makeContext('blob');
    expect((await listEntries(gzip, new BufferSource(fs.readFileSync(evil)), e)).map((x) => x.path)).toEqual(['passwd']);
  });

  it('checks each member trailer: a corrupted CRC-32 is a FormatError', async () => {
    const good = zlib.gzipSync(Buffer.from('payload '.repeat(100)));
    const bad = Buffer.from(good);
    bad.writeUInt32LE((bad.readUInt32LE(bad.length - 8) ^ 1) >>> 0, bad.length - 8);
    const t = makeContext('bad.gz');
    const list = await listEntries(gzip, new BufferSource(bad), t);
    expect(list[0]?.sha256).toBe('error:format');
    expect(list).toHaveLength(1);
    await expect(
      gzip
        .entries(new BufferSource(bad.subarray(0, 5)), t.ctx)
        [Symbol.asyncIterator]()
        .next(),
    ).rejects.toBeInstanceOf(FormatError);
    expect(sha256Bytes(zlib.gunzipSync(good))).toBe((await listEntries(gzip, new BufferSource(good), makeContext('good.gz')))[0]?.sha256);
  });
});
