import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { paddle, type PaddleMetadata } from '../../src/formats/paddle.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { programBytes, smallProgram, VT } from '../builders/paddle-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-paddle-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function matches(bytes: Uint8Array, name = 'inference.pdmodel'): boolean {
  return paddle.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array, name = 'inference.pdmodel', siblings: Record<string, ByteSource> = {}): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const ctx = { limits: DEFAULT_LIMITS, sibling: async (n: string) => siblings[n] };
  const info = await paddle.inspect(src, createProbe(src, name), ctx);
  expectConforms(paddle, info.metadata);
  return info;
}

describe('paddle: programs', () => {
  it('reads version, ops, feed and fetch targets, persistable weights and the .pdiparams part', async () => {
    const bytes = programBytes(smallProgram(), 2005001);
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.parts).toEqual([{ path: 'inference.pdiparams', role: 'weights' }]);
    expect(info.metadata).toEqual({
      version: 2005001,
      paddleVersion: '2.5.1',
      blocks: 1,
      opCount: 7,
      ops: { conv2d: 1, elementwise_add: 1, feed: 1, fetch: 1, matmul_v2: 1, relu: 1, softmax: 1 },
      inputs: [{ name: 'image', dtype: 'float32', shape: [null, 3, 224, 224] }],
      outputs: [{ name: 'softmax_0.tmp_0', dtype: 'float32', shape: [null, 10] }],
      parameters: 216 + 80 + 10,
      parameterBytes: 306 * 4,
      persistable: 3,
      weightTypes: { float32: 3 },
      weightsLayout: 'pdiparams',
    } satisfies PaddleMetadata);
    expect(paddle.card(info.metadata)).toEqual({
      producer: 'PaddlePaddle',
      producerVersion: '2.5.1',
      format: 'paddle',
      inputs: [{ name: 'image', type: 'float32', shape: [null, 3, 224, 224] }],
      outputs: [{ name: 'softmax_0.tmp_0', type: 'float32', shape: [null, 10] }],
      parameters: 306,
      parameterBytes: 1224,
      weightTypes: ['float32'],
      quantized: false,
      operators: [
        { name: 'conv2d', count: 1, custom: false },
        { name: 'elementwise_add', count: 1, custom: false },
        { name: 'feed', count: 1, custom: false },
        { name: 'fetch', count: 1, custom: false },
        { name: 'matmul_v2', count: 1, custom: false },
        { name: 'relu', count: 1, custom: false },
        { name: 'softmax', count: 1, custom: false },
      ],
      customOperators: false,
    });
  });

  it('reads a __model__ with per-tensor weights, sub-blocks, packed dims and quantization ops', async () => {
    const blocks = smallProgram();
    blocks[0]!.vars[3] = { name: 'conv2d_0.w_0', dtype: VT.INT8, dims: [8, 3, 3, 3], persistable: true, packed: true };
    blocks[0]!.ops.splice(1, 0, { type: 'quantize_linear', inputs: { X: ['image'] }, outputs: { Y: ['q'] } });
    blocks.push({ parent: 0, vars: [{ name: 'inner', dims: [1] }], ops: [{ type: 'while' }, { type: 'relu' }] });
    const info = await inspect(programBytes(blocks), '__model__');
    expect(info.parts).toEqual(['conv2d_0.w_0', 'linear_0.w_0', 'linear_0.b_0'].map((p) => ({ path: p, role: 'weights' })));
    const m = info.metadata as PaddleMetadata;
    expect(m).toMatchObject({ blocks: 2, opCount: 10, weightsLayout: 'per-tensor', weightTypes: { float32: 2, int8: 1 }, parameterBytes: 216 + 90 * 4 });
    expect(m.ops.relu).toBe(2);
    expect(m).not.toHaveProperty('version');
    expect(paddle.card(info.metadata)).toMatchObject({ quantized: true, quantization: 'quantize_linear' });
  });

  it('takes a combined __params__ beside __model__, and says when no weights file is found', async () => {
    const bytes = programBytes(smallProgram());
    const combined = await inspect(bytes, '__model__', { __params__: new BufferSource(new Uint8Array(8)) });
    expect(combined.parts).toEqual([{ path: '__params__', role: 'weights' }]);
    expect(combined.metadata).toMatchObject({ weightsLayout: 'combined' });
    const lost = await inspect(bytes, 'model');
    expect(lost.parts).toBeUndefined();
    expect(lost.warnings?.map((w) => w.message)).toEqual([
      'PaddlePaddle: no weights file was found beside the program (neither <name>.pdiparams, __params__ nor params).',
    ]);
  });
});

