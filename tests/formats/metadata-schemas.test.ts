import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formats } from '../../src/formats/index.js';
import { onnx } from '../../src/formats/onnx.js';
import { onnxMetadataSchema } from '../../src/formats/onnx-metadata.js';
import { readTflite, tflite } from '../../src/formats/tflite.js';
import { tfliteMetadataSchema } from '../../src/formats/tflite-metadata.js';
import type { ModelFormat } from '../../src/formats/types.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { GraphBuilder, OnnxBuilder } from '../builders/onnx-builder.js';
import { TfliteBuilder } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';
import { corpusFiles } from '../helpers/corpus.js';

// The per-format metadata schemas and model cards, checked over the real corpus and over builder
// models made to hit each card rule. (The format tests also route every model they inspect, fuzzed
// ones included, through `expectConforms`.)

const ctx = { limits: DEFAULT_LIMITS };

async function inspectFile(format: ModelFormat, file: string): Promise<Record<string, unknown>> {
  const src = FileSource.open(file);
  try {
    return (await format.inspect(src, createProbe(src, path.basename(file)), ctx)).metadata;
  } finally {
    src.close();
  }
}

async function inspectBytes(format: ModelFormat, bytes: Uint8Array): Promise<Record<string, unknown>> {
  const src = new BufferSource(bytes);
  return (await format.inspect(src, createProbe(src, `model.${format.id}`), ctx)).metadata;
}

/** A deep copy of `value`, so a test can corrupt it without touching what the card saw. */
function clone<T>(value: T): T {
  return structuredClone(value);
}

const onnxFiles = corpusFiles('onnx', '.onnx').filter((f) => path.basename(f) !== 'LICENSE.onnx');
const tfliteFiles = corpusFiles('tflite', '.tflite');
const corpus = (files: string[], name: string): string => {
  const f = files.find((x) => path.basename(x) === name);
  if (f === undefined) throw new Error(`corpus file ${name} is missing`);
  return f;
};

describe('every registered format carries a schema and a card', () => {
  it.each(formats.map((f) => f.id))('%s: root schema has a title and a description for the README', (id) => {
    const f = formats.find((x) => x.id === id)!;
    const meta = f.metadataSchema.meta();
    expect(meta?.title).toMatch(/ metadata$/);
    expect(meta?.description?.length ?? 0).toBeGreaterThan(40);
  });
});

