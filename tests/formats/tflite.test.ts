import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { ByteBuffer } from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import { builtinOperatorName, readTflite as readTfliteUnchecked, tensorTypeName, tflite, type ReadTfliteOptions } from '../../src/formats/tflite.js';
import type { TfliteMetadata } from '../../src/formats/tflite-metadata.js';
import { BufferSource, FileSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe, type Probe } from '../../src/probe.js';
import { FormatError } from '../../src/errors.js';
import { FlatBufferReader } from '../../src/decoders/flatbuffers.js';
import { hashMember, readZipDirectory } from '../../src/decoders/zip-directory.js';
import type { InspectContext, ModelInfo } from '../../src/formats/types.js';
import { BUILTIN, TfliteBuilder, buildZip } from '../builders/tflite-builder.js';
import { corpusFiles, hasTool } from '../helpers/corpus.js';
import { expectConforms } from '../helpers/conformance.js';

const FIXTURES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/tflite');
const ctx = { limits: DEFAULT_LIMITS };

// Every model these tests read, builder-made, real or fuzzed, is held to the metadata schema and card.
function readTflite(src: ByteSource, options?: ReadTfliteOptions): ModelInfo {
  const info = readTfliteUnchecked(src, options);
  expectConforms(tflite, info.metadata);
  return info;
}

async function inspectChecked(src: ByteSource, probe: Probe, c: InspectContext): Promise<ModelInfo> {
  const info = await tflite.inspect(src, probe, c);
  expectConforms(tflite, info.metadata);
  return info;
}

async function inspectBytes(bytes: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const probe = createProbe(src, 'model.tflite');
  expect(tflite.match(probe)).toBe(true);
  return inspectChecked(src, probe, ctx);
}

function md(info: ModelInfo): TfliteMetadata {
  return info.metadata as unknown as TfliteMetadata;
}

function sha256(b: Uint8Array | string): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** Deterministic PRNG (mulberry32) for the fuzz tests. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `fn` and requires that it returns or throws FormatError, nothing else. */
function returnsOrFormatError(fn: () => unknown): 'ok' | 'format' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    return 'format';
  }
}

const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
const i32 = (xs: number[]): Uint8Array => new Uint8Array(new Int32Array(xs).buffer);

/** A model that exercises every metadata field. */
function fullModel(): { bytes: Uint8Array; labels: string; vocab: Uint8Array } {
  const labels = 'cat\ndog\n';
  const vocab = new TextEncoder().encode('hello\nworld\n');
  const w = new Uint8Array(8 * 3 * 3 * 3).map((_, i) => i);
  const bytes = new TfliteBuilder()
    .description('a test classifier')
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('input', 'float32', [1, 224, 224, 3], { shapeSignature: [-1, 224, 224, 3] })
        .tensor('w', 'int8', [8, 3, 3, 3], { data: w, quant: { scale: [0.1, 0.2], zeroPoint: [0, 1], quantizedDimension: 0 } })
        .tensor('bias', 'int32', [8], { data: i32([1, 2, 3, 4, 5, 6, 7, 8]) })
        .tensor('conv', 'int8', [1, 222, 222, 8], { quant: { scale: [0.5], zeroPoint: [-3] } })
        .tensor('scores', 'float32', [1, 8])
        .tensor('boxes', 'float32', [1, 10, 4])
        .tensor('table', 'float32', [2, 2], { data: f32([1, 2, 3, 4]) })
        .operator('CONV_2D', [0, 1, 2], [3], { version: 3 })
        .operator('DEPTHWISE_CONV_2D', [3, 1, -1], [3], { deprecatedOnly: true })
        .operator('GELU', [3], [3])
        .operator(300, [3], [3])
        .customOperator('TFLite_Detection_PostProcess', [3, 6], [5], { version: 1 })
        .customOperator('FlexAddV2', [3], [4])
        .customOperator('edgetpu-custom-op', [3], [4])
        .customOperator('FlexAddV2', [3], [4])
        .inputs([0])
        .outputs([4, 5]),
    )
    .subgraph((sg) =>
      sg
        .tensor('a', 'int16', [4])
        .tensor('b', 'float16', [4], { data: new Uint8Array(8) })
        .operator('ADD', [0, 1], [0])
        .operator('CONV_2D', [0, 1], [0], { version: 3 })
        .inputs([0])
        .outputs([0]),
    )
    .signature('serving_default', { inputs: { image: 0 }, outputs: { scores: 4, boxes: 5 } })
    .signature('aux', { subgraph: 1, inputs: { a: 0 }, outputs: { a: 0 } })
    .metadataEntry('min_runtime_version', '2.3.0\0\0\0\0\0')
    .modelMetadata({
      name: 'Test classifier',
      description: 'Classifies things.',
      version: 'v7',
      author: 'aibom tests',
      license: 'Apache-2.0',
      minParserVersion: '1.0.1',
      subgraphs: [
        {
          name: 'main',
          description: 'the main graph',
          inputs: [{ name: 'image', description: 'an RGB image' }],
          outputs: [
            { name: 'scores', associatedFiles: [{ name: 'labels.txt', type: 'TENSOR_AXIS_LABELS', description: 'Labels.', locale: 'en' }] },
            { name: 'boxes' },
          ],
          associatedFiles: [{ name: 'vocab.txt', type: 'VOCABULARY' }],
        },
      ],
      associatedFiles: [{ name: 'readme.txt', type: 'DESCRIPTIONS', description: 'Read me.' }],
    })
    .appendZip({ 'labels.txt': labels, 'vocab.txt': vocab, 'other.bin': new Uint8Array([1, 2, 3]) })
    .build();
  return { bytes, labels, vocab };
}

