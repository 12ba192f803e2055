import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { formats } from '../../src/formats/index.js';
import { tfGraphdef, type TfGraphdefMetadata } from '../../src/formats/tf-graphdef.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { DT, graphDefBytes, type GraphSpec } from '../builders/tf-graph-builder.js';
import { expectConforms } from '../helpers/conformance.js';
import { corpusFiles } from '../helpers/corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-tf-graphdef-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };

const matches = (bytes: Uint8Array, name = 'frozen_graph.pb'): boolean => tfGraphdef.match(createProbe(new BufferSource(bytes), name));
async function inspect(bytes: Uint8Array, name = 'frozen_graph.pb'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await tfGraphdef.inspect(src, createProbe(src, name), ctx);
  expectConforms(tfGraphdef, info.metadata);
  return info;
}

const mobilenet: GraphSpec = {
  producer: 27,
  nodes: [
    { name: 'input', op: 'Placeholder', dtype: DT.FLOAT, shape: [-1, 224, 224, 3] },
    { name: 'conv/weights', op: 'Const', value: { dtype: DT.FLOAT, shape: [3, 3, 3, 32] } },
    { name: 'conv/Conv2D', op: 'Conv2D', input: ['input', 'conv/weights'] },
    { name: 'conv/Relu6', op: 'Relu6', input: ['conv/Conv2D'] },
    { name: 'fc/weights', op: 'Const', value: { dtype: DT.FLOAT, shape: [32, 1001] } },
    { name: 'fc/MatMul', op: 'MatMul', input: ['conv/Relu6', 'fc/weights'] },
    { name: 'labels', op: 'Const', value: { dtype: DT.STRING, shape: [1001] } },
    { name: 'Softmax', op: 'Softmax', input: ['fc/MatMul'] },
  ],
  functions: [{ name: 'f', nodes: [{ name: 'a', op: 'Conv2D' }] }],
};

describe('tf-graphdef', () => {
  it('reads the op histogram, inputs, constants and producer version', async () => {
    const bytes = graphDefBytes(mobilenet);
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.confidence).toBe('high');
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toEqual({
      producer: 27,
      minConsumer: 12,
      nodeCount: 9,
      functionCount: 1,
      ops: { Const: 3, Conv2D: 2, MatMul: 1, Placeholder: 1, Relu6: 1, Softmax: 1 },
      inputs: [{ name: 'input', dtype: 'float32', shape: [null, 224, 224, 3] }],
      constants: { count: 3, elements: 864 + 32 * 1001 + 1001, byType: { float32: 2, string: 1 } },
      riskyOps: [],
    } satisfies TfGraphdefMetadata);
    const card = tfGraphdef.card(info.metadata);
    expect(card.operators.slice(0, 2)).toEqual([
      { name: 'Const', count: 3, custom: false },
      { name: 'Conv2D', count: 2, custom: false },
    ]);
    expect(card).toMatchObject({
      format: 'tf-graphdef',
      formatVersion: '27',
      inputs: [{ name: 'input', type: 'float32', shape: [null, 224, 224, 3] }],
      parameters: 864 + 32 * 1001 + 1001,
      weightTypes: ['float32'],
      quantized: false,
    });
  });

  it('flags ops that read or write files or run Python code as a security warning', async () => {
    const g: GraphSpec = {
      producer: 1,
      nodes: [
        { name: 'path', op: 'Const', value: { dtype: DT.STRING, shape: [] } },
        { name: 'read', op: 'ReadFile', input: ['path'] },
        { name: 'py', op: 'PyFunc' },
      ],
      functions: [{ name: 'f', nodes: [{ name: 'w', op: 'WriteFile' }] }],
    };
    const info = await inspect(graphDefBytes(g));
    expect(info.metadata).toMatchObject({ riskyOps: ['PyFunc', 'ReadFile', 'WriteFile'] });
    expect(info.warnings).toEqual([
      {
        severity: 'warning',
        code: 'security',
        message: 'The TensorFlow graph holds ops that read or write files or run Python code when it runs: PyFunc (1), ReadFile (1), WriteFile (1).',
      },
    ]);
  });

  it('needs the .pb name and a NodeDef with an op name', () => {
    const bytes = graphDefBytes(mobilenet);
    expect(matches(bytes, 'frozen_graph.bin')).toBe(false);
    expect(matches(bytes, 'model.onnx')).toBe(false);
    // A protobuf whose field 1 is a message but not a NodeDef: op is not an identifier.
    expect(matches(graphDefBytes({ nodes: [{ name: 'x', op: 'not an op!' }] }))).toBe(false);
    // Field 1 a varint (the SavedModel fingerprint.pb, a SavedModel itself).
    expect(matches(new Uint8Array([0x08, 0x01, 0x12, 0x00]))).toBe(false);
    expect(matches(new TextEncoder().encode('node { name: "x" op: "Const" }'))).toBe(false);
    expect(matches(new Uint8Array(0))).toBe(false);
  });

  it('is never chosen for ONNX models, even named .pb', () => {
    const onnxBytes = new OnnxBuilder()
      .producer('t', '1')
      .opset('', 17)
      .input('x', 'float32', [1])
      .output('y', 'float32', [1])
      .node('Relu', ['x'], ['y'])
      .build();
    expect(matches(onnxBytes, 'model.pb')).toBe(false);
    const files = corpusFiles('onnx', '.onnx').filter((f) => path.basename(f) !== 'LICENSE.onnx');
    for (const f of files) {
      const src = FileSource.open(f);
      try {
        const probe = createProbe(src, 'model.pb');
        expect(tfGraphdef.match(probe), f).toBe(false);
        // The first registered format that accepts it is still ONNX.
        expect(formats.find((x) => x.match(createProbe(src, path.basename(f))))?.id, f).toBe('onnx');
      } finally {
        src.close();
      }
    }
  });

  it('fails a truncated graph with a FormatError naming the message', async () => {
    const bytes = graphDefBytes(mobilenet);
    const cut = bytes.subarray(0, bytes.length - 5);
    await expect(inspect(cut)).rejects.toThrow(FormatError);
    await expect(inspect(cut)).rejects.toThrow(/Invalid TensorFlow GraphDef: .*(runs past|ended)/);
  });

  it('fails a node without an op, and a graph without nodes', async () => {
    await expect(inspect(graphDefBytes({ nodes: [{ name: 'x', op: '' }] }))).rejects.toThrow(/NodeDef 'x' at offset \d+ has no op/);
    await expect(inspect(graphDefBytes({ nodes: [], producer: 3 }))).rejects.toThrow(/has no field 1 \(node\)/);
  });

  it('holds absurd constant shapes at 2^53 - 1', async () => {
    const g: GraphSpec = { producer: 1, nodes: [{ name: 'c', op: 'Const', value: { dtype: DT.FLOAT, shape: [2 ** 31, 2 ** 31, 2 ** 31] } }] };
    const info = await inspect(graphDefBytes(g));
    expect((info.metadata as TfGraphdefMetadata).constants.elements).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('is found by a scan of a folder as one model', async () => {
    const d = path.join(tmp, 'app');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'detect.pb'), graphDefBytes(mobilenet));
    fs.writeFileSync(path.join(d, 'other.pb'), new Uint8Array([0x08, 0x96, 0x01]));
    const inv = inventorySchema.parse(await scan([d])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.kind === 'model' && [path.basename(m.locations[0]!.path), m.model.format])).toEqual([['detect.pb', 'tf-graphdef']]);
    // A .pb that is not a graph is not reported as a broken model: `.pb` is no claim.
    expect(inv.problems.filter((p) => p.code === 'claimed-model')).toEqual([]);
  });
});