describe('real corpus: metadata matches its schema, the card matches modelCardSchema', () => {
  it.runIf(onnxFiles.length > 0)('every ONNX model', async () => {
    for (const f of onnxFiles) expectConforms(onnx, await inspectFile(onnx, f), path.basename(f));
  });
  it.runIf(tfliteFiles.length > 0)('every TFLite model', async () => {
    for (const f of tfliteFiles) expectConforms(tflite, await inspectFile(tflite, f), path.basename(f));
  });

  it.runIf(onnxFiles.length > 0)('ONNX pytorch_test_Conv2d: PyTorch 0.3 export, placeholder graph name left out', async () => {
    const card = expectConforms(onnx, await inspectFile(onnx, corpus(onnxFiles, 'pytorch_test_Conv2d.onnx')));
    expect(card).toEqual({
      producer: 'pytorch',
      producerVersion: '0.3',
      format: 'onnx',
      formatVersion: 'ir 3; opset ai.onnx 6',
      inputs: [{ name: '0', type: 'float32', shape: [2, 3, 7, 5] }],
      outputs: [{ name: '3', type: 'float32', shape: [2, 4, 5, 4] }],
      parameters: 76,
      parameterBytes: 304,
      weightTypes: ['float32'],
      quantized: false,
      operators: [{ name: 'Conv', domain: 'ai.onnx', count: 1, custom: false }],
      customOperators: false,
    });
    expect(card.name).toBeUndefined(); // the graph is 'torch-jit-export'
  });

  it.runIf(onnxFiles.length > 0)('ONNX light_resnet50: graph name as model name, operators by count then name', async () => {
    const card = expectConforms(onnx, await inspectFile(onnx, corpus(onnxFiles, 'light_resnet50.onnx')));
    expect(card.name).toBe('resnet50');
    expect(card.producer).toBe('onnx-caffe2');
    expect(card.producerVersion).toBeUndefined();
    expect(card.formatVersion).toBe('ir 3; opset ai.onnx 9');
    expect(card.inputs).toEqual([{ name: 'gpu_0/data_0', type: 'float32', shape: [1, 3, 224, 224] }]);
    expect(card.outputs).toEqual([{ name: 'gpu_0/softmax_1', type: 'float32', shape: [1, 1000] }]);
    expect(card.weightTypes).toEqual(['float32', 'int64']);
    expect(card.quantized).toBe(false);
    // 53 BatchNormalization and 53 Conv: a tie, broken by name.
    expect(card.operators.slice(0, 4).map((o) => `${o.name}×${o.count}`)).toEqual(['ConstantOfShape×239', 'BatchNormalization×53', 'Conv×53', 'Relu×49']);
    expect(card.customOperators).toBe(false);
  });

  it.runIf(tfliteFiles.length > 0)('TFLite mobilenet_v1_0.25_224_quant: TFLite Metadata fields, uint8 quantized', async () => {
    const card = expectConforms(tflite, await inspectFile(tflite, corpus(tfliteFiles, 'mobilenet_v1_0.25_224_quant.tflite')));
    expect(card).toEqual({
      name: 'MobileNetV1 image classifier (quantized)',
      version: 'v1',
      description: 'Identify the most prominent object in the image from a set of 1,001 categories such as trees, animals, food, vehicles, person etc.',
      author: 'TensorFlow',
      license: 'Apache License. Version 2.0 http://www.apache.org/licenses/LICENSE-2.0.',
      format: 'tflite',
      formatVersion: 'schema 3',
      inputs: [{ name: 'input', type: 'uint8', shape: [1, 224, 224, 3] }],
      outputs: [{ name: 'MobilenetV1/Predictions/Reshape_1', type: 'uint8', shape: [1, 1001] }],
      parameters: 467595,
      parameterBytes: 478812,
      weightTypes: ['int32', 'uint8'],
      quantized: true,
      operators: [
        { name: 'CONV_2D', domain: 'builtin', count: 15, custom: false },
        { name: 'DEPTHWISE_CONV_2D', domain: 'builtin', count: 13, custom: false },
        { name: 'AVERAGE_POOL_2D', domain: 'builtin', count: 1, custom: false },
        { name: 'RESHAPE', domain: 'builtin', count: 1, custom: false },
        { name: 'SOFTMAX', domain: 'builtin', count: 1, custom: false },
      ],
      customOperators: false,
    });
    // The converter's stamp 'TOCO Converted.' loses to the metadata's description and names no producer.
    expect(card.producer).toBeUndefined();
  });

  it.runIf(tfliteFiles.length > 0)('TFLite dilated_conv: dynamic dims as null, min runtime version, empty author left out', async () => {
    const card = expectConforms(tflite, await inspectFile(tflite, corpus(tfliteFiles, 'dilated_conv.tflite')));
    expect(card.name).toBe('Dilated Convolution Model');
    expect(card.author).toBeUndefined(); // ModelMetadata.author is ''
    expect(card.formatVersion).toBe('schema 3; min runtime 1.13.0');
    expect(card.inputs).toEqual([{ name: 'input_1', type: 'float32', shape: [null, null, null, 3] }]);
    expect(card.outputs).toEqual([{ name: 'Identity', type: 'float32', shape: [null, null, null, 16] }]);
    expect(card.quantized).toBe(false);
  });

  it.runIf(tfliteFiles.length > 0)('TFLite sentencepiece and coco_ssd: converter stamp as description, Flex and custom operators', async () => {
    const sp = expectConforms(tflite, await inspectFile(tflite, corpus(tfliteFiles, 'sentencepiece_tokenizer_flex_op.tflite')));
    expect(sp.name).toBeUndefined();
    expect(sp.description).toBe('MLIR Converted.');
    expect(sp.producer).toBeUndefined();
    expect(sp.inputs).toEqual([{ name: 'input', type: 'string', shape: [1] }]);
    expect(sp.operators).toEqual([
      { name: 'FlexRaggedTensorToTensor', domain: 'flex', count: 1, custom: true },
      { name: 'FlexSentencepieceOp', domain: 'flex', count: 1, custom: true },
      { name: 'FlexSentencepieceTokenizeOp', domain: 'flex', count: 1, custom: true },
    ]);
    expect(sp.customOperators).toBe(true);
    const ssd = expectConforms(tflite, await inspectFile(tflite, corpus(tfliteFiles, 'coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite')));
    expect(ssd.name).toBe('Coco SSD MobileNetV1');
    expect(ssd.operators.filter((o) => o.custom)).toEqual([{ name: 'TFLite_Detection_PostProcess', domain: 'custom', count: 1, custom: true }]);
    expect(ssd.outputs.map((o) => o.name)).toEqual([
      'TFLite_Detection_PostProcess',
      'TFLite_Detection_PostProcess:1',
      'TFLite_Detection_PostProcess:2',
      'TFLite_Detection_PostProcess:3',
    ]);
  });
});

