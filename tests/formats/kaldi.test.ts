import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kaldi, type KaldiMetadata } from '../../src/formats/kaldi.js';
import type { InspectContext, ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { gmmBytes, nnet3Bytes } from '../builders/kaldi-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-kaldi-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const matches = (bytes: Uint8Array): boolean => kaldi.match(createProbe(new BufferSource(bytes), 'final.mdl'));
async function inspect(bytes: Uint8Array, ctx: InspectContext = { limits: DEFAULT_LIMITS }): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await kaldi.inspect(src, createProbe(src, 'final.mdl'), ctx);
  expectConforms(kaldi, info.metadata);
  return info;
}

describe('kaldi', () => {
  it('reads an nnet3 final.mdl: inputs, outputs, component types; tree and graph beside it are parts', async () => {
    const bytes = nnet3Bytes();
    expect(matches(bytes)).toBe(true);
    const present = ['tree', 'graph/HCLG.fst'];
    const info = await inspect(bytes, {
      limits: DEFAULT_LIMITS,
      sibling: async (n) => (present.includes(n) ? new BufferSource(new Uint8Array(1)) : undefined),
    });
    expect(info.metadata).toEqual({
      binary: true,
      transitionModel: true,
      model: 'nnet3',
      inputs: [
        { name: 'input', dim: 40 },
        { name: 'ivector', dim: 100 },
      ],
      outputs: ['output', 'output-xent'],
      componentNodes: 4,
      components: { BatchNormComponent: 1, NaturalGradientAffineComponent: 2, RectifiedLinearComponent: 1 },
    } satisfies KaldiMetadata);
    expect(info.parts).toEqual([
      { path: 'tree', role: 'decision-tree' },
      { path: 'graph/HCLG.fst', role: 'decoding-graph' },
    ]);
    expect(kaldi.card(info.metadata)).toMatchObject({
      task: 'speech-recognition',
      inputs: [{ name: 'input', shape: [null, 40] }, { name: 'ivector' }],
      outputs: [{ name: 'output' }, { name: 'output-xent' }],
    });
  });

  it('reads a raw nnet3 network and a GMM model', async () => {
    expect((await inspect(nnet3Bytes({ transition: false }))).metadata).toMatchObject({ transitionModel: false, model: 'nnet3' });
    expect((await inspect(gmmBytes(39, 2000))).metadata).toMatchObject({ model: 'gmm', gmm: { dimension: 39, pdfs: 2000 }, components: {} });
  });

  it('refuses an nnet3 without nodes, a negative count, a cut transition model', async () => {
    await expect(inspect(nnet3Bytes({ inputs: [], outputs: [] }))).rejects.toThrow(/has no input-node or output-node line/);
    const g = gmmBytes();
    const at = Buffer.from(g).indexOf('<NUMPDFS> ') + 11;
    g.set([0xff, 0xff, 0xff, 0xff], at);
    await expect(inspect(g)).rejects.toThrow(/<NUMPDFS> at offset \d+ holds -1, a negative count/);
    const bytes = nnet3Bytes();
    await expect(inspect(bytes.subarray(0, 40))).rejects.toThrow(/no <\/TransitionModel>/);
  });

  it('does not match other bytes', () => {
    expect(matches(new TextEncoder().encode('\0B<Fst> '))).toBe(false);
    expect(matches(new TextEncoder().encode('<TransitionModel>'))).toBe(false);
    expect(matches(new TextEncoder().encode('transition model notes'))).toBe(false);
  });

  it('is found in a Vosk-like folder as one model (conf/ and graph/ beside am/ are not linked)', async () => {
    const root = path.join(tmp, 'vosk-model-small');
    for (const d of ['am', 'conf', 'graph']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(path.join(root, 'am', 'final.mdl'), nnet3Bytes());
    fs.writeFileSync(path.join(root, 'conf', 'mfcc.conf'), '--sample-frequency=16000\n');
    fs.writeFileSync(path.join(root, 'graph', 'HCLr.fst'), new Uint8Array(16));
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((c) => c.kind === 'model' && [path.relative(root, c.locations[0]!.path), c.model.format])).toEqual([['am/final.mdl', 'kaldi']]);
    expect(inv.problems.filter((p) => p.code !== 'no-runtime')).toEqual([]);
  });
});
