import crypto from 'node:crypto';
import { expect, it } from 'vitest';
import { zstd } from '../../src/containers/zstd.js';
import { LimitError, UnsupportedError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { compressedReaderTests } from '../helpers/compressed-cases.js';
import { listEntries, makeContext, runBuffer, sha256Bytes } from '../helpers/container-context.js';

compressedReaderTests({ reader: zstd, tool: 'zstd', ext: '.zst', tarShort: '.tzst', compressArgs: ['-q', '-c'], trailingGarbageTolerated: true }, () => {
  it('refuses a 1 GiB window (zstd --long=30 from a pipe) before allocating it', async () => {
    const data = crypto.randomBytes(10_000);
    const long = runBuffer('zstd', ['-q', '-c', '--long=30'], data);
    const t = makeContext('long.zst');
    const entries = [];
    for await (const e of zstd.entries(new BufferSource(long), t.ctx)) entries.push(e);
    await expect(entries[0]?.open()).rejects.toSatisfy(
      (e) => e instanceof LimitError && e.limit === 'memoryBudget' && /1073741824-byte window/.test(e.message),
    );
  });

  it('skips skippable frames and refuses frames that need a dictionary', async () => {
    const payload = Buffer.from('between skippable frames');
    const frame = runBuffer('zstd', ['-q', '-c'], payload);
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('skip')]);
    const t = makeContext('s.zst');
    const list = await listEntries(zstd, new BufferSource(Buffer.concat([frame, skippable, frame])), t);
    expect(list[0]?.sha256).toBe(sha256Bytes(Buffer.concat([payload, payload])));
    // Magic, descriptor 0x01 (1-byte dictionary id), window descriptor, dictionary id 5, an empty last raw block.
    const dict = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00]);
    const entries = [];
    for await (const e of zstd.entries(new BufferSource(dict), makeContext('d.zst').ctx)) entries.push(e);
    await expect(entries[0]?.open()).rejects.toBeInstanceOf(UnsupportedError);
  });
});
