import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { rknn, type RknnMetadata } from '../../src/formats/rknn.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { nbgBytes, rknnBytes, toolkit2Json } from '../builders/rknn-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-rknn-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function matches(bytes: Uint8Array): boolean {
  return rknn.match(createProbe(new BufferSource(bytes), 'model.rknn'));
}

async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await rknn.inspect(src, createProbe(src, 'model.rknn'), ctx);
  expectConforms(rknn, info.metadata);
  return info;
}

async function failure(bytes: Uint8Array): Promise<FormatError> {
  const src = new BufferSource(bytes);
  const err = await rknn.inspect(src, createProbe(src, 'model.rknn'), ctx).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FormatError);
  return err as FormatError;
}

describe('rknn: containers with a JSON description', () => {
  it('reads toolkit version, target platform, source, ops, inputs and outputs', async () => {
    const data = new Uint8Array(256);
    data.set(enc('\x10\0\0\0RKNN'), 0); // an RKNN FlatBuffer inside
    const bytes = rknnBytes({ version: 6, data, json: toolkit2Json() });
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.confidence).toBe('high');
    expect(info.metadata).toEqual({
      container: 'rknn',
      fileVersion: 6,
      dataSize: 256,
      dataKind: 'flatbuffers',
      toolkitVersion: '1.6.0+81f21f4d',
      name: 'rknn model',
      targetPlatforms: ['rk3588'],
      networkPlatform: 'onnx',
      originalPlatform: 'onnx',
      jsonKeys: ['const_tensor', 'graph', 'name', 'network_platform', 'nodes', 'norm_tensor', 'ori_network_platform', 'target_platform', 'version'],
      nodeCount: 4,
      ops: { CONV2D: 2, NNBG: 1, SIGMOID: 1 },
      constTypes: { int32: 1, int8: 1 },
      inputs: [{ name: 'input0', dtype: 'uint8', shape: [640, 640, 3, 1] }],
      outputs: [
        { name: 'output0', dtype: 'int8', shape: [80, 80, 255, 1] },
        { name: 'output1', dtype: 'int8', shape: [40, 40, 255, 1] },
      ],
    } satisfies RknnMetadata);
    expect(rknn.card(info.metadata)).toEqual({
      name: 'rknn model',
      producer: 'RKNN-Toolkit',
      producerVersion: '1.6.0+81f21f4d',
      format: 'rknn',
      formatVersion: '6',
      inputs: [{ name: 'input0', type: 'uint8', shape: [640, 640, 3, 1] }],
      outputs: [
        { name: 'output0', type: 'int8', shape: [80, 80, 255, 1] },
        { name: 'output1', type: 'int8', shape: [40, 40, 255, 1] },
      ],
      weightTypes: ['int32', 'int8'],
      quantized: true,
      quantization: 'int8',
      operators: [
        { name: 'CONV2D', count: 2, custom: false },
        { name: 'NNBG', count: 1, custom: false },
        { name: 'SIGMOID', count: 1, custom: false },
      ],
      customOperators: false,
    });
  });

  it('reads an RKNN-Toolkit 1 file (version 1, no long header) with an OpenVX NBG inside', async () => {
    const info = await inspect(rknnBytes({ version: 1, data: nbgBytes('yolo', 12), json: { version: '1.7.1', target_platform: 'rv1126', nodes: [] } }));
    expect(info.metadata).toMatchObject({
      fileVersion: 1,
      dataKind: 'openvx',
      nbgVersion: '1.3',
      toolkitVersion: '1.7.1',
      targetPlatforms: ['rv1126'],
      nodeCount: 0,
    });
  });

  it('reports the header alone, at medium confidence, when the JSON is absent or broken', async () => {
    const none = await inspect(rknnBytes({ data: new Uint8Array(16) }));
    expect(none).toMatchObject({ confidence: 'medium', metadata: { dataKind: 'unknown', jsonKeys: [] } });
    const broken = await inspect(rknnBytes({ data: new Uint8Array(16), json: '{"version": ' }));
    expect(broken.confidence).toBe('medium');
    expect(broken.warnings?.map((w) => w.message)).toEqual(['RKNN: the JSON description at offset 88 does not parse; only the header was read.']);
  });
});

describe('rknn: opaque variants', () => {
  it('reads a bare OpenVX NBG, an encrypted model and a bare RKNN FlatBuffer by identity', async () => {
    const nbg = await inspect(nbgBytes('mobilenet', 31, 3, 0));
    expect(nbg).toMatchObject({ confidence: 'medium', metadata: { container: 'openvx', nbgVersion: '3.0', nodeCount: 31, name: 'mobilenet' } });
    expect(rknn.card(nbg.metadata)).toMatchObject({ formatVersion: '3.0', name: 'mobilenet' });
    const enc8 = await inspect(Uint8Array.from([...enc('CYPTRKNN'), ...new Uint8Array(64)]));
    expect(enc8).toMatchObject({ confidence: 'medium', metadata: { container: 'encrypted' } });
    expect(enc8.warnings).toEqual([
      { severity: 'info', code: 'encrypted', message: 'RKNN: the model is encrypted (CYPTRKNN); only its identity is reported.' },
    ]);
    const fb = await inspect(Uint8Array.from([0x10, 0, 0, 0, ...enc('RKNN'), ...new Uint8Array(64)]));
    expect(fb.metadata).toMatchObject({ container: 'flatbuffers' });
  });
});

describe('rknn: what is not RKNN', () => {
  it.each([
    ['a text that starts with RKNN', enc('RKNN')],
    ['random bytes', Uint8Array.from({ length: 512 }, (_, i) => (i * 131) & 0xff)],
    ['a FlatBuffer whose root offset is past the end', Uint8Array.from([0xff, 0xff, 0, 0, ...enc('RKNN'), ...new Uint8Array(16)])],
  ])('does not match %s', (_what, bytes) => {
    expect(matches(bytes)).toBe(false);
  });

  it.each([
    [
      'an unknown file version',
      () => rknnBytes({ version: 99, json: {} }),
      'Invalid RKNN model: file version 99 at offset 8 is not one of the known versions (1-6, 0x1001-0x1004).',
      'format',
    ],
    [
      'a data size past the end',
      () => {
        const b = rknnBytes({ data: new Uint8Array(8), json: {} });
        new DataView(b.buffer).setUint32(16, 1_000_000, true);
        return b;
      },
      'Invalid RKNN model: the 1000000-byte data at offset 64 and its JSON size run past the end of the 82-byte file.',
      'truncated',
    ],
    [
      'a JSON size past the end',
      () => {
        const b = rknnBytes({ json: { version: '1' } });
        new DataView(b.buffer).setUint32(24, 5000, true);
        return b;
      },
      'Invalid RKNN model: JSON size at offset 24 5000 is outside [0, 15].',
      'format',
    ],
  ])('rejects %s', async (_what, make, message, code) => {
    const err = await failure(make());
    expect({ message: err.message, code: err.code }).toEqual({ message, code });
  });
});

describe('rknn: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds an RKNN model in a zip', async () => {
    const archive = path.join(tmp, 'npu.zip');
    fs.writeFileSync(archive, buildZip([['usr/share/models/yolov5s-640.rknn', rknnBytes({ data: new Uint8Array(32), json: toolkit2Json() })]], 0));
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/usr/share/models/yolov5s-640.rknn`]);
    expect(models[0]!.kind === 'model' && models[0]!.model.card).toMatchObject({ format: 'rknn', producerVersion: '1.6.0+81f21f4d' });
    expect(inv.problems).toEqual([]);
  });
});
