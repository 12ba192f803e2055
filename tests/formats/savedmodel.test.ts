import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { onnx } from '../../src/formats/onnx.js';
import { savedmodel, type SavedmodelMetadata } from '../../src/formats/savedmodel.js';
import { tfGraphdef } from '../../src/formats/tf-graphdef.js';
import type { InspectContext, ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { DT, savedModelBytes, type MetaGraphSpec } from '../builders/tf-graph-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-savedmodel-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A context whose siblings are the given names. */
function ctxWith(names: string[]): InspectContext {
  return { limits: DEFAULT_LIMITS, sibling: async (n) => (names.includes(n) ? new BufferSource(new Uint8Array(4)) : undefined) };
}
const matches = (bytes: Uint8Array): boolean => savedmodel.match(createProbe(new BufferSource(bytes), 'saved_model.pb'));
async function inspect(bytes: Uint8Array, ctx: InspectContext = { limits: DEFAULT_LIMITS }): Promise<ModelInfo> {
  const src: ByteSource = new BufferSource(bytes);
  const info = await savedmodel.inspect(src, createProbe(src, 'saved_model.pb'), ctx);
  expectConforms(savedmodel, info.metadata);
  return info;
}

const serve: MetaGraphSpec = {
  tags: ['serve'],
  tensorflowVersion: '2.15.0',
  graph: {
    producer: 1645,
    nodes: [
      { name: 'serving_default_image', op: 'Placeholder', dtype: DT.UINT8, shape: [-1, 320, 320, 3] },
      { name: 'conv/kernel', op: 'VarHandleOp' },
      { name: 'c', op: 'Const', value: { dtype: DT.FLOAT, shape: [4] } },
      { name: 'call', op: 'StatefulPartitionedCall' },
      { name: 'saver', op: 'SaveV2' },
    ],
    functions: [
      {
        name: '__inference_call_12',
        nodes: [
          { name: 'conv', op: 'Conv2D' },
          { name: 'nms', op: 'NonMaxSuppressionV5' },
        ],
      },
    ],
  },
  signatures: {
    serving_default: {
      inputs: { image: { name: 'serving_default_image:0', dtype: DT.UINT8, shape: [-1, 320, 320, 3] } },
      outputs: {
        scores: { name: 'call:1', dtype: DT.FLOAT, shape: [-1, 100] },
        boxes: { name: 'call:0', dtype: DT.FLOAT, shape: [-1, 100, 4] },
        count: { name: 'call:2', dtype: DT.INT32, shape: 'unknown' },
      },
    },
    __saved_model_init_op: { inputs: {}, outputs: { init: { name: 'NoOp', dtype: DT.INT32 } }, method: '' },
  },
  assets: ['labels.txt'],
  objectGraph: true,
};

describe('savedmodel', () => {
  it('reads tags, TF version, signatures, ops, and finds variables and assets as parts', async () => {
    const bytes = savedModelBytes([serve]);
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes, ctxWith(['variables/variables.index', 'variables/variables.data-00000-of-00002', 'fingerprint.pb']));
    expect(info.confidence).toBe('high');
    const md = info.metadata as SavedmodelMetadata;
    expect(md).toEqual({
      schemaVersion: 1,
      metaGraphs: [
        {
          tags: ['serve'],
          tensorflowVersion: '2.15.0',
          tensorflowGitVersion: 'v2.15.0-rc1-8-g6887368d6d4',
          signatures: [
            { key: '__saved_model_init_op', inputs: [], outputs: [{ name: 'init', dtype: 'int32' }] },
            {
              key: 'serving_default',
              methodName: 'tensorflow/serving/predict',
              inputs: [{ name: 'image', dtype: 'uint8', shape: [null, 320, 320, 3] }],
              outputs: [
                { name: 'boxes', dtype: 'float32', shape: [null, 100, 4] },
                { name: 'count', dtype: 'int32', shape: null },
                { name: 'scores', dtype: 'float32', shape: [null, 100] },
              ],
            },
          ],
          assets: ['labels.txt'],
          hasObjectGraph: true,
        },
      ],
      producer: 1645,
      nodeCount: 7,
      functionCount: 1,
      ops: { Const: 1, Conv2D: 1, NonMaxSuppressionV5: 1, Placeholder: 1, SaveV2: 1, StatefulPartitionedCall: 1, VarHandleOp: 1 },
      constants: { count: 1, elements: 4, byType: { float32: 1 } },
      riskyOps: [],
      variables: { index: true, shards: 2 },
    } satisfies SavedmodelMetadata);
    expect(info.parts).toEqual([
      { path: 'variables/variables.index', role: 'weights' },
      { path: 'variables/variables.data-00000-of-00002', role: 'weights' },
      { path: 'variables/variables.data-00001-of-00002', role: 'weights' },
      { path: 'fingerprint.pb', role: 'fingerprint' },
      { path: 'assets/labels.txt', role: 'asset' },
    ]);
    expect(info.warnings).toBeUndefined();
    expect(savedmodel.card(md)).toMatchObject({
      format: 'savedmodel',
      formatVersion: '1',
      producer: 'TensorFlow',
      producerVersion: '2.15.0',
      inputs: [{ name: 'image', type: 'uint8', shape: [null, 320, 320, 3] }],
      outputs: [{ name: 'boxes' }, { name: 'count', shape: null }, { name: 'scores' }],
      weightTypes: ['float32'],
    });
  });

  it('names the index as a part when the graph has variables but the folder is missing, and flags an index without data', async () => {
    const none = await inspect(savedModelBytes([serve]), ctxWith([]));
    expect(none.parts?.[0]).toEqual({ path: 'variables/variables.index', role: 'weights' });
    expect(none.metadata).toMatchObject({ variables: { index: false, shards: 0 } });
    const noData = await inspect(savedModelBytes([serve]), ctxWith(['variables/variables.index']));
    expect(noData.warnings).toEqual([expect.objectContaining({ severity: 'error', code: 'external-data', message: expect.stringMatching(/no data shard/) })]);
  });

  it('flags file and Python ops in graphs and functions', async () => {
    const risky: MetaGraphSpec = {
      graph: { producer: 1, nodes: [{ name: 'r', op: 'ReadFile' }], functions: [{ name: 'f', nodes: [{ name: 'p', op: 'EagerPyFunc' }] }] },
    };
    const info = await inspect(savedModelBytes([risky]));
    expect(info.metadata).toMatchObject({ riskyOps: ['EagerPyFunc', 'ReadFile'] });
    expect(info.warnings).toEqual([expect.objectContaining({ code: 'security', message: expect.stringContaining('EagerPyFunc (1), ReadFile (1)') })]);
  });

  it('reads several meta graphs (serve and train)', async () => {
    const info = await inspect(savedModelBytes([serve, { tags: ['train'], tensorflowVersion: '1.15.0' }]));
    expect((info.metadata as SavedmodelMetadata).metaGraphs.map((g) => g.tags)).toEqual([['serve'], ['train']]);
  });

  it('is neither ONNX nor a frozen graph, and they are not a SavedModel', () => {
    const bytes = savedModelBytes([serve]);
    expect(onnx.match(createProbe(new BufferSource(bytes), 'saved_model.pb'))).toBe(false);
    expect(tfGraphdef.match(createProbe(new BufferSource(bytes), 'saved_model.pb'))).toBe(false);
    // Schema version 2, a bare varint, a MetaGraphDef without MetaInfoDef first.
    expect(matches(savedModelBytes([serve], 2))).toBe(false);
    expect(matches(new Uint8Array([0x08, 0x01]))).toBe(false);
    expect(matches(new Uint8Array([0x08, 0x01, 0x12, 0x02, 0x12, 0x00]))).toBe(false);
    expect(matches(new Uint8Array([0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x38, 0xff]))).toBe(false);
  });

  it('fails truncated files and files without meta graphs with a FormatError', async () => {
    const bytes = savedModelBytes([serve]);
    await expect(inspect(bytes.subarray(0, bytes.length - 3))).rejects.toThrow(FormatError);
    await expect(inspect(new Uint8Array([0x08, 0x01]))).rejects.toThrow(/has no field 2 \(meta_graphs\)/);
  });

  it('is found by a scan with its variables as parts, and a missing shard folder is a problem', async () => {
    const d = path.join(tmp, 'detector');
    fs.mkdirSync(path.join(d, 'variables'), { recursive: true });
    fs.mkdirSync(path.join(d, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(d, 'saved_model.pb'), savedModelBytes([serve]));
    fs.writeFileSync(path.join(d, 'variables', 'variables.index'), new Uint8Array(40));
    fs.writeFileSync(path.join(d, 'variables', 'variables.data-00000-of-00001'), new Uint8Array(100).fill(7));
    fs.writeFileSync(path.join(d, 'assets', 'labels.txt'), 'cat\ndog\n');
    const inv = inventorySchema.parse(await scan([d])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models).toHaveLength(1);
    const m = models[0]!;
    expect(m.kind === 'model' && m.model.format).toBe('savedmodel');
    const parts = inv.components.filter((c) => c.kind === 'data').map((c) => path.relative(d, c.locations[0]!.path));
    expect(parts.sort()).toEqual(['assets/labels.txt', 'variables/variables.data-00000-of-00001', 'variables/variables.index']);
    for (const p of inv.components.filter((c) => c.kind === 'data')) expect(inv.relationships).toContainEqual({ from: p.id, type: 'part-of', to: m.id });

    fs.rmSync(path.join(d, 'variables'), { recursive: true });
    const inv2 = inventorySchema.parse(await scan([d])) as Inventory;
    expect(inv2.problems.map((p) => p.message)).toContain("The model's weights file 'variables/variables.index' is missing beside the model.");
  });
});
