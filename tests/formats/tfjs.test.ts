import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonObject, looksLikeJsonObject, MAX_JSON_BYTES } from '../../src/detect/json-probe.js';
import { FormatError, LimitError } from '../../src/errors.js';
import { tfjs, tfjsMetadataSchema, type TfjsMetadata } from '../../src/formats/tfjs.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { modelCardSchema } from '../../src/inventory/card.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { graphModel, layer, layersModel, shardBytes, tfjsBytes, type TfjsGroup } from '../builders/tfjs-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-tfjs-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ctx = { limits: DEFAULT_LIMITS };

function matches(bytes: Uint8Array, name = 'model.json'): boolean {
  return tfjs.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array | ByteSource, name = 'model.json'): Promise<ModelInfo> {
  const src = bytes instanceof Uint8Array ? new BufferSource(bytes) : bytes;
  const info = await tfjs.inspect(src, createProbe(src, name), ctx);
  tfjsMetadataSchema.parse(info.metadata);
  modelCardSchema.parse(tfjs.card!(info.metadata));
  return info;
}

const dense: TfjsGroup = {
  paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
  weights: [
    { name: 'dense/kernel', shape: [784, 32], dtype: 'float32' },
    { name: 'dense/bias', shape: [32], dtype: 'float32' },
    { name: 'dense_1/kernel', shape: [32, 10], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.01, min: -1, original_dtype: 'float32' } },
    { name: 'dense_1/bias', shape: [10], dtype: 'float32' },
  ],
};

const sequential = layersModel({
  layers: [
    layer('InputLayer', { batch_input_shape: [null, 784], dtype: 'float32', name: 'pixels' }),
    layer('Dense', { units: 32 }),
    layer('Dropout'),
    layer('Dense', { units: 10 }),
  ],
  manifest: [dense],
});