describe('tflite: builder models', () => {
  it('extracts every metadata field from real bytes', async () => {
    const { bytes, labels, vocab } = fullModel();
    const info = await inspectBytes(bytes);
    const m = md(info);
    expect(info.confidence).toBe('high');
    expect(info.warnings).toBeUndefined();
    expect(m.schemaVersion).toBe(3);
    expect(m.description).toBe('a test classifier');
    expect(m.subgraphs).toHaveLength(2);
    const main = m.subgraphs[0]!;
    expect(main.name).toBe('main');
    expect(main.tensorCount).toBe(7);
    expect(main.operatorCount).toBe(8);
    expect(main.inputs).toEqual([{ name: 'input', type: 'float32', shape: [1, 224, 224, 3], shapeSignature: [-1, 224, 224, 3], quantized: false }]);
    expect(main.outputs).toEqual([
      { name: 'scores', type: 'float32', shape: [1, 8], quantized: false },
      { name: 'boxes', type: 'float32', shape: [1, 10, 4], quantized: false },
    ]);
    expect(m.subgraphs[1]).toEqual({
      tensorCount: 2,
      operatorCount: 2,
      inputs: [{ name: 'a', type: 'int16', shape: [4], quantized: false }],
      outputs: [{ name: 'a', type: 'int16', shape: [4], quantized: false }],
    });

    expect(m.operators).toEqual([
      { name: 'ADD', kind: 'builtin', version: 1, count: 1 },
      { name: 'CONV_2D', kind: 'builtin', version: 3, count: 2 },
      { name: 'DEPTHWISE_CONV_2D', kind: 'builtin', version: 1, count: 1 },
      { name: 'FlexAddV2', kind: 'flex', version: 1, count: 2 },
      { name: 'GELU', kind: 'builtin', version: 1, count: 1 },
      { name: 'TFLite_Detection_PostProcess', kind: 'custom', version: 1, count: 1 },
      { name: 'UNKNOWN_300', kind: 'builtin', version: 1, count: 1 },
      { name: 'edgetpu-custom-op', kind: 'edgetpu', version: 1, count: 1 },
    ]);
    // CONV_2D v3 is one code shared by both subgraphs; everything else one code each.
    expect(m.operatorCodes).toBe(8);

    // Buffers: sentinel, w (216), bias (32), table (16), b (8), min_runtime_version, TFLITE_METADATA.
    expect(m.buffers.count).toBe(7);
    expect(m.metadataEntries[0]).toEqual({ name: 'min_runtime_version', size: 11 });
    expect(m.metadataEntries[1]!.name).toBe('TFLITE_METADATA');
    expect(m.buffers.bytes).toBe(216 + 32 + 16 + 8 + 11 + m.metadataEntries[1]!.size);
    expect(m.minRuntimeVersion).toBe('2.3.0');

    expect(m.parameters).toEqual({ count: 216 + 8 + 4 + 4, bytes: 216 + 32 + 16 + 8, byType: { float16: 4, float32: 4, int32: 8, int8: 216 } });
    expect(m.weightTypes).toEqual(['float16', 'float32', 'int32', 'int8']);

    expect(m.signatureDefs).toEqual([
      {
        key: 'serving_default',
        subgraphIndex: 0,
        inputs: [{ name: 'image', tensorIndex: 0 }],
        outputs: [
          { name: 'scores', tensorIndex: 4 },
          { name: 'boxes', tensorIndex: 5 },
        ],
      },
      { key: 'aux', subgraphIndex: 1, inputs: [{ name: 'a', tensorIndex: 0 }], outputs: [{ name: 'a', tensorIndex: 0 }] },
    ]);

    expect(m.modelMetadata).toEqual({
      name: 'Test classifier',
      description: 'Classifies things.',
      version: 'v7',
      author: 'aibom tests',
      license: 'Apache-2.0',
      minParserVersion: '1.0.1',
      subgraphs: [
        {
          name: 'main',
          description: 'the main graph',
          inputs: [{ name: 'image', description: 'an RGB image', associatedFiles: [] }],
          outputs: [
            { name: 'scores', associatedFiles: [{ name: 'labels.txt', type: 'TENSOR_AXIS_LABELS', description: 'Labels.', locale: 'en' }] },
            { name: 'boxes', associatedFiles: [] },
          ],
          associatedFiles: [{ name: 'vocab.txt', type: 'VOCABULARY' }],
        },
      ],
      associatedFiles: [{ name: 'readme.txt', type: 'DESCRIPTIONS', description: 'Read me.' }],
    });

    expect(info.associatedFiles).toEqual([
      { name: 'labels.txt', size: labels.length, sha256: sha256(labels), type: 'TENSOR_AXIS_LABELS', description: 'Labels.' },
      { name: 'vocab.txt', size: vocab.length, sha256: sha256(vocab), type: 'VOCABULARY' },
      { name: 'other.bin', size: 3, sha256: sha256(new Uint8Array([1, 2, 3])) },
    ]);
  });

  it('gives plain, deterministic JSON', async () => {
    const { bytes } = fullModel();
    const a = await inspectBytes(bytes);
    const b = await inspectBytes(bytes);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('quantization: scale and zero point of quantized inputs, at most 16 values', async () => {
    const scale = Array.from({ length: 20 }, (_, i) => (i + 1) / 8);
    const bytes = new TfliteBuilder()
      .subgraph((sg) =>
        sg
          .tensor('q', 'uint8', [1, 224, 224, 3], { quant: { scale: [0.0078125], zeroPoint: [128] } })
          .tensor('pc', 'int8', [20, 4], { quant: { scale, zeroPoint: new Array<number>(20).fill(0) } })
          .operator('ADD', [0, 1], [1])
          .inputs([0, 1])
          .outputs([1]),
      )
      .build();
    const m = md(await inspectBytes(bytes));
    const [q, pc] = m.subgraphs[0]!.inputs;
    expect(q).toEqual({ name: 'q', type: 'uint8', shape: [1, 224, 224, 3], quantized: true, quantization: { scale: [0.0078125], zeroPoint: [128] } });
    expect(pc!.quantization!.scale).toEqual(scale.slice(0, 16));
    expect(pc!.quantization!.zeroPoint).toHaveLength(16);
  });

  it('reads the operator code of old models from deprecated_builtin_code alone, and codes above 127 from builtin_code', async () => {
    const bytes = new TfliteBuilder()
      .subgraph((sg) =>
        sg
          .tensor('x', 'float32', [4])
          .operator('SOFTMAX', [0], [0], { deprecatedOnly: true })
          .operator('QUANTIZE', [0], [0], { deprecatedOnly: true })
          .operator('BROADCAST_TO', [0], [0]) // 130: deprecated_builtin_code holds 127, the placeholder
          .operator('STABLEHLO_COMPOSITE', [0], [0])
          .inputs([0])
          .outputs([0]),
      )
      .build();
    const m = md(await inspectBytes(bytes));
    expect(m.operators.map((o) => o.name)).toEqual(['BROADCAST_TO', 'QUANTIZE', 'SOFTMAX', 'STABLEHLO_COMPOSITE']);
  });

  it('names every builtin code it knows like the schema, and unknown ones UNKNOWN_<n>', () => {
    for (const [name, code] of Object.entries(BUILTIN)) expect(builtinOperatorName(code)).toBe(name);
    expect(builtinOperatorName(207)).toBe('COMPLEX');
    expect(builtinOperatorName(208)).toBe('UNKNOWN_208');
    expect(tensorTypeName(9)).toBe('int8');
    expect(tensorTypeName(18)).toBe('bfloat16');
    expect(tensorTypeName(99)).toBe('unknown(99)');
  });

  it('counts buffers stored after the FlatBuffer through Buffer.offset/size (models over 2 GB)', async () => {
    const data = new Uint8Array(4000).fill(7);
    const bytes = new TfliteBuilder()
      .subgraph((sg) =>
        sg
          .tensor('x', 'float32', [1, 10])
          .tensor('w', 'float32', [10, 100], { data, external: true })
          .tensor('y', 'float32', [1, 100])
          .operator('FULLY_CONNECTED', [0, 1], [2])
          .inputs([0])
          .outputs([2]),
      )
      .metadataEntry('min_runtime_version', '1.14.0')
      .build();
    const m = md(await inspectBytes(bytes));
    expect(m.buffers).toEqual({ count: 3, bytes: 4000 + 7 });
    expect(m.parameters).toEqual({ count: 1000, bytes: 4000, byType: { float32: 1000 } });
    expect(m.minRuntimeVersion).toBe('1.14.0');
    // The external data must lie inside the file.
    const cut = bytes.subarray(0, bytes.length - 100);
    expect(() => readTflite(new BufferSource(cut))).toThrow(/Buffer 1 offset \d+ with size 4000 runs past the end/);
  });

  it('confidence is medium without operators', async () => {
    const info = await inspectBytes(new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).inputs([0]).outputs([0])).build());
    expect(info.confidence).toBe('medium');
    expect(md(info).subgraphs[0]!.operatorCount).toBe(0);
  });

  it('associated files: deflated members, offsets relative to the zip, no metadata to type them', async () => {
    const text = 'line\n'.repeat(1000);
    for (const opts of [{ deflate: true }, { relativeOffsets: true }]) {
      const bytes = new TfliteBuilder()
        .subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('RELU', [0], [0]).inputs([0]).outputs([0]))
        .appendZip({ 'dir/labels.txt': text }, opts)
        .build();
      const info = await inspectBytes(bytes);
      expect(info.associatedFiles).toEqual([{ name: 'dir/labels.txt', size: text.length, sha256: sha256(text) }]);
      expect(info.warnings).toBeUndefined();
    }
  });

  it('associated files: encrypted members, bad CRCs and hostile names become warnings, not failures', async () => {
    const base = new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('RELU', [0], [0]).inputs([0]).outputs([0]));
    const bytes = base.appendZip({ 'secret.txt': 'x', '../evil.txt': 'y', 'ok.txt': 'z' }, { encrypted: ['secret.txt'] }).build();
    // Corrupt ok.txt's single byte so its CRC-32 no longer matches.
    const at = bytes.lastIndexOf('z'.charCodeAt(0), bytes.length - 1);
    const zipStart = Buffer.from(bytes).indexOf('PK\x03\x04');
    const okData = Buffer.from(bytes).indexOf('ok.txtz', zipStart) + 6;
    expect(at).toBeGreaterThan(0);
    bytes[okData] = 'q'.charCodeAt(0);
    const info = await inspectBytes(bytes);
    expect(info.confidence).toBe('high');
    expect(info.associatedFiles!.map((f) => f.name)).toEqual(['../evil.txt', 'ok.txt']);
    const codes = info.warnings!.map((w) => w.code).sort();
    expect(codes).toEqual(['encrypted', 'format', 'hostile-path']);
    expect(info.warnings!.find((w) => w.code === 'format')!.message).toMatch(/ok\.txt.*CRC-32/);
  });

  it('an empty appended zip lists nothing; a broken one is a warning', async () => {
    const model = new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('RELU', [0], [0]).inputs([0]).outputs([0])).build();
    const empty = await inspectBytes(Buffer.concat([model, buildZip([], model.length)]));
    expect(empty.associatedFiles).toBeUndefined();
    expect(empty.warnings).toBeUndefined();
    const zip = buildZip([['a.txt', new Uint8Array([1])]], model.length);
    const broken = Buffer.concat([model, zip]);
    broken[model.length] = 0; // the local header loses its signature
    const info = await inspectBytes(broken);
    expect(info.associatedFiles).toBeUndefined();
    expect(info.warnings).toEqual([expect.objectContaining({ code: 'format', message: expect.stringMatching(/a\.txt.*local header/) })]);
  });

  it('gives the same result whatever the page size of the reader (values straddling pages)', async () => {
    const { bytes } = fullModel();
    const expected = readTflite(new BufferSource(bytes));
    for (const [pageSize, maxPages] of [
      [7, 2],
      [64, 3],
      [4096, 2],
    ] as const) {
      expect(readTflite(new BufferSource(bytes), { pageSize, maxPages })).toEqual(expected);
    }
    for (const f of corpusFiles('tflite', '.tflite').slice(0, 4)) {
      const src = new BufferSource(fs.readFileSync(f));
      expect(readTflite(src, { pageSize: 13, maxPages: 2 }), f).toEqual(readTflite(src));
    }
  });

  it('bounds the work on associated files: total bytes and inflation ratio', async () => {
    const base = (): TfliteBuilder => new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('RELU', [0], [0]).inputs([0]).outputs([0]));
    // A deflated member past the ratio limit is listed in a warning, not inflated.
    const zeros = new Uint8Array(4 * 1024 * 1024);
    const bomb = base().appendZip({ 'zeros.bin': zeros, 'ok.txt': 'fine' }, { deflate: true }).build();
    const info = readTflite(new BufferSource(bomb), { limits: { ...DEFAULT_LIMITS, maxRatio: 10 } });
    expect(info.associatedFiles!.map((f) => f.name)).toEqual(['ok.txt']);
    expect(info.warnings).toEqual([expect.objectContaining({ code: 'limit', message: expect.stringContaining('ratio limit') })]);
    // 200 central directory entries over one 4 MiB stored member: 800 MiB claimed, 512 MiB hashed at most.
    const model = base().build();
    const member = buildZip([['big.bin', new Uint8Array(4 * 1024 * 1024).fill(1)]], model.length);
    const cdAt = Buffer.from(member).lastIndexOf('PK\x01\x02');
    const entry = member.subarray(cdAt, member.length - 22);
    const eocd = member.slice(member.length - 22);
    const n = 200;
    new DataView(eocd.buffer).setUint16(8, n, true);
    new DataView(eocd.buffer).setUint16(10, n, true);
    new DataView(eocd.buffer).setUint32(12, entry.length * n, true);
    const overlapped = Buffer.concat([model, member.subarray(0, cdAt), ...new Array<Uint8Array>(n).fill(entry), eocd]);
    const t0 = performance.now();
    const many = readTflite(new BufferSource(overlapped));
    expect(many.associatedFiles!.length).toBe(128);
    expect(many.warnings!.filter((w) => w.code === 'limit')).toHaveLength(72);
    expect(many.warnings!.filter((w) => w.code === 'duplicate-entry')).toHaveLength(199);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('a broken TFLITE_METADATA is a warning and the model still inspects', async () => {
    const bytes = new TfliteBuilder()
      .subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('RELU', [0], [0]).inputs([0]).outputs([0]))
      .metadataEntry('TFLITE_METADATA', new Uint8Array([12, 0, 0, 0, 0x4d, 0x30, 0x30, 0x32, 0, 0, 0, 0]))
      .build();
    const info = await inspectBytes(bytes);
    expect(md(info).modelMetadata).toBeUndefined();
    expect(info.warnings).toEqual([expect.objectContaining({ code: 'format', message: expect.stringContaining('file identifier "M002" is not "M001"') })]);
  });
});

