import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError, LimitError } from '../../src/errors.js';
import { MAX_NCNN_PARAM_BYTES, ncnn, type NcnnMetadata } from '../../src/formats/ncnn.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { ncnnBinary, ncnnText, smallNet } from '../builders/ncnn-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-ncnn-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ctx = { limits: DEFAULT_LIMITS };

function matches(bytes: Uint8Array, name = 'model.param'): boolean {
  return ncnn.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array, name = 'model.param'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await ncnn.inspect(src, createProbe(src, name), ctx);
  expectConforms(ncnn, info.metadata);
  return info;
}

async function failure(bytes: Uint8Array, name = 'model.param'): Promise<FormatError> {
  const src = new BufferSource(bytes);
  const err = await ncnn.inspect(src, createProbe(src, name), ctx).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FormatError);
  return err as FormatError;
}

describe('ncnn: text params', () => {
  it('reads layers, custom layers, blob names, inputs, outputs and int8 layers', async () => {
    const bytes = enc(ncnnText(smallNet()));
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes, 'squeezenet_v1.1.param');
    expect(info.parts).toEqual([{ path: 'squeezenet_v1.1.bin', role: 'weights' }]);
    expect(info.metadata).toEqual({
      variant: 'text',
      layerCount: 8,
      blobCount: 9,
      layers: { Convolution: 1, Input: 1, Pooling: 1, ReLU: 1, Reshape: 1, Softmax: 1, Split: 1, YoloV5Focus: 1 },
      customLayers: ['YoloV5Focus'],
      inputs: [{ name: 'data', shape: [3, 227, 227] }],
      outputs: [{ name: 'prob' }, { name: 'boxes' }],
      blobNames: ['data', 'conv1', 'conv1_relu', 's0', 's1', 'pool', 'flat', 'prob', 'boxes'],
      int8Layers: 1,
    } satisfies NcnnMetadata);
    const card = ncnn.card(info.metadata);
    expect(card).toMatchObject({
      format: 'ncnn',
      inputs: [{ name: 'data', shape: [3, 227, 227] }],
      outputs: [{ name: 'prob' }, { name: 'boxes' }],
      weightTypes: [],
      quantized: true,
      quantization: 'int8',
      customOperators: true,
    });
    expect(card.operators[0]).toEqual({ name: 'Convolution', count: 1, custom: false });
    expect(card.operators.find((o) => o.name === 'YoloV5Focus')).toEqual({ name: 'YoloV5Focus', count: 1, custom: true });
  });

  it('accepts CRLF lines, blank lines and array parameters, and says nothing of quantization without int8 layers', async () => {
    const text = ncnnText([
      { type: 'Input', name: 'in', bottoms: [], tops: ['in'], params: { 0: 640 } },
      { type: 'Interp', name: 'up', bottoms: ['in'], tops: ['out'], params: { 0: 2, 3: [1, 2] } },
    ]).replace(/\n/g, '\r\n');
    const info = await inspect(enc(`${text}\r\n\r\n`));
    expect(info.metadata).toMatchObject({ inputs: [{ name: 'in', shape: [640] }], outputs: [{ name: 'out' }], int8Layers: 0 });
    expect(ncnn.card(info.metadata)).not.toHaveProperty('quantized');
  });
});

/** A layer whose array parameter declares 1000 values in a 40-byte file (the length word is at offset 28). */
function arrayTooLong(): Uint8Array {
  const b = ncnnBinary([{ typeIndex: 26, bottoms: [], tops: [], params: { 1: [1] } }], 0);
  new DataView(b.buffer).setInt32(28, 1000, true);
  return b;
}