describe('paddle: what is not a Paddle program', () => {
  it('does not match ONNX, a program whose block 0 is not the root one, or bytes cut in the head', () => {
    expect(matches(new OnnxBuilder().build())).toBe(false);
    expect(matches(programBytes([{ idx: 1, parent: 0, vars: [], ops: [] }]))).toBe(false);
    expect(matches(Uint8Array.from([0x0a, 0x10, 0x08, 0x00, 0x10, 0xff]))).toBe(false);
  });

  it('fails a truncated program with a FormatError and an absurd dims count naming the TensorDesc', async () => {
    const bytes = programBytes(smallProgram());
    const src = new BufferSource(bytes.subarray(0, bytes.length - 5));
    const err = await paddle.inspect(src, createProbe(src, 'x.pdmodel'), { limits: DEFAULT_LIMITS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe('truncated');
    const wide = programBytes([{ vars: [{ name: 'w', dims: Array.from({ length: 70 }, () => 1), persistable: true }], ops: [] }]);
    const src2 = new BufferSource(wide);
    const err2 = await paddle.inspect(src2, createProbe(src2, 'x.pdmodel'), { limits: DEFAULT_LIMITS }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(FormatError);
    expect((err2 as Error).message).toMatch(/^Invalid PaddlePaddle model: a TensorDesc at offset \d+ has more than 64 dims\.$/);
  });
});

describe('paddle: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('names a missing .pdiparams as a problem on the model', async () => {
    const d = path.join(tmp, 'missing');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'inference.pdmodel'), programBytes(smallProgram()));
    const inv = valid(await scan([d]));
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems.map((p) => p.message)).toEqual(["The model's weights file 'inference.pdiparams' is missing beside the model."]);
  });

  const files: [string, Uint8Array][] = [
    ['ocr/det/inference.pdmodel', programBytes(smallProgram(), 2004002)],
    ['ocr/det/inference.pdiparams', new Uint8Array(1224)],
    ['ocr/rec/__model__', programBytes(smallProgram())],
    ['ocr/rec/__params__', new Uint8Array(1224).fill(1)],
  ];
  it.each(['zip', 'tar'])('finds both layouts in a %s with their weights as parts', async (kind) => {
    let archive: string;
    if (kind === 'zip') {
      archive = path.join(tmp, 'ocr.zip');
      fs.writeFileSync(archive, buildZip(files, 0));
    } else {
      const d = path.join(tmp, 'tree');
      for (const [n, b] of files) {
        fs.mkdirSync(path.join(d, path.dirname(n)), { recursive: true });
        fs.writeFileSync(path.join(d, n), b);
      }
      archive = path.join(tmp, 'ocr.tar');
      run('tar', ['-cf', archive, '-C', d, 'ocr']);
    }
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path).sort()).toEqual([`${archive}!/ocr/det/inference.pdmodel`, `${archive}!/ocr/rec/__model__`]);
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path).sort()).toEqual([`${archive}!/ocr/det/inference.pdiparams`, `${archive}!/ocr/rec/__params__`]);
    expect(inv.relationships.filter((r) => r.type === 'part-of')).toHaveLength(2);
    expect(inv.problems).toEqual([]);
  });
});
