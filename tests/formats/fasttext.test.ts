import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { fasttext, type FasttextMetadata } from '../../src/formats/fasttext.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { fasttextBytes } from '../builders/fasttext-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';
import { hasTool } from '../helpers/corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-fasttext-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const matches = (bytes: Uint8Array): boolean => fasttext.match(createProbe(new BufferSource(bytes), 'model.bin'));
async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await fasttext.inspect(src, createProbe(src, 'model.bin'), ctx);
  expectConforms(fasttext, info.metadata);
  return info;
}

describe('fasttext', () => {
  it('reads a supervised model: arguments, dictionary, labels, matrices', async () => {
    const bytes = fasttextBytes();
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.metadata).toEqual({
      version: 12,
      model: 'supervised',
      loss: 'softmax',
      dim: 4,
      epoch: 25,
      wordNgrams: 2,
      minn: 0,
      maxn: 0,
      bucket: 10,
      words: 3,
      labels: 2,
      tokens: 1234,
      labelNames: ['__label__pos', '__label__neg'],
      pruned: false,
      quantized: false,
      inputRows: 13,
      outputRows: 2,
    } satisfies FasttextMetadata);
    expect(fasttext.card(info.metadata)).toMatchObject({
      task: 'text-classification',
      outputs: [{ name: 'labels', shape: [2] }],
      parameters: 60,
      quantized: false,
    });
  });

  it('reads a quantized, pruned model and skip-gram vectors', async () => {
    const q = await inspect(fasttextBytes({ quantized: true, pruneidx: 2 }));
    expect(q.metadata).toMatchObject({ quantized: true, pruned: true, inputRows: 13 });
    expect(q.metadata).not.toHaveProperty('outputRows');
    expect(fasttext.card(q.metadata)).toMatchObject({ quantized: true, quantization: 'product' });
    const sg = await inspect(fasttextBytes({ model: 2, loss: 2, labels: [], dim: 8, outputRows: 3 }));
    expect(fasttext.card(sg.metadata)).toMatchObject({ task: 'word-embedding', architecture: 'skipgram', outputs: [{ name: 'vector', shape: [8] }] });
  });

  it('refuses inconsistent counts, bad enums, truncation and an endless word', async () => {
    await expect(inspect(fasttextBytes({ nwords: 2, nlabels: 3 }))).rejects.toThrow(/the dictionary holds 3 words and 2 labels, not the 2 and 3 declared/);
    await expect(inspect(fasttextBytes({ nwords: 2 }))).rejects.toThrow(/nwords 2 \+ nlabels 2 at offsets 68 and 72 is not the dictionary size 5/);
    await expect(inspect(fasttextBytes({ loss: 9 as 1 }))).rejects.toThrow(/field loss at offset 32 is 9/);
    const bytes = fasttextBytes();
    await expect(inspect(bytes.subarray(0, 100))).rejects.toThrow(FormatError);
    await expect(inspect(bytes.subarray(0, bytes.length - 4))).rejects.toThrow(/output matrix data|runs past|remain/);
    const endless = fasttextBytes({ words: ['x'.repeat(70_000)] });
    await expect(inspect(endless)).rejects.toThrow(/longer than 65536 bytes without its NUL/);
    const absurd = fasttextBytes();
    new DataView(absurd.buffer).setInt32(64, 2_000_000_000, true);
    await expect(inspect(absurd)).rejects.toThrow(/field dictionary size at offset 64 is 2000000000/);
  });

  it('does not match other versions or bytes', () => {
    expect(matches(fasttextBytes({ version: 13 }))).toBe(false);
    expect(matches(new Uint8Array([0xba, 0x16, 0x4f, 0x2f]))).toBe(false);
    expect(matches(new Uint8Array(64))).toBe(false);
  });

  it.runIf(hasTool('fasttext'))('reads models trained and quantized by the fasttext tool (Debian fasttext)', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(`__label__c${i % 3} w${i} x${i * 7} y${i * 13}`);
    fs.writeFileSync(path.join(tmp, 'train.txt'), `${lines.join('\n')}\n`);
    run('fasttext', [
      'supervised',
      '-input',
      path.join(tmp, 'train.txt'),
      '-output',
      path.join(tmp, 'm'),
      '-dim',
      '8',
      '-epoch',
      '1',
      '-minCount',
      '1',
      '-thread',
      '1',
    ]);
    run('fasttext', ['quantize', '-input', path.join(tmp, 'train.txt'), '-output', path.join(tmp, 'm'), '-thread', '1']);
    const bin = await inspect(new Uint8Array(fs.readFileSync(path.join(tmp, 'm.bin'))));
    expect(bin.metadata).toMatchObject({ model: 'supervised', dim: 8, words: 901, labels: 3, quantized: false, outputRows: 3 });
    expect([...(bin.metadata as FasttextMetadata).labelNames].sort()).toEqual(['__label__c0', '__label__c1', '__label__c2']);
    const ftz = await inspect(new Uint8Array(fs.readFileSync(path.join(tmp, 'm.ftz'))));
    expect(ftz.metadata).toMatchObject({ quantized: true, labels: 3 });
    const inv = inventorySchema.parse(await scan([path.join(tmp, 'm.ftz')])) as Inventory;
    expect(inv.components.filter((c) => c.kind === 'model').map((c) => c.kind === 'model' && c.model.format)).toEqual(['fasttext']);
  });
});
