import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pocketsphinx, type PocketsphinxMetadata } from '../../src/formats/pocketsphinx.js';
import type { InspectContext, ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-pocketsphinx-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const matches = (bytes: Uint8Array): boolean => pocketsphinx.match(createProbe(new BufferSource(bytes), 'mdef'));
async function inspect(bytes: Uint8Array, ctx: InspectContext = { limits: DEFAULT_LIMITS }): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await pocketsphinx.inspect(src, createProbe(src, 'mdef'), ctx);
  expectConforms(pocketsphinx, info.metadata);
  return info;
}

/** A binary mdef in the layout bin_mdef.c writes: magic, version, description, then ten int32 counts. */
function binaryMdef(counts = [42, 137095, 3, 126, 5126, 42, 29324, 3, 142108, 32], littleEndian = true, version = 1): Uint8Array {
  const desc = Buffer.from('BEGIN FILE FORMAT DESCRIPTION\nint32 n_ciphone;\nEND FILE FORMAT DESCRIPTION\n', 'latin1');
  const at = (12 + desc.length + 3) & ~3;
  const b = Buffer.alloc(at + 40 + 64);
  b.write(littleEndian ? 'BMDF' : 'FDMB', 0, 'latin1');
  const w = (v: number, o: number): number => (littleEndian ? b.writeInt32LE(v, o) : b.writeInt32BE(v, o));
  w(version, 4);
  w(desc.length, 8);
  desc.copy(b, 12);
  for (const [i, c] of counts.entries()) w(c, at + 4 * i);
  return new Uint8Array(b);
}

const textMdef =
  "0.3\n42 n_base\n137053 n_tri\n548384 n_state_map\n5126 n_tied_state\n126 n_tied_ci_state\n42 n_tied_tmat\n#\n# Columns definitions\n#base lft  rt p attrib tmat      ... state id's ...\nSIL\t-\t-\t-\tfiller\t0\t0\t1\t2\tN\n";

describe('pocketsphinx', () => {
  it('reads a binary mdef, with feat.params and the folder files as parts', async () => {
    const files: Record<string, string> = { 'feat.params': '-lowerf 130\n-feat 1s_c_d_dd\n-model ptm\n', sendump: '', noisedict: '<s> SIL\n' };
    const ctx: InspectContext = { limits: DEFAULT_LIMITS, sibling: async (n) => (n in files ? new BufferSource(enc(files[n]!)) : undefined) };
    const bytes = binaryMdef();
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes, ctx);
    expect(info.metadata).toEqual({
      encoding: 'binary',
      ciPhones: 42,
      triphones: 137095 - 42,
      senones: 5126,
      ciSenones: 126,
      transitionMatrices: 42,
      emittingStates: 3,
      featParams: { lowerf: '130', feat: '1s_c_d_dd', model: 'ptm' },
    } satisfies PocketsphinxMetadata);
    expect(info.parts).toEqual([
      { path: 'means', role: 'weights' },
      { path: 'variances', role: 'weights' },
      { path: 'transition_matrices', role: 'weights' },
      { path: 'sendump', role: 'weights' },
      { path: 'feat.params', role: 'config' },
      { path: 'noisedict', role: 'config' },
    ]);
    expect(pocketsphinx.card(info.metadata)).toMatchObject({
      architecture: 'hmm (ptm)',
      task: 'speech-recognition',
      inputs: [{ name: '1s_c_d_dd' }],
      outputs: [{ shape: [5126] }],
    });
  });

  it('reads big-endian binary and text mdefs', async () => {
    expect((await inspect(binaryMdef(undefined, false))).metadata).toMatchObject({ encoding: 'binary', senones: 5126 });
    expect((await inspect(enc(textMdef))).metadata).toEqual({
      encoding: 'text',
      ciPhones: 42,
      triphones: 137053,
      senones: 5126,
      ciSenones: 126,
      transitionMatrices: 42,
      featParams: {},
    });
  });

  it('refuses bad versions, inconsistent or absurd counts, a cut header', async () => {
    await expect(inspect(binaryMdef(undefined, true, 2))).rejects.toThrow(/format version at offset 4 is 2/);
    await expect(inspect(binaryMdef([42, 10, 3, 126, 5126, 42, 0, 3, 0, 32]))).rejects.toThrow(/n_phone 10 is less than n_ciphone 42/);
    await expect(inspect(binaryMdef([42, 137095, 3, 126, -5, 42, 0, 3, 0, 32]))).rejects.toThrow(/field n_sen at offset \d+ is -5/);
    await expect(inspect(binaryMdef().subarray(0, 60))).rejects.toThrow(/the counts at offset \d+ need 40 bytes/);
    await expect(inspect(enc('0.3\n42 n_base\n'))).rejects.toThrow(/no '<count> n_tri' line/);
    expect(matches(enc('0.3\nsome numbers\n'))).toBe(false);
    expect(matches(enc('BMDF'))).toBe(false);
  });

  const real = '/usr/share/pocketsphinx/model/en-us/en-us';
  const have = fs.existsSync(path.join(real, 'mdef'));
  if (!have) console.warn(`SKIP: ${real} is absent (Debian package pocketsphinx-en-us); the real acoustic model is not tested.`);
  it.runIf(have)('reads the US English model of Debian pocketsphinx-en-us as one model with its parts', async () => {
    const src = FileSource.open(path.join(real, 'mdef'));
    try {
      expect(pocketsphinx.match(createProbe(src, 'mdef'))).toBe(true);
    } finally {
      src.close();
    }
    const inv = inventorySchema.parse(await scan([real])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models).toHaveLength(1);
    const m = models[0]!;
    expect(m.kind === 'model' && m.model.metadata).toMatchObject({
      encoding: 'binary',
      ciPhones: 42,
      senones: 5126,
      featParams: { feat: '1s_c_d_dd', model: 'ptm' },
    });
    const parts = inv.components.filter((c) => c.kind === 'data').map((c) => path.basename(c.locations[0]!.path));
    expect(parts.sort()).toEqual(['feat.params', 'means', 'noisedict', 'sendump', 'transition_matrices', 'variances']);
    expect(inv.problems.filter((p) => p.code !== 'no-runtime')).toEqual([]);
  });

  it('reports a missing part on the model', async () => {
    const d = path.join(tmp, 'model');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'mdef'), textMdef);
    for (const f of ['means', 'variances', 'mixture_weights']) fs.writeFileSync(path.join(d, f), 's3\nversion 1.0\nendhdr\n');
    const inv = inventorySchema.parse(await scan([d])) as Inventory;
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems.map((p) => p.message)).toContain("The model's weights file 'transition_matrices' is missing beside the model.");
  });
});