describe('onnx card rules on builder models', () => {
  it('reads names, author and licence from metadata_props, quantization and custom domains from operators', async () => {
    const bytes = new OnnxBuilder()
      .irVersion(9)
      .producer('onnxruntime.quantization', '1.17')
      .domain('org.example')
      .modelVersion(7)
      .docString('Detects cats.')
      .opset('', 19)
      .opset('com.microsoft', 1)
      .metadata('Model_Author', 'Example Labs') // keys compare case-insensitively
      .metadata('model_license', 'MIT')
      .metadata('name', '') // states nothing: the graph name is used
      .name('catnet')
      .input('x', 'float32', ['batch', 3, 224, 224])
      .initializer('w', 'int8', [16, 3, 3, 3])
      .initializer('s', 'float32', [1], { floats: [0.1] })
      .node('DequantizeLinear', ['w', 's'], ['wf'])
      .node('Conv', ['x', 'wf'], ['y'])
      .node('MatMulNBits', ['y', 'w'], ['z'], { domain: 'com.microsoft' })
      .node('MatMulNBits', ['z', 'w'], ['o'], { domain: 'com.microsoft' })
      .output('o', 'float32')
      .build();
    const card = expectConforms(onnx, await inspectBytes(onnx, bytes));
    expect(card).toEqual({
      name: 'catnet',
      version: '7',
      description: 'Detects cats.',
      author: 'Example Labs',
      license: 'MIT',
      producer: 'onnxruntime.quantization',
      producerVersion: '1.17',
      format: 'onnx',
      formatVersion: 'ir 9; opset ai.onnx 19, com.microsoft 1',
      inputs: [{ name: 'x', type: 'float32', shape: ['batch', 3, 224, 224] }],
      outputs: [{ name: 'o', type: 'float32', shape: null }],
      parameters: 16 * 27 + 1,
      parameterBytes: 16 * 27 + 4,
      weightTypes: ['float32', 'int8'],
      quantized: true,
      operators: [
        { name: 'MatMulNBits', domain: 'com.microsoft', count: 2, custom: true },
        { name: 'Conv', domain: 'ai.onnx', count: 1, custom: false },
        { name: 'DequantizeLinear', domain: 'ai.onnx', count: 1, custom: false },
      ],
      customOperators: true,
    });
  });

  it('prefers a model_name prop to the graph name; leaves out placeholder and random graph names', async () => {
    const base = (): OnnxBuilder => new OnnxBuilder().opset('', 17).input('x', 'float32', [1]).node('Relu', ['x'], ['y']).output('y', 'float32', [1]);
    const nameOf = async (b: OnnxBuilder): Promise<string | undefined> => expectConforms(onnx, await inspectBytes(onnx, b.build())).name;
    expect(await nameOf(base().name('graph').metadata('model_name', 'Cat detector'))).toBe('Cat detector');
    expect(await nameOf(base().name('torch-jit-export'))).toBeUndefined();
    expect(await nameOf(base().name('main_graph'))).toBeUndefined();
    expect(await nameOf(base().name('3c59201b940f410fa29dc71ea9d5767d'))).toBeUndefined();
    expect(await nameOf(base().name('mobilenet_v2'))).toBe('mobilenet_v2');
  });

  it('leaves out uncountable parameters, reports no quantization without evidence, keeps training domains standard', async () => {
    const bytes = new OnnxBuilder()
      .opset('', 17)
      .metadata('author', 'someone')
      .input('x', 'float32', [2])
      .initializer('w', 'float32', [-1], { none: true }) // dims that cannot be counted: the figures are lower bounds
      .initializer('b', 'int64', [2], { int64s: [1, 2] }) // int64 weights are shapes, not quantization
      .node('Add', ['x', 'w'], ['y'])
      .node('Training', ['y'], ['z'], { domain: 'ai.onnx.preview.training' })
      .output('z', 'float32', [2])
      .build();
    const md = await inspectBytes(onnx, bytes);
    expect(md.parameters).toMatchObject({ approximate: true });
    const card = expectConforms(onnx, md);
    expect(card.author).toBe('someone');
    expect(card.parameters).toBeUndefined();
    expect(card.parameterBytes).toBeUndefined();
    expect(card.quantized).toBe(false);
    // The ONNX training domains are part of the standard: not custom, like the metadata's customDomains.
    expect(card.operators.find((o) => o.name === 'Training')).toEqual({ name: 'Training', domain: 'ai.onnx.preview.training', count: 1, custom: false });
    expect(card.customOperators).toBe(false);
  });

  it('counts operators of subgraphs; a value without a type has no type on the card', async () => {
    const then = new GraphBuilder('then').node('QLinearConv', ['a'], ['b']).output('b', 'int8', [1]);
    const other = new GraphBuilder('else').node('Identity', ['a'], ['b']).output('b', 'int8', [1]);
    const bytes = new OnnxBuilder().opset('', 17).input('c', 'bool', []).ifNode('c', ['y'], then, other).output('y', 'int8', [1]).build();
    const card = expectConforms(onnx, await inspectBytes(onnx, bytes));
    expect(card.quantized).toBe(true); // QLinearConv inside an If branch
    expect(card.operators.map((o) => o.name)).toEqual(['Identity', 'If', 'QLinearConv']);
    expect(card.inputs).toEqual([{ name: 'c', type: 'bool', shape: [] }]);
    // ValueInfoProto without a type (the builder always writes one): elemType 'undefined' in the metadata.
    const md = clone(await inspectBytes(onnx, bytes)) as { graph: { inputs: Array<{ elemType: string; shape: unknown }> } };
    md.graph.inputs[0]!.elemType = 'undefined';
    md.graph.inputs[0]!.shape = null;
    expect(expectConforms(onnx, md).inputs).toEqual([{ name: 'c', shape: null }]);
  });
});

