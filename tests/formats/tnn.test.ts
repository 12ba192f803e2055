import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type TnnMetadata, tnn } from '../../src/formats/tnn.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { buildZip } from '../builders/tflite-builder.js';
import { smallTnn, tnnmodelBytes, tnnproto } from '../builders/tnn-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-tnn-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function inspect(text: string, name = 'mobilenet.tnnproto'): Promise<ModelInfo> {
  const src = new BufferSource(enc(text));
  const probe = createProbe(src, name);
  expect(tnn.match(probe)).toBe(true);
  const info = await tnn.inspect(src, probe, ctx);
  expectConforms(tnn, info.metadata);
  return info;
}

describe('tnn', () => {
  it('reads a v1 network: inputs, outputs, layers, and names the .tnnmodel part', async () => {
    const info = await inspect(tnnproto(smallTnn()));
    expect(info.parts).toEqual([{ path: 'mobilenet.tnnmodel', role: 'weights' }]);
    expect(info.metadata).toEqual({
      version: 'v1',
      inputs: [{ name: 'input', shape: [1, 3, 224, 224] }],
      outputs: ['prob'],
      layerCount: 4,
      layers: { Convolution: 2, ReLU: 1, SoftmaxCaffe: 1 },
    } satisfies TnnMetadata);
    expect(tnn.card(info.metadata)).toMatchObject({
      format: 'tnn',
      formatVersion: 'v1',
      inputs: [{ name: 'input', shape: [1, 3, 224, 224] }],
      outputs: [{ name: 'prob' }],
    });
  });

  it('reads v2 typed inputs', async () => {
    const info = await inspect(tnnproto(smallTnn('4206624772')));
    expect(info.metadata).toMatchObject({ version: 'v2', inputs: [{ name: 'input', shape: [1, 3, 224, 224], dtype: 'float16' }] });
    expect(tnn.card(info.metadata).inputs).toEqual([{ name: 'input', type: 'float16', shape: [1, 3, 224, 224] }]);
  });

  it.each([
    ['another magic', tnnproto({ ...smallTnn(), magic: '1234' }), 'x.tnnproto'],
    ['an unquoted first line', '1 2 3 4206624770 ,\n', 'x.tnnproto'],
    ['a network named otherwise', tnnproto(smallTnn()), 'x.txt'],
  ])('does not match %s', (_what, text, name) => {
    expect(tnn.match(createProbe(new BufferSource(enc(text)), name))).toBe(false);
  });

  it.each([
    [
      'too few segments',
      '"1 2 1 4206624770 ,"\n"input 1 3 ,"\n',
      'Invalid TNN proto: only 3 segments; a network has a header, inputs, blobs, outputs and layers.',
    ],
    [
      'a layer with absurd counts',
      tnnproto({ ...smallTnn(), layers: [{ type: 'ReLU', name: 'r', inputs: [], outputs: [], params: [] }] }).replace('ReLU r 0 0', 'ReLU r 99999999 0'),
      'Invalid TNN proto: layer "r" has counts "99999999" and "0".',
    ],
    [
      'a layer naming too few blobs',
      tnnproto({ ...smallTnn(), layers: [{ type: 'Concat', name: 'c', inputs: ['a'], outputs: ['b'] }] }).replace('Concat c 1 1', 'Concat c 3 1'),
      'Invalid TNN proto: layer "c" names fewer blobs than its 3 inputs and 1 outputs.',
    ],
  ])('rejects %s', async (_what, text, message) => {
    const src = new BufferSource(enc(text));
    const err = await tnn.inspect(src, createProbe(src, 'x.tnnproto'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(message);
  });
});

describe('tnn: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds a .tnnproto in a zip with its .tnnmodel as part, and names a missing one', async () => {
    const archive = path.join(tmp, 'app.zip');
    fs.writeFileSync(
      archive,
      buildZip(
        [
          ['assets/face.tnnproto', enc(tnnproto(smallTnn()))],
          ['assets/face.tnnmodel', tnnmodelBytes(2)],
          ['assets/lonely.tnnproto', enc(tnnproto(smallTnn('4206624772')))],
        ],
        0,
      ),
    );
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path).sort()).toEqual([`${archive}!/assets/face.tnnproto`, `${archive}!/assets/lonely.tnnproto`]);
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path)).toEqual([`${archive}!/assets/face.tnnmodel`]);
    expect(inv.problems.map((p) => p.message)).toEqual(["The model's weights file 'lonely.tnnmodel' is missing beside the model."]);
  });
});
