import { expect, it } from 'vitest';
import { bzip2 } from '../../src/containers/bzip2.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { compressedReaderTests } from '../helpers/compressed-cases.js';
import { listEntries, makeContext, runBuffer } from '../helpers/container-context.js';

compressedReaderTests({ reader: bzip2, tool: 'bzip2', ext: '.bz2', tarShort: '.tbz2', compressArgs: ['-c'], trailingGarbageTolerated: true }, () => {
  it('checks block CRCs: a flipped bit in the data is a FormatError', async () => {
    const good = runBuffer('bzip2', ['-c'], Buffer.from('some text to compress '.repeat(500)));
    const bad = Buffer.from(good);
    bad[bad.length - 20] = (bad[bad.length - 20] as number) ^ 0x10;
    const t = makeContext('bad.bz2');
    const list = await listEntries(bzip2, new BufferSource(bad), t).catch((e: unknown) => [{ sha256: `error:${(e as { code: string }).code}` }]);
    expect(list[0]?.sha256).toMatch(/^error:(format|truncated)$/);
  });
});