describe('tflite: structural violations are FormatErrors naming field and value', () => {
  const cases: [string, () => TfliteBuilder, RegExp][] = [
    [
      'tensor buffer index',
      () => new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).tensor('y', 'float32', [1], { buffer: 900 }).inputs([0]).outputs([1])),
      /^Invalid TFLite: Subgraph 0 tensor 1 buffer index 900 exceeds the 1-entry buffers table\.$/,
    ],
    [
      'subgraph input index',
      () => new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).inputs([5]).outputs([0])),
      /^Invalid TFLite: Subgraph 0 inputs entry 0 is tensor index 5, outside the 1-entry tensors table\.$/,
    ],
    [
      'operator input index',
      () => new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('ADD', [0, -2], [0]).inputs([0]).outputs([0])),
      /^Invalid TFLite: Subgraph 0 operator 0 inputs entry 1 is tensor index -2, outside the 1-entry tensors table\.$/,
    ],
    [
      'signature subgraph index',
      () =>
        new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).inputs([0]).outputs([0])).signature('s', { subgraph: 4, inputs: {}, outputs: {} }),
      /^Invalid TFLite: SignatureDef 0 subgraph index 4 exceeds the 1-entry subgraphs table\.$/,
    ],
    [
      'signature tensor index',
      () => new TfliteBuilder().subgraph((sg) => sg.tensor('x', 'float32', [1]).inputs([0]).outputs([0])).signature('s', { inputs: { x: 3 }, outputs: {} }),
      /^Invalid TFLite: SignatureDef 0 inputs 0 tensor index 3 exceeds the 1-entry tensors table of subgraph 0\.$/,
    ],
    [
      'schema version',
      () => new TfliteBuilder().version(2).subgraph((sg) => sg.tensor('x', 'float32', [1]).inputs([0]).outputs([0])),
      /^Invalid TFLite: Model\.version 2 is not the schema version 3/,
    ],
  ];
  for (const [what, make, re] of cases) {
    it(what, () => {
      expect(() => readTflite(new BufferSource(make().build()))).toThrow(re);
      expect(() => readTflite(new BufferSource(make().build()))).toThrow(FormatError);
    });
  }

  it('opcode index', () => {
    const bytes = new TfliteBuilder()
      .subgraph((sg) => sg.tensor('x', 'float32', [1]).operator('ADD', [0], [0]).operator('MUL', [0], [0]).inputs([0]).outputs([0]))
      .build();
    // Point Operator.opcode_index (field 0) of operator 1 at entry 7 of the 2-entry table.
    const r = new FlatBufferReader(new BufferSource(bytes));
    const op = r.root().vector(2, 4, 10)!.table(0).vector(3, 4, 10)!.table(1);
    setU32(bytes, op.field(0, 4)!, 7);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(
      /^Invalid TFLite: Subgraph 0 operator 1 opcode index 7 exceeds the 2-entry operator_codes table\.$/,
    );
  });
});