describe('tfjs: layers models', () => {
  it('reads the topology, the layer histogram, the inputs, the weights and the quantization', async () => {
    const info = await inspect(tfjsBytes(sequential));
    expect(info.confidence).toBe('high');
    expect(info.parts).toEqual([
      { path: 'group1-shard1of2.bin', role: 'weights' },
      { path: 'group1-shard2of2.bin', role: 'weights' },
    ]);
    expect(info.metadata).toEqual({
      kind: 'layers',
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      topology: { className: 'Sequential', name: 'sequential_1', kerasVersion: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
      layers: { Dense: 2, Dropout: 1, InputLayer: 1 },
      ops: {},
      inputs: [{ name: 'pixels', dtype: 'float32', shape: [null, 784] }],
      outputs: [],
      weights: {
        groups: 1,
        files: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
        count: 4,
        parameters: 784 * 32 + 32 + 320 + 10,
        bytes: (784 * 32 + 32 + 10) * 4 + 320,
        dtypes: { float32: 4 },
        quantization: { uint8: 1 },
      },
    } satisfies TfjsMetadata);
    expect(tfjs.card!(info.metadata)).toEqual({
      name: 'sequential_1',
      architecture: 'Sequential',
      format: 'tfjs',
      formatVersion: 'layers-model',
      producer: 'TensorFlow.js Converter',
      producerVersion: '4.22.0',
      inputs: [{ name: 'pixels', type: 'float32', shape: [null, 784] }],
      outputs: [],
      parameters: 25450,
      parameterBytes: 100840,
      weightTypes: ['float32'],
      quantized: true,
      quantization: 'uint8',
      operators: [
        { name: 'Dense', count: 2, custom: false },
        { name: 'Dropout', count: 1, custom: false },
        { name: 'InputLayer', count: 1, custom: false },
      ],
      customOperators: false,
    });
  });

  it('reads a Keras-converted topology (model_config), nested models, and a Sequential without InputLayer', async () => {
    const inner = { class_name: 'Sequential', config: { name: 'inner', layers: [layer('Conv2D'), layer('ReLU')] } };
    const m = layersModel({
      converted: true,
      className: 'Functional',
      name: 'detector',
      layers: [layer('Conv2D', { batch_input_shape: [null, 96, 96, 3] }), inner, layer('Dense')],
      convertedBy: null,
      generatedBy: 'keras v2.15.0',
      manifest: [],
    });
    const info = await inspect(tfjsBytes(m));
    expect(info.confidence).toBe('medium'); // no weights listed
    expect(info.metadata).toMatchObject({
      topology: { className: 'Functional', name: 'detector', kerasVersion: '2.15.0', backend: 'tensorflow' },
      layers: { Conv2D: 2, Dense: 1, ReLU: 1, Sequential: 1 },
      inputs: [{ name: 'conv2d_1', shape: [null, 96, 96, 3] }],
    });
    expect(info.metadata).not.toHaveProperty('convertedBy');
    expect(tfjs.card!(info.metadata)).toMatchObject({ producer: 'keras', producerVersion: '2.15.0', architecture: 'Functional' });
    expect(tfjs.card!(info.metadata)).not.toHaveProperty('parameters');
  });
});

describe('tfjs: graph models', () => {
  it('reads the op histogram (library functions included), the signature and float16 quantization', async () => {
    const g = graphModel({
      ops: ['Placeholder', 'Const', 'Const', 'Conv2D', 'Relu', 'StatefulPartitionedCall', 'Identity'],
      functionOps: ['Conv2D', 'BiasAdd'],
      inputs: { 'image:0': { name: 'image:0', dtype: 'DT_FLOAT', dims: [-1, 224, 224, 3] } },
      outputs: { 'Identity:0': { name: 'Identity:0', dtype: 'DT_FLOAT', dims: [-1, 1001] }, 'classes:0': { name: 'classes:0', dtype: 'DT_INT64', dims: [-1] } },
      manifest: [
        {
          paths: ['group1-shard1of1.bin'],
          weights: [{ name: 'w', shape: [3, 3, 3, 8], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } }],
        },
      ],
      userDefinedMetadata: { labels: ['cat'] },
    });
    const info = await inspect(tfjsBytes(g), 'mobilenet.json');
    const m = info.metadata as TfjsMetadata;
    expect(m).toMatchObject({
      kind: 'graph',
      format: 'graph-model',
      topology: { tfProducer: 1645 },
      ops: { BiasAdd: 1, Const: 2, Conv2D: 2, Identity: 1, Placeholder: 1, Relu: 1, StatefulPartitionedCall: 1 },
      inputs: [{ name: 'image:0', dtype: 'float32', shape: [null, 224, 224, 3] }],
      outputs: [
        { name: 'Identity:0', dtype: 'float32', shape: [null, 1001] },
        { name: 'classes:0', dtype: 'int64', shape: [null] },
      ],
      weights: { parameters: 216, bytes: 432, quantization: { float16: 1 } },
      userDefinedMetadataKeys: ['labels'],
    });
    const card = tfjs.card!(info.metadata);
    expect(card.operators.slice(0, 2)).toEqual([
      { name: 'Const', count: 2, custom: false },
      { name: 'Conv2D', count: 2, custom: false },
    ]);
    expect(card).toMatchObject({ quantized: true, quantization: 'float16' });
    expect(card.inputs).toEqual([{ name: 'image:0', type: 'float32', shape: [null, 224, 224, 3] }]);
    expect(card.outputs.map((o) => o.type)).toEqual(['float32', 'int64']);
  });

  it('takes the signature from userDefinedMetadata when there is no top-level one', async () => {
    const g = graphModel({ ops: ['Placeholder'] });
    delete g.signature;
    g.userDefinedMetadata = { signature: { inputs: { x: { name: 'x:0', dtype: 'DT_INT32', tensorShape: { unknownRank: true } } } } };
    expect((await inspect(tfjsBytes(g))).metadata).toMatchObject({ inputs: [{ name: 'x', dtype: 'int32', shape: null }] });
  });

  it('accepts a bare weights manifest descriptor as a medium-confidence model', async () => {
    const info = await inspect(tfjsBytes({ weightsManifest: [dense] }));
    expect(info).toMatchObject({ confidence: 'medium', metadata: { kind: 'weights', weights: { count: 4 } } });
  });
});