describe('tflite card rules on builder models', () => {
  it('sums operator versions, marks Flex, custom and Edge TPU operators, writes dynamic dims as null', async () => {
    const bytes = new TfliteBuilder()
      .description('MLIR Converted.')
      .metadataEntry('min_runtime_version', '2.3.0')
      .modelMetadata({ name: 'tiny', version: '2', author: '', license: 'Apache-2.0', description: 'A tiny model.' })
      .subgraph((sg) =>
        sg
          .tensor('x', 'float32', [1, 4], { shapeSignature: [-1, 4] })
          .tensor('w', 'float32', [4, 4], { data: new Uint8Array(64) })
          .tensor('y', 'float32', [1, 4])
          .operator('FULLY_CONNECTED', [0, 1], [2], { version: 1 })
          .operator('FULLY_CONNECTED', [2, 1], [2], { version: 9 })
          .customOperator('FlexAddV2', [2], [2])
          .customOperator('edgetpu-custom-op', [2], [2])
          .customOperator('MyOp', [2], [2])
          .inputs([0])
          .outputs([2]),
      )
      .build();
    const card = expectConforms(tflite, await inspectBytes(tflite, bytes));
    expect(card).toEqual({
      name: 'tiny',
      version: '2',
      description: 'A tiny model.',
      license: 'Apache-2.0',
      format: 'tflite',
      formatVersion: 'schema 3; min runtime 2.3.0',
      inputs: [{ name: 'x', type: 'float32', shape: [null, 4] }],
      outputs: [{ name: 'y', type: 'float32', shape: [1, 4] }],
      parameters: 16,
      parameterBytes: 64,
      weightTypes: ['float32'],
      quantized: false,
      operators: [
        { name: 'FULLY_CONNECTED', domain: 'builtin', count: 2, custom: false },
        { name: 'FlexAddV2', domain: 'flex', count: 1, custom: true },
        { name: 'MyOp', domain: 'custom', count: 1, custom: true },
        { name: 'edgetpu-custom-op', domain: 'edgetpu', count: 1, custom: true },
      ],
      customOperators: true,
    });
  });

  it('without TFLite Metadata: the converter stamp is the description, int8 weights mean quantized', async () => {
    const bytes = new TfliteBuilder()
      .description('TOCO Converted.')
      .subgraph((sg) =>
        sg
          .tensor('x', 'float32', [1, 4])
          .tensor('w', 'int8', [4, 4], { data: new Uint8Array(16) })
          .tensor('y', 'float32', [1, 4])
          .operator('FULLY_CONNECTED', [0, 1], [2])
          .inputs([0])
          .outputs([2]),
      )
      .build();
    const card = expectConforms(tflite, await inspectBytes(tflite, bytes));
    expect(card.description).toBe('TOCO Converted.');
    expect(card.producer).toBeUndefined();
    expect(card.name).toBeUndefined();
    expect(card.formatVersion).toBe('schema 3');
    expect(card.quantized).toBe(true);
  });

  it('a quantized input alone makes the model quantized', async () => {
    const bytes = new TfliteBuilder()
      .subgraph((sg) =>
        sg
          .tensor('x', 'uint8', [1, 4], { quant: { scale: [0.5], zeroPoint: [128] } })
          .tensor('y', 'float32', [1, 4])
          .operator('RELU', [0], [1])
          .inputs([0])
          .outputs([1]),
      )
      .build();
    const card = expectConforms(tflite, await inspectBytes(tflite, bytes));
    expect(card.quantized).toBe(true);
    expect(card.weightTypes).toEqual([]);
  });

  it('a hostile shape over a tiny buffer keeps parameter counts exact integers (was Infinity, null in JSON)', () => {
    const bytes = new TfliteBuilder()
      .subgraph((sg) =>
        sg
          .tensor('x', 'float32', [1])
          .tensor('w', 'int8', new Array<number>(40).fill(0x7fffffff), { data: new Uint8Array(4) })
          .tensor('v', 'int8', [0x7fffffff, 0x7fffffff, 0x7fffff], { data: new Uint8Array(4) })
          .inputs([0])
          .outputs([0]),
      )
      .build();
    const md = readTflite(new BufferSource(bytes)).metadata;
    expectConforms(tflite, md);
    // Estimated from the buffers, one byte per int8 element.
    expect(md.parameters).toEqual({ count: 8, bytes: 8, byType: { int8: 8 } });
  });
});