/** A small model with strings, vectors, quantization, metadata and an appended zip, for hostile tests. */
function smallModel(): Uint8Array {
  return new TfliteBuilder()
    .description('small')
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('in', 'uint8', [1, 4], { quant: { scale: [0.5], zeroPoint: [3] }, shapeSignature: [-1, 4] })
        .tensor('w', 'uint8', [4, 4], { data: new Uint8Array(16).fill(1) })
        .tensor('out', 'float32', [1, 4])
        .operator('FULLY_CONNECTED', [0, 1], [2])
        .customOperator('FlexIdentity', [2], [2])
        .inputs([0])
        .outputs([2]),
    )
    .signature('serving_default', { inputs: { x: 0 }, outputs: { y: 2 } })
    .metadataEntry('min_runtime_version', '1.5.0')
    .modelMetadata({ name: 'small', subgraphs: [{ outputs: [{ name: 'y', associatedFiles: [{ name: 'l.txt', type: 'TENSOR_AXIS_LABELS' }] }] }] })
    .appendZip({ 'l.txt': 'a\nb\n' })
    .build();
}

function setU32(b: Uint8Array, pos: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(pos, v >>> 0, true);
}

describe('tflite: hostile input', () => {
  it('every truncation of a small model returns or throws FormatError', () => {
    const bytes = smallModel();
    const outcomes = { ok: 0, format: 0 };
    for (let n = 0; n <= bytes.length; n++) {
      outcomes[returnsOrFormatError(() => readTflite(new BufferSource(bytes.subarray(0, n))))]++;
    }
    expect(outcomes.format).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0); // at least the whole model, and cuts inside the zip
  });

  it('1000 seeded random byte flips of a small model return or throw FormatError', () => {
    const good = smallModel();
    const rand = rng(7);
    for (let i = 0; i < 1000; i++) {
      const bytes = good.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      returnsOrFormatError(() => readTflite(new BufferSource(bytes)));
    }
  });

  it("1000 seeded random buffers with 'TFL3' at offset 4 return or throw FormatError", async () => {
    const rand = rng(42);
    for (let i = 0; i < 1000; i++) {
      const n = 8 + Math.floor(rand() * 600);
      const bytes = new Uint8Array(n).map(() => Math.floor(rand() * 256));
      bytes.set([0x54, 0x46, 0x4c, 0x33], 4);
      // Half of them get a plausible root offset so the walk goes deeper.
      if (i % 2 === 0) setU32(bytes, 0, 8 + 4 * Math.floor(rand() * ((n - 12) / 4)));
      const src = new BufferSource(bytes);
      const probe = createProbe(src, 'x.tflite');
      if (tflite.match(probe)) {
        try {
          await inspectChecked(src, probe, ctx);
        } catch (err) {
          expect(err).toBeInstanceOf(FormatError);
        }
      } else {
        returnsOrFormatError(() => readTflite(src));
      }
    }
  });

  it('a vtable offset out of range', () => {
    for (const soffset of [-1_000_000, 1_000_000, 0x7fffffff, -0x80000000]) {
      const bytes = smallModel();
      const root = new DataView(bytes.buffer).getUint32(0, true);
      new DataView(bytes.buffer).setInt32(root, soffset, true);
      expect(() => readTflite(new BufferSource(bytes))).toThrow(
        /Invalid TFLite: root table at offset \d+ has its vtable at -?\d+, outside the \d+-byte buffer\./,
      );
    }
  });

  it('vector lengths of 2^31', () => {
    // Model.subgraphs (field 2): over the 100,000-subgraph bound.
    let bytes = smallModel();
    let r = new FlatBufferReader(new BufferSource(bytes));
    setU32(bytes, r.root().vector(2, 4, 10)!.start - 4, 2 ** 31);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(/Model\.subgraphs length 2147483648 exceeds the limit of 100000/);
    // Buffer 1 data (a [ubyte]): runs past the end of the file.
    bytes = smallModel();
    r = new FlatBufferReader(new BufferSource(bytes));
    const data = r.root().vector(4, 4, 10)!.table(1).bytesRange(0)!;
    setU32(bytes, data.offset - 4, 2 ** 31);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(/Buffer 1 data of 2147483648 elements at offset \d+ runs past the end/);
    // A string (Model.description, field 3).
    bytes = smallModel();
    r = new FlatBufferReader(new BufferSource(bytes));
    const descPos = r.root().field(3, 4)!;
    setU32(bytes, descPos + new DataView(bytes.buffer).getUint32(descPos, true), 2 ** 31);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(/Model\.description of 2147483648 bytes/);
  });

  it('a table whose offsets point to itself', () => {
    // uoffset 0 from Model.subgraphs: the field would point at itself.
    let bytes = smallModel();
    let r = new FlatBufferReader(new BufferSource(bytes));
    setU32(bytes, r.root().field(2, 4)!, 0);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(/Model\.subgraphs at offset \d+ is 0, not a forward offset/);
    // An offset of 2^32 - 4: would wrap around to the field before it.
    bytes = smallModel();
    r = new FlatBufferReader(new BufferSource(bytes));
    setU32(bytes, r.root().field(2, 4)!, 0xfffffffc);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(/is 4294967292, not a forward offset/);
    // A table whose soffset is 0: its vtable would be the table itself.
    bytes = smallModel();
    setU32(bytes, new DataView(bytes.buffer).getUint32(0, true), 0);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(/root table at offset \d+ has a vtable size of 0 bytes/);
  });

  it('a field whose vtable entry lies outside its table', () => {
    const bytes = smallModel();
    const r = new FlatBufferReader(new BufferSource(bytes));
    const root = r.root();
    const vtable = root.pos - new DataView(bytes.buffer).getInt32(root.pos, true);
    // vtable entry of Model.version (field 0) at vtable + 4: beyond the inline size.
    new DataView(bytes.buffer).setUint16(vtable + 4, 0xfff0, true);
    expect(() => readTflite(new BufferSource(bytes))).toThrow(
      /root table field 0 at table offset 65520 \(4 bytes\) lies outside the table's \d+-byte inline size/,
    );
  });

  it('structures shared many times cannot make the walk unbounded', () => {
    // uoffsets only go forward, so no walk can loop; but 2,000 Model.subgraphs entries may all reach one
    // subgraph of 2,000 tensors (4 million tensor visits). The work budget bounds such sharing.
    const shared = sharedSubgraphModel(2000, 2000);
    expect(() => readTflite(new BufferSource(shared), { maxWork: 1_000_000 })).toThrow(/took more than 1000000 steps/);
    expect(md(readTflite(new BufferSource(shared))).subgraphs).toHaveLength(2000);
  });

  it('committed hostile fixtures fail with FormatError naming the field and value', () => {
    const expected: Record<string, string> = {
      'hostile-self-offset.tflite': 'Model.subgraphs at offset 32 is 0, not a forward offset in (0, 2^31).',
      'hostile-vector-2g.tflite': 'Model.subgraphs length 2147483648 exceeds the limit of 100000.',
      'hostile-vtable-out-of-range.tflite': 'root table at offset 24 has its vtable at 1073741848, outside the 444-byte buffer.',
      'hostile-buffer-length.tflite': 'Buffer 1 data of 2147483647 elements at offset 376 runs past the end of the 444-byte buffer.',
      'hostile-buffer-index.tflite': 'Subgraph 0 tensor 1 buffer index 900 exceeds the 2-entry buffers table.',
    };
    const names = fs
      .readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.tflite'))
      .sort();
    expect(names).toEqual(Object.keys(expected).sort()); // a new fixture needs its expectation here
    for (const name of names) {
      const src = new BufferSource(fs.readFileSync(path.join(FIXTURES, name)));
      const probe = createProbe(src, name);
      // `match` already sees a vtable outside the file in the head; the others need `inspect`.
      expect(tflite.match(probe), name).toBe(name !== 'hostile-vtable-out-of-range.tflite');
      expect(() => readTflite(src), name).toThrow(FormatError);
      expect(() => readTflite(src), name).toThrow(`Invalid TFLite: ${expected[name]}`);
    }
  });
});

