import crypto from 'node:crypto';
import { expect, it } from 'vitest';
import { xz } from '../../src/containers/xz.js';
import { UnsupportedError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { compressedReaderTests } from '../helpers/compressed-cases.js';
import { listEntries, makeContext, runBuffer, sha256Bytes } from '../helpers/container-context.js';

compressedReaderTests({ reader: xz, tool: 'xz', ext: '.xz', tarShort: '.txz', compressArgs: ['-c', '-T1'], trailingGarbageTolerated: false }, () => {
  it('accepts the 64 MiB dictionary of xz -9 and refuses a larger one before decoding, naming it', async () => {
    const data = crypto.randomBytes(10_000);
    const ok = runBuffer('xz', ['-c', '--lzma2=dict=64MiB'], data);
    expect((await listEntries(xz, new BufferSource(ok), makeContext('ok.xz')))[0]?.sha256).toBe(sha256Bytes(data));
    const big = runBuffer('xz', ['-c', '--lzma2=dict=256MiB'], data);
    const entries = [];
    for await (const e of xz.entries(new BufferSource(big), makeContext('big-dict.xz').ctx)) entries.push(e);
    await expect(entries[0]?.open()).rejects.toSatisfy((e) => e instanceof UnsupportedError && /268435456-byte LZMA2 dictionary/.test(e.message));
  });
});