describe('tfjs: what is not TF.js', () => {
  it.each([
    ['package.json', fs.readFileSync(path.join(here, '../../package.json'))],
    ['a config naming the keys in text', enc('{"description": "converts modelTopology and weightsManifest", "x": 1}')],
    ['a modelTopology that is neither Keras nor a GraphDef', enc('{"modelTopology": {"layers": 3}}')],
    ['a weightsManifest of the wrong shape', enc('{"weightsManifest": [{"paths": "a.bin", "weights": []}]}')],
    ['an empty manifest without topology', enc('{"weightsManifest": []}')],
    ['a safetensors index', enc('{"metadata": {}, "weight_map": {"a": "m.safetensors"}}')],
    ['JSON cut short', tfjsBytes(sequential).subarray(0, 200)],
    ['a JSON array', enc('[{"modelTopology": {"class_name": "Sequential"}}]')],
    ['binary bytes', new Uint8Array(1000).fill(0x7b)],
  ])('does not match %s', (_what, bytes) => {
    expect(matches(bytes)).toBe(false);
  });

  it('refuses a descriptor above the JSON limit with a LimitError, without parsing it', async () => {
    const head = enc('{"modelTopology": {"class_name": "Sequential", "config": {"layers": [');
    let read = 0;
    const src: ByteSource = {
      size: MAX_JSON_BYTES + 1,
      read(offset: number, length: number): Uint8Array {
        const n = Math.min(length, this.size - offset);
        read += n;
        const out = new Uint8Array(n).fill(0x20);
        if (offset < head.length) out.set(head.subarray(offset, Math.min(head.length, offset + n)));
        return out;
      },
    };
    const probe = createProbe(src, 'model.json');
    expect(tfjs.match(probe)).toBe(true);
    await expect(tfjs.inspect(src, probe, ctx)).rejects.toBeInstanceOf(LimitError);
    expect(read).toBeLessThanOrEqual(64 * 1024);
  });

  it('rejects hostile topologies with a FormatError', async () => {
    let deep: Record<string, unknown> = { class_name: 'Sequential', config: { layers: [] } };
    for (let i = 0; i < 40; i++) deep = { class_name: 'Sequential', config: { layers: [deep] } };
    const src = new BufferSource(tfjsBytes({ modelTopology: deep }));
    const err = await tfjs.inspect(src, createProbe(src, 'm.json'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe('Invalid TF.js model: model configs nest more than 16 deep.');
  });

  it('counts weights with broken shapes as a warning, not a crash', async () => {
    const info = await inspect(tfjsBytes({ weightsManifest: [{ paths: ['a.bin'], weights: [{ name: 'w', shape: [-1, 'x'], dtype: 'float32' }] }] }));
    expect(info.warnings?.map((w) => w.message)).toEqual([
      'TF.js weightsManifest: 1 weight(s) have a shape that is not a list of non-negative integers; they are not counted.',
    ]);
  });
});

describe('json-probe', () => {
  it('decides from the head, parses once per item, and refuses items over the limit', () => {
    expect(looksLikeJsonObject(enc('  \n{ "a": 1 }'))).toBe(true);
    expect(looksLikeJsonObject(enc('\ufeff{}'))).toBe(true);
    expect(looksLikeJsonObject(enc('{a: 1}'))).toBe(false);
    expect(looksLikeJsonObject(enc('[1]'))).toBe(false);
    let reads = 0;
    const bytes = tfjsBytes(sequential);
    const src: ByteSource = {
      size: bytes.length,
      read: (o, l) => {
        reads++;
        return bytes.subarray(o, o + l);
      },
    };
    const probe = createProbe(src, 'm.json');
    const a = jsonObject(probe);
    const b = jsonObject(probe);
    expect(a).toBe(b);
    expect(a.status).toBe('object');
    expect(reads).toBe(1); // the head holds the whole item: no second read
    expect(jsonObject(createProbe(new BufferSource(enc('{"a": ')), 'x')).status).toBe('invalid');
    expect(jsonObject(createProbe(new BufferSource(enc('{"a": "\xff"}'.replace('\xff', ''))), 'x')).status).toBe('object');
    expect(jsonObject(createProbe(new BufferSource(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), 'x'))).toEqual({
      status: 'invalid',
      message: 'the text is not valid UTF-8',
    });
  });
});

describe('tfjs: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  const files: [string, Uint8Array][] = [
    ['www/models/face/blazeface.json', tfjsBytes(sequential)],
    ['www/models/face/group1-shard1of2.bin', shardBytes(dense)],
    ['www/models/face/group1-shard2of2.bin', new Uint8Array(7)],
    ['www/package.json', fs.readFileSync(path.join(here, '../../package.json'))],
  ];

  it.each(['zip', 'tar'])('finds a TF.js model of any name in a %s, with its shards as parts and nothing else as a model', async (kind) => {
    let archive: string;
    if (kind === 'zip') {
      archive = path.join(tmp, 'kiosk.zip');
      fs.writeFileSync(archive, buildZip(files, 0));
    } else {
      const d = path.join(tmp, 'tree');
      for (const [n, b] of files) {
        fs.mkdirSync(path.join(d, path.dirname(n)), { recursive: true });
        fs.writeFileSync(path.join(d, n), b);
      }
      archive = path.join(tmp, 'kiosk.tar');
      run('tar', ['-cf', archive, '-C', d, 'www']);
    }
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/www/models/face/blazeface.json`]);
    const m = models[0]!;
    expect(m.kind === 'model' && m.model.card).toMatchObject({ format: 'tfjs', architecture: 'Sequential', parameters: 25450 });
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path).sort()).toEqual([
      `${archive}!/www/models/face/group1-shard1of2.bin`,
      `${archive}!/www/models/face/group1-shard2of2.bin`,
    ]);
    for (const p of parts) expect(inv.relationships).toContainEqual({ from: p.id, type: 'part-of', to: m.id });
    // The package.json beside it makes the folder an npm package with no TF.js runtime in it: the only
    // problem is that info, not a damaged model.
    expect(inv.problems.map((p) => [p.code, p.severity])).toEqual([['no-runtime', 'info']]);
  });

  it('names missing shards as problems on the model', async () => {
    const d = path.join(tmp, 'missing');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'model.json'), tfjsBytes(sequential));
    const inv = valid(await scan([d]));
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems.map((p) => p.message)).toEqual([
      "The model's weights file 'group1-shard1of2.bin' is missing beside the model.",
      "The model's weights file 'group1-shard2of2.bin' is missing beside the model.",
    ]);
  });
});