/**
 * A TFLite file whose Model.subgraphs has `n` entries all reaching one subgraph of `tensors` tensors:
 * a FlatBuffer made by hand (the Builder never shares tables between vector entries).
 */
function sharedSubgraphModel(n: number, tensors: number): Uint8Array {
  const single = new TfliteBuilder()
    .subgraph((sg) => {
      for (let i = 0; i < tensors; i++) sg.tensor(`t${i}`, 'float32', [1]);
      return sg.inputs([0]).outputs([0]);
    })
    .build();
  const r = new FlatBufferReader(new BufferSource(single));
  const root = r.root();
  const sgTableAbs = r.offsetAt(root.vector(2, 4, 10)!.start, 'sg');
  const buffersAbs = r.offsetAt(root.field(4, 4)!, 'buffers');
  const codesAbs = r.offsetAt(root.field(1, 4)!, 'codes');
  // New head: root offset, 'TFL3', vtable (8 fields), model table (version, operator_codes, subgraphs,
  // buffers), then the shared vector; the original bytes follow, shifted by the head size.
  const vt = 8;
  const vtSize = 4 + 2 * 5;
  const table = align4(vt + vtSize);
  const tableSize = 4 + 4 * 4;
  const vec = table + tableSize;
  const head = vec + 4 + 4 * n;
  const out = new Uint8Array(head + single.length);
  out.set(single, head);
  const d = new DataView(out.buffer);
  d.setUint32(0, table, true);
  out.set([0x54, 0x46, 0x4c, 0x33], 4);
  d.setUint16(vt, vtSize, true);
  d.setUint16(vt + 2, tableSize, true);
  d.setUint16(vt + 4, 4, true); // version at +4
  d.setUint16(vt + 6, 8, true); // operator_codes at +8
  d.setUint16(vt + 8, 12, true); // subgraphs at +12
  d.setUint16(vt + 10, 0, true); // description absent
  d.setUint16(vt + 12, 16, true); // buffers at +16
  d.setInt32(table, table - vt, true);
  d.setUint32(table + 4, 3, true);
  d.setUint32(table + 8, head + codesAbs - (table + 8), true);
  d.setUint32(table + 12, vec - (table + 12), true);
  d.setUint32(table + 16, head + buffersAbs - (table + 16), true);
  d.setUint32(vec, n, true);
  for (let i = 0; i < n; i++) {
    const at = vec + 4 + 4 * i;
    d.setUint32(at, head + sgTableAbs - at, true);
  }
  return out;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

describe('tflite: match', () => {
  const matches = (bytes: Uint8Array): boolean => tflite.match(createProbe(new BufferSource(bytes), 'x'));
  it('accepts builder models and rejects other formats', () => {
    expect(matches(smallModel())).toBe(true);
    // ONNX: a protobuf ModelProto starting with ir_version (field 1, varint) and opset_import.
    expect(matches(new Uint8Array([0x08, 0x07, 0x12, 0x07, 0x70, 0x79, 0x74, 0x6f, 0x72, 0x63, 0x68, 0x3a, 0x10]))).toBe(false);
    expect(matches(buildZip([['a.txt', new Uint8Array([1, 2])]], 0))).toBe(false);
    expect(matches(new TextEncoder().encode('hello world, this is not a model at all\n'))).toBe(false);
    expect(matches(new Uint8Array(0))).toBe(false);
    expect(matches(new Uint8Array([8, 0, 0, 0, 0x54, 0x46, 0x4c]))).toBe(false);
  });
  it("rejects 'TFL3' with an implausible root offset or vtable", () => {
    const b = smallModel();
    const bad = b.slice();
    setU32(bad, 0, 4); // inside the header
    expect(matches(bad)).toBe(false);
    const far = b.slice();
    setU32(far, 0, b.length + 10);
    expect(matches(far)).toBe(false);
    const vt = b.slice();
    new DataView(vt.buffer).setInt32(new DataView(vt.buffer).getUint32(0, true), 1 << 30, true);
    expect(matches(vt)).toBe(false);
  });
});

describe('tflite: bounded reading', () => {
  it('reads under 4 MB of a model with a 200 MB weight buffer at the end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-tflite-'));
    try {
      for (const external of [false, true]) {
        const file = path.join(dir, `large-${external}.tflite`);
        const size = TfliteBuilder.buildLarge(file, { bufferBytes: 200 * 1024 * 1024, external });
        expect(size).toBeGreaterThan(200 * 1024 * 1024);
        const inner = FileSource.open(file);
        let bytesRead = 0;
        const counting: ByteSource = {
          size: inner.size,
          read(offset: number, length: number): Uint8Array {
            const b = inner.read(offset, length);
            bytesRead += b.length;
            return b;
          },
        };
        try {
          const probe = createProbe(counting, 'large.tflite');
          expect(tflite.match(probe)).toBe(true);
          const info = await inspectChecked(counting, probe, ctx);
          const m = md(info);
          expect(m.parameters.bytes).toBe(200 * 1024 * 1024);
          expect(m.parameters.count).toBe(50 * 1024 * 1024);
          expect(m.weightTypes).toEqual(['float32']);
          expect(bytesRead).toBeLessThan(4 * 1024 * 1024);
        } finally {
          inner.close();
          fs.rmSync(file);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tflite: real corpus', () => {
  const files = corpusFiles('tflite', '.tflite');
  const byName = new Map(files.map((f) => [path.basename(f), f]));
  const inspectFile = async (file: string): Promise<ModelInfo> => {
    const src = FileSource.open(file);
    try {
      const probe = createProbe(src, path.basename(file));
      expect(tflite.match(probe)).toBe(true);
      return await inspectChecked(src, probe, ctx);
    } finally {
      src.close();
    }
  };

  it.skipIf(files.length === 0)('every corpus file matches and inspects', async () => {
    for (const f of files) {
      const info = await inspectFile(f);
      const m = md(info);
      expect(m.schemaVersion, f).toBe(3);
      expect(info.confidence, f).toBe('high');
      expect(info.warnings, f).toBeUndefined();
      expect(m.subgraphs.length, f).toBeGreaterThan(0);
    }
  });

  const known = (name: string) => it.skipIf(!byName.has(name));

  known('coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite')('coco_ssd_mobilenet: TFLite_Detection_PostProcess and a label map', async () => {
    const info = await inspectFile(byName.get('coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite')!);
    const m = md(info);
    expect(m.operators).toContainEqual({ name: 'TFLite_Detection_PostProcess', kind: 'custom', version: 1, count: 1 });
    expect(m.operators.find((o) => o.name === 'CONV_2D')!.count).toBe(34);
    expect(m.subgraphs[0]!.inputs[0]).toMatchObject({ name: 'normalized_input_image_tensor', type: 'uint8', shape: [1, 300, 300, 3], quantized: true });
    expect(m.subgraphs[0]!.outputs.map((t) => t.name)).toEqual([
      'TFLite_Detection_PostProcess',
      'TFLite_Detection_PostProcess:1',
      'TFLite_Detection_PostProcess:2',
      'TFLite_Detection_PostProcess:3',
    ]);
    expect(m.weightTypes).toEqual(['int32', 'uint8']);
    expect(m.modelMetadata!.name).toBe('Coco SSD MobileNetV1');
    expect(info.associatedFiles).toEqual([expect.objectContaining({ name: 'labelmap.txt', size: 661, type: 'TENSOR_VALUE_LABELS' })]);
  });

  for (const name of ['sentencepiece_tokenizer_flex_op.tflite', 'whitespace_tokenizer_flex_delegate.tflite']) {
    known(name)(`${name}: Flex ops`, async () => {
      const m = md(await inspectFile(byName.get(name)!));
      const flex = m.operators.filter((o) => o.kind === 'flex').map((o) => o.name);
      expect(flex.length).toBeGreaterThan(0);
      expect(flex.every((n) => n.startsWith('Flex'))).toBe(true);
      expect(m.subgraphs[0]!.inputs[0]).toMatchObject({ name: 'input', type: 'string', shape: [1] });
      expect(m.modelMetadata).toBeUndefined();
    });
  }
  known('sentencepiece_tokenizer_flex_op.tflite')('sentencepiece: its three Flex ops', async () => {
    const m = md(await inspectFile(byName.get('sentencepiece_tokenizer_flex_op.tflite')!));
    expect(m.operators.map((o) => o.name)).toEqual(['FlexRaggedTensorToTensor', 'FlexSentencepieceOp', 'FlexSentencepieceTokenizeOp']);
    // Its min_runtime_version buffer is all NULs: listed as an entry, no version claimed.
    expect(m.metadataEntries).toEqual([{ name: 'min_runtime_version', size: 16 }]);
    expect(m.minRuntimeVersion).toBeUndefined();
  });
  known('whitespace_tokenizer_flex_delegate.tflite')('whitespace tokenizer: builtin and Flex ops, min runtime 1.14.0', async () => {
    const m = md(await inspectFile(byName.get('whitespace_tokenizer_flex_delegate.tflite')!));
    expect(m.minRuntimeVersion).toBe('1.14.0');
    expect(m.operators).toContainEqual({ name: 'FlexWhitespaceTokenizeWithOffsets', kind: 'flex', version: 1, count: 1 });
    expect(m.operators).toContainEqual({ name: 'STRIDED_SLICE', kind: 'builtin', version: 1, count: 20 });
    expect(m.subgraphs[0]!.outputs.map((t) => `${t.name}:${t.type}`)).toEqual(['Identity:string', 'Identity_1:int64']);
  });

  known('mobilenet_v1_0.25_224_quant.tflite')('mobilenet_v1_0.25_224_quant: model metadata, labels, uint8 quantized input', async () => {
    const info = await inspectFile(byName.get('mobilenet_v1_0.25_224_quant.tflite')!);
    const m = md(info);
    expect(m.subgraphs[0]!.inputs).toEqual([
      { name: 'input', type: 'uint8', shape: [1, 224, 224, 3], quantized: true, quantization: { scale: [0.0078125], zeroPoint: [128] } },
    ]);
    expect(m.subgraphs[0]!.outputs[0]).toMatchObject({ name: 'MobilenetV1/Predictions/Reshape_1', type: 'uint8', shape: [1, 1001] });
    expect(m.operators.map((o) => `${o.name}x${o.count}`)).toEqual(
      ['AVERAGE_POOL_2D x1', 'CONV_2D x15', 'DEPTHWISE_CONV_2D x13', 'RESHAPE x1', 'SOFTMAX x1'].map((s) => s.replace(' ', '')),
    );
    expect(m.modelMetadata).toMatchObject({ name: 'MobileNetV1 image classifier (quantized)', version: 'v1', author: 'TensorFlow' });
    expect(m.modelMetadata!.subgraphs[0]!.outputs[0]!.associatedFiles).toEqual([
      { name: 'labels.txt', type: 'TENSOR_AXIS_LABELS', description: 'Labels for objects that the model can recognize.' },
    ]);
    expect(info.associatedFiles).toEqual([
      {
        name: 'labels.txt',
        size: 10484,
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        type: 'TENSOR_AXIS_LABELS',
        description: 'Labels for objects that the model can recognize.',
      },
    ]);
  });

  known('mobilenet_v1_0.25_224_quant_without_subgraph_metadata.tflite')('without subgraph metadata: the label file is listed untyped', async () => {
    const info = await inspectFile(byName.get('mobilenet_v1_0.25_224_quant_without_subgraph_metadata.tflite')!);
    expect(md(info).modelMetadata!.subgraphs).toEqual([]);
    expect(info.associatedFiles).toEqual([{ name: 'labels.txt', size: 10484, sha256: expect.any(String) }]);
  });

  known('dilated_conv.tflite')('dilated_conv: named subgraph, min runtime, metadata, an empty appended zip', async () => {
    const info = await inspectFile(byName.get('dilated_conv.tflite')!);
    const m = md(info);
    expect(m.subgraphs[0]).toMatchObject({ name: 'main', tensorCount: 40, operatorCount: 25 });
    expect(m.minRuntimeVersion).toBe('1.13.0');
    expect(m.modelMetadata!.name).toBe('Dilated Convolution Model');
    expect(info.associatedFiles).toBeUndefined();
  });

  known('deeplabv3.tflite')('deeplabv3: float weights, two DEPTHWISE_CONV_2D versions', async () => {
    const m = md(await inspectFile(byName.get('deeplabv3.tflite')!));
    expect(m.weightTypes).toEqual(['float32', 'int32']);
    expect(m.operators.filter((o) => o.name === 'DEPTHWISE_CONV_2D').map((o) => o.version)).toEqual([1, 2]);
    expect(m.subgraphs[0]!.inputs[0]).toMatchObject({ type: 'float32', shape: [1, 257, 257, 3], quantized: false });
  });

  known('test_model_nl_classifier.tflite')('nl classifier: custom ops, no metadata, no zip', async () => {
    const info = await inspectFile(byName.get('test_model_nl_classifier.tflite')!);
    const m = md(info);
    expect(m.operators.filter((o) => o.kind === 'custom').map((o) => o.name)).toEqual([
      'CUSTOM_OP_GENERATE_LABELS',
      'CUSTOM_OP_STRING_TO_DOUBLES',
      'CUSTOM_OP_STRING_TO_FLOATS',
    ]);
    expect(m.metadataEntries).toEqual([]);
    expect(info.associatedFiles).toBeUndefined();
  });

  known('automl_labeler_model.tflite')('automl labeler: metadata and labels', async () => {
    const info = await inspectFile(byName.get('automl_labeler_model.tflite')!);
    expect(md(info).modelMetadata!.name).toBe('AutoML image classifier');
    expect(info.associatedFiles).toEqual([expect.objectContaining({ name: 'labels.txt', size: 40, type: 'TENSOR_AXIS_LABELS' })]);
  });

  it.skipIf(files.length === 0)("agrees with the flatbuffers runtime's own ByteBuffer on tensors, operators and names", async () => {
    for (const f of files) {
      const bytes = new Uint8Array(fs.readFileSync(f));
      const bb = new ByteBuffer(bytes);
      const field = (table: number, id: number): number => bb.__offset(table, 4 + 2 * id);
      const vec = (table: number, id: number): { start: number; length: number } => {
        const o = field(table, id);
        return o === 0 ? { start: 0, length: 0 } : { start: bb.__vector(table + o), length: bb.__vector_len(table + o) };
      };
      const model = bb.readInt32(0);
      const codes = vec(model, 1);
      const codeName = (i: number): string => {
        const t = bb.__indirect(codes.start + 4 * i);
        const dep = field(t, 0) ? bb.readInt8(t + field(t, 0)) : 0;
        const code = Math.max(dep, field(t, 3) ? bb.readInt32(t + field(t, 3)) : 0);
        return code === 32 ? (bb.__string(t + field(t, 1)) as string) : builtinOperatorName(code);
      };
      const counts = new Map<string, number>();
      const sgs = vec(model, 2);
      const m = md(await inspectFile(f));
      expect(m.subgraphs.length).toBe(sgs.length);
      for (let s = 0; s < sgs.length; s++) {
        const sg = bb.__indirect(sgs.start + 4 * s);
        const tensors = vec(sg, 0);
        const ops = vec(sg, 3);
        expect(m.subgraphs[s]!.tensorCount, f).toBe(tensors.length);
        expect(m.subgraphs[s]!.operatorCount, f).toBe(ops.length);
        const inputs = vec(sg, 1);
        for (let k = 0; k < inputs.length; k++) {
          const t = bb.__indirect(tensors.start + 4 * bb.readInt32(inputs.start + 4 * k));
          expect(m.subgraphs[s]!.inputs[k]!.name, f).toBe(bb.__string(t + field(t, 3)));
        }
        for (let o = 0; o < ops.length; o++) {
          const op = bb.__indirect(ops.start + 4 * o);
          const name = codeName(field(op, 0) ? bb.readUint32(op + field(op, 0)) : 0);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }
      const mine = new Map<string, number>();
      for (const o of m.operators) mine.set(o.name, (mine.get(o.name) ?? 0) + o.count);
      for (const [k, v] of [...mine]) if (v === 0) mine.delete(k);
      expect(mine, f).toEqual(counts);
    }
  });

  const unzip = files.length > 0 && hasTool('unzip');
  it.skipIf(!unzip)('associated files carry the sha256 that `unzip -p` gives', async () => {
    let checked = 0;
    for (const f of files) {
      const info = await inspectFile(f);
      for (const a of info.associatedFiles ?? []) {
        const content = execFileSync('unzip', ['-p', f, a.name], { maxBuffer: 64 * 1024 * 1024 });
        expect(a.sha256, `${path.basename(f)}!/${a.name}`).toBe(sha256(content));
        expect(a.size).toBe(content.length);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
    const label = byName.get('test_model_nl_classifier_with_associated_label.tflite');
    if (label) {
      const info = await inspectFile(label);
      expect(info.associatedFiles).toEqual([
        expect.objectContaining({
          name: 'test_labels.txt',
          sha256: sha256(execFileSync('unzip', ['-p', label, 'test_labels.txt'])),
          type: 'TENSOR_AXIS_LABELS',
        }),
      ]);
    }
  });
});

describe('zip-directory', () => {
  it('reads stored and deflated members, and rejects what it cannot read', () => {
    const content = new TextEncoder().encode('abc'.repeat(100));
    for (const deflate of [false, true]) {
      const prefix = new Uint8Array(100).fill(9);
      const zip = buildZip([['a.txt', content]], prefix.length, { deflate });
      const src = new BufferSource(Buffer.concat([prefix, zip]));
      const dir = readZipDirectory(src)!;
      expect(dir.members).toHaveLength(1);
      expect(dir.members[0]!.method).toBe(deflate ? 8 : 0);
      expect(hashMember(src, dir, dir.members[0]!)).toEqual({ sha256: sha256(content), size: content.length, crcOk: true });
    }
    expect(readZipDirectory(new BufferSource(new Uint8Array(100)))).toBeUndefined();
    // A deflated member that inflates past its recorded size is a FormatError, never a big allocation.
    const bomb = buildZip([['b', new Uint8Array(1 << 20)]], 0, { deflate: true });
    const d = new DataView(bomb.buffer, bomb.byteOffset);
    const cdAt = Buffer.from(bomb).indexOf('PK\x01\x02');
    d.setUint32(cdAt + 24, 10, true); // claim 10 bytes uncompressed
    const src = new BufferSource(bomb);
    const dir = readZipDirectory(src)!;
    expect(() => hashMember(src, dir, dir.members[0]!)).toThrow(FormatError);
    expect(zlib.crc32('')).toBe(0);
  });
});