describe('ncnn: binary params', () => {
  it('names built-in layers from the registry index, flags custom ones, and names blobs by index', async () => {
    const bytes = ncnnBinary(
      [
        { typeIndex: 16, bottoms: [], tops: [0], params: { 0: 224, 1: 224, 2: 3 } },
        { typeIndex: 6, bottoms: [0], tops: [1], params: { 0: 16, 1: 3, 6: 432, 4: [1, 1, 1, 1] } },
        { typeIndex: 26, bottoms: [1], tops: [2] },
        { typeIndex: 256 + 3, bottoms: [2], tops: [3] },
        { typeIndex: 32, bottoms: [3], tops: [4] },
      ],
      5,
    );
    expect(matches(bytes, 'net.param.bin')).toBe(true);
    const info = await inspect(bytes, 'net.param.bin');
    expect(info.parts).toEqual([{ path: 'net.bin', role: 'weights' }]);
    expect(info.metadata).toEqual({
      variant: 'binary',
      layerCount: 5,
      blobCount: 5,
      layers: { Convolution: 1, Input: 1, ReLU: 1, Softmax: 1, custom3: 1 },
      customLayers: ['custom3'],
      inputs: [{ name: 'blob_0', shape: [3, 224, 224] }],
      outputs: [{ name: 'blob_4' }],
      blobNames: [],
      int8Layers: 0,
    } satisfies NcnnMetadata);
  });

  it.each([
    [
      'a blob index past the blob count',
      ncnnBinary([{ typeIndex: 26, bottoms: [7], tops: [] }], 2),
      'Invalid ncnn param: layer 0 bottom 0 7 is outside [0, 1].',
    ],
    ['an absurd layer count', ncnnBinary([], 1, 2_000_000_000), 'Invalid ncnn param: layer count 2000000000 is outside [0, 1000000].'],
    [
      'a parameter id past 32',
      ncnnBinary([{ typeIndex: 26, bottoms: [], tops: [0], params: { 40: 1 } }], 1),
      'Invalid ncnn param: layer 0 parameter id 40 at offset 28 is not in [0, 32).',
    ],
    [
      'an array longer than the file',
      arrayTooLong(),
      'Invalid ncnn param: layer 0 parameter 1 array of 1000 values at offset 32 runs past the end of the 40-byte file.',
    ],
    [
      'a file cut inside a layer',
      ncnnBinary([{ typeIndex: 6, bottoms: [], tops: [0] }], 1).subarray(0, 22),
      'Invalid ncnn param: layer 0 top count at offset 20 needs 4 bytes; the file ends at 22.',
    ],
  ])('rejects %s with a FormatError naming the field', async (_what, bytes, message) => {
    const err = await failure(bytes, 'x.param.bin');
    expect(err.message).toBe(message);
  });
});