describe('the schemas can fail', () => {
  const onnxModel = (): Uint8Array => new OnnxBuilder().opset('', 17).input('x', 'float32', [1]).node('Relu', ['x'], ['y']).output('y', 'float32', [1]).build();
  const tfliteModel = (): Uint8Array =>
    new TfliteBuilder()
      .subgraph((sg) => sg.tensor('x', 'float32', [1]).tensor('y', 'float32', [1]).operator('RELU', [0], [1]).inputs([0]).outputs([1]))
      .build();

  it('an undocumented key fails the strict schema, at the top and deep inside', async () => {
    const o = await inspectBytes(onnx, onnxModel());
    expect(onnxMetadataSchema.safeParse(o).success).toBe(true);
    expect(onnxMetadataSchema.safeParse({ ...o, opsets: [] }).success).toBe(false);
    const deep = clone(o) as { graph: { inputs: Array<Record<string, unknown>> } };
    deep.graph.inputs[0]!.dtype = 'float32';
    expect(onnxMetadataSchema.safeParse(deep).success).toBe(false);

    const t = await inspectBytes(tflite, tfliteModel());
    expect(tfliteMetadataSchema.safeParse(t).success).toBe(true);
    expect(tfliteMetadataSchema.safeParse({ ...t, producer: 'TOCO' }).success).toBe(false);
    const tdeep = clone(t) as { subgraphs: Array<{ inputs: Array<Record<string, unknown>> }> };
    tdeep.subgraphs[0]!.inputs[0]!.layout = 'NHWC';
    expect(tfliteMetadataSchema.safeParse(tdeep).success).toBe(false);
  });

  it('a missing field, a wrong type or an unsafe count fails too', async () => {
    const o = await inspectBytes(onnx, onnxModel());
    const { operators: _dropped, ...withoutOperators } = o;
    expect(onnxMetadataSchema.safeParse(withoutOperators).success).toBe(false);
    expect(onnxMetadataSchema.safeParse({ ...o, irVersion: '8' }).success).toBe(false);
    const t = await inspectBytes(tflite, tfliteModel());
    expect(tfliteMetadataSchema.safeParse({ ...t, schemaVersion: 4 }).success).toBe(false);
    expect(tfliteMetadataSchema.safeParse({ ...t, parameters: { count: Number.POSITIVE_INFINITY, bytes: 0, byType: {} } }).success).toBe(false);
    expect(tfliteMetadataSchema.safeParse({ ...t, parameters: { count: 2 ** 60, bytes: 0, byType: {} } }).success).toBe(false);
  });

  it("a format's card refuses metadata its inspect did not produce", async () => {
    const t = await inspectBytes(tflite, tfliteModel());
    expect(() => onnx.card(t)).toThrow();
    const o = await inspectBytes(onnx, onnxModel());
    expect(() => tflite.card(o)).toThrow();
  });
});
