import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type OrtMetadata, ort } from '../../src/formats/ort.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { ortBytes, smallOrt } from '../builders/ort-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-ort-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };

async function inspect(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const probe = createProbe(src, 'model.ort');
  expect(ort.match(probe)).toBe(true);
  const info = await ort.inspect(src, probe, ctx);
  expectConforms(ort, info.metadata);
  return info;
}

describe('ort', () => {
  it('reads the ORT version, the ONNX model facts, operators, inputs, outputs and initializers', async () => {
    const info = await inspect(ortBytes(smallOrt()));
    expect(info.metadata).toEqual({
      ortVersion: '1.17.1',
      irVersion: 8,
      producerName: 'pytorch',
      producerVersion: '2.1.0',
      modelVersion: 3,
      docString: 'keyword spotter',
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      nodeCount: 5,
      operators: [
        { opType: 'Conv', domain: '', count: 2 },
        { opType: 'Relu', domain: '', count: 1 },
        { opType: 'Softmax', domain: '', count: 1 },
        { opType: 'QLinearConv', domain: 'com.microsoft', count: 1 },
      ],
      customDomains: ['com.microsoft'],
      inputs: [{ name: 'audio', type: 'float32', shape: ['batch', 1, 40, null] }],
      outputs: [{ name: 'scores', type: 'float32', shape: ['batch', 12] }],
      initializers: 2,
      parameters: 80,
      parameterBytes: 104,
      weightTypes: { float32: 1, int8: 1 },
      metadataProps: { author: 'kiosk team', license: 'MIT' },
    } satisfies OrtMetadata);
    expect(ort.card(info.metadata)).toMatchObject({
      description: 'keyword spotter',
      version: '3',
      producer: 'onnxruntime',
      producerVersion: '1.17.1',
      format: 'ort',
      formatVersion: 'ir 8',
      weightTypes: ['float32', 'int8'],
      quantized: true,
      quantization: 'int8',
      customOperators: true,
    });
    expect(ort.card(info.metadata).operators[0]).toEqual({ name: 'Conv', count: 2, custom: false });
    expect(ort.card(info.metadata).operators).toContainEqual({ name: 'QLinearConv', domain: 'com.microsoft', count: 1, custom: true });
  });

  it('reads a model with nothing but a graph of one node', async () => {
    const info = await inspect(ortBytes({ nodes: [['', 'Identity']] }));
    expect(info.metadata).toMatchObject({ nodeCount: 1, opsets: [], inputs: [], initializers: 0, metadataProps: {} });
    expect(info.metadata).not.toHaveProperty('ortVersion');
  });

  it('does not match other FlatBuffers or ORTM text, and fails a truncated model', async () => {
    const other = ortBytes(smallOrt());
    other.set([0x54, 0x46, 0x4c, 0x33], 4); // 'TFL3'
    expect(ort.match(createProbe(new BufferSource(other), 'x.ort'))).toBe(false);
    expect(ort.match(createProbe(new BufferSource(new TextEncoder().encode('....ORTM is a word')), 'x.ort'))).toBe(false);
    const bytes = ortBytes(smallOrt());
    const src = new BufferSource(bytes.subarray(0, bytes.length - 60));
    const err = await ort.inspect(src, createProbe(src, 'x.ort'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
  });
});

it('rejects an absurd node count with a FormatError naming the vector', async () => {
  const bytes = ortBytes({ nodes: [['', 'Relu']] });
  // The nodes vector holds one uoffset; find its length word (1) right before the node's offset and set it to 2^31 - 1.
  const dv = new DataView(bytes.buffer);
  let patched = false;
  for (let p = 8; p + 8 <= bytes.length && !patched; p += 4) {
    if (dv.getUint32(p, true) === 1 && dv.getUint32(p + 4, true) > 0 && p + 4 + dv.getUint32(p + 4, true) < bytes.length) {
      const b = bytes.slice();
      new DataView(b.buffer).setUint32(p, 0x7fffffff, true);
      const src = new BufferSource(b);
      const err = await ort.inspect(src, createProbe(src, 'x.ort'), ctx).catch((e: unknown) => e);
      if (err instanceof FormatError && err.message === 'Invalid ORT model: Graph.nodes length 2147483647 exceeds the limit of 4000000.') patched = true;
    }
  }
  expect(patched).toBe(true);
});

describe('ort: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds an .ort model in a zip', async () => {
    const archive = path.join(tmp, 'app.zip');
    fs.writeFileSync(archive, buildZip([['assets/kws.ort', ortBytes(smallOrt())]], 0));
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/assets/kws.ort`]);
    expect(models[0]!.kind === 'model' && models[0]!.model.card).toMatchObject({ format: 'ort', producerVersion: '1.17.1' });
    expect(inv.problems).toEqual([]);
  });
});