describe('ncnn: what is not ncnn', () => {
  it.each([
    ['the magic alone', '7767517'],
    ['a number that starts with the magic', '77675170\n1 2\n'],
    ['a magic line without counts', '7767517\nInput data 0 1 data\n'],
    ['an older param without the magic line', '3 3\nInput data 0 1 data 0=1\n'],
    ['a binary magic with a negative layer count', '\u00dd\u0085\u0076\u0000\u00ff\u00ff\u00ff\u00ff\u0001\u0000\u0000\u0000'],
  ])('does not match %s', (_what, text) => {
    expect(matches(Uint8Array.from(text, (c) => c.charCodeAt(0)))).toBe(false);
  });

  it.each([
    [
      'fewer layer lines than declared',
      `${ncnnText(smallNet()).split('\n').slice(0, 5).join('\n')}\n`,
      'Invalid ncnn param: the header declares 8 layers but the file ends after 3.',
      'truncated',
    ],
    ['an absurd layer count', '7767517\n99999999 1\n', 'Invalid ncnn param: layer count 99999999 is outside [0, 1000000].', 'format'],
    [
      'a layer naming fewer blobs than its counts',
      '7767517\n1 1\nConcat c 3 1 a b\n',
      'Invalid ncnn param: line 3 names 2 blobs, fewer than its 3 bottoms and 1 tops.',
      'format',
    ],
    ['a bad count', '7767517\n1 1\nReLU r x 1 a\n', 'Invalid ncnn param: line 3 bottom count "x" is not a number.', 'format'],
    [
      'a bad parameter',
      '7767517\n1 1\nReLU r 0 1 a 99=1\n',
      'Invalid ncnn param: line 3 has a parameter "99=1" whose id is not in [0, 32) or an array id.',
      'format',
    ],
  ])('rejects %s', async (_what, text, message, code) => {
    const err = await failure(enc(text));
    expect({ message: err.message, code: err.code }).toEqual({ message, code });
  });

  it('refuses a param over the limit with a LimitError, reading only the head', async () => {
    let read = 0;
    const head = enc('7767517\n1 1\n');
    const src: ByteSource = {
      size: MAX_NCNN_PARAM_BYTES + 1,
      read(offset: number, length: number): Uint8Array {
        const n = Math.min(length, this.size - offset);
        read += n;
        const out = new Uint8Array(n).fill(0x20);
        if (offset < head.length) out.set(head.subarray(offset, Math.min(head.length, offset + n)));
        return out;
      },
    };
    const probe = createProbe(src, 'big.param');
    expect(ncnn.match(probe)).toBe(true);
    await expect(ncnn.inspect(src, probe, ctx)).rejects.toBeInstanceOf(LimitError);
    expect(read).toBeLessThanOrEqual(64 * 1024);
  });
});

describe('ncnn: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  const files: [string, Uint8Array][] = [
    ['assets/ncnn/yolo.param', enc(ncnnText(smallNet()))],
    ['assets/ncnn/yolo.bin', new Uint8Array(4096).fill(1)],
    [
      'assets/ncnn/face.param.bin',
      ncnnBinary(
        [
          { typeIndex: 16, bottoms: [], tops: [0] },
          { typeIndex: 26, bottoms: [0], tops: [1] },
        ],
        2,
      ),
    ],
    ['assets/ncnn/face.bin', new Uint8Array(64)],
  ];

  it.each(['zip', 'tar'])('finds text and binary params in a %s with their weights as parts', async (kind) => {
    let archive: string;
    if (kind === 'zip') {
      archive = path.join(tmp, 'app.zip');
      fs.writeFileSync(archive, buildZip(files, 0));
    } else {
      const d = path.join(tmp, 'tree');
      for (const [n, b] of files) {
        fs.mkdirSync(path.join(d, path.dirname(n)), { recursive: true });
        fs.writeFileSync(path.join(d, n), b);
      }
      archive = path.join(tmp, 'app.tar');
      run('tar', ['-cf', archive, '-C', d, 'assets']);
    }
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path).sort()).toEqual([`${archive}!/assets/ncnn/face.param.bin`, `${archive}!/assets/ncnn/yolo.param`]);
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path).sort()).toEqual([`${archive}!/assets/ncnn/face.bin`, `${archive}!/assets/ncnn/yolo.bin`]);
    for (const p of parts) {
      const owner = models.find((m) => m.locations[0]!.path.replace(/\.param(\.bin)?$/, '.bin') === p.locations[0]!.path)!;
      expect(inv.relationships).toContainEqual({ from: p.id, type: 'part-of', to: owner.id });
    }
    expect(inv.problems).toEqual([]);
  });

  it('names missing weights as a problem on the model, and a .param that is not ncnn as a claimed model', async () => {
    const d = path.join(tmp, 'missing');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'net.param'), ncnnText(smallNet()));
    fs.writeFileSync(path.join(d, 'other.param'), 'alpha=1\n');
    const inv = valid(await scan([d]));
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems.map((p) => p.message).sort()).toEqual([
      'Claimed ncnn model is not valid: Invalid ncnn param: the first line is not the magic 7767517.',
      "The model's weights file 'net.bin' is missing beside the model.",
    ]);
  });
});
