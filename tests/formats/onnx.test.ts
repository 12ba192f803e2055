import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { BufferSource, FileSource, type ByteSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { FormatError } from '../../src/errors.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { onnx } from '../../src/formats/onnx.js';
import type { OnnxValueInfo } from '../../src/formats/onnx-metadata.js';
import { ProtoReader, scanFields } from '../../src/decoders/protobuf.js';
import { corpusFiles } from '../helpers/corpus.js';
import { expectConforms } from '../helpers/conformance.js';
import {
  GraphBuilder,
  OnnxBuilder,
  SegmentSource,
  buildLarge,
  buildNestedIfs,
  concatSegments,
  lengthDelimited,
  tag,
  varint,
  writeSegments,
  type Segment,
} from '../builders/onnx-builder.js';

const ctx = { limits: DEFAULT_LIMITS };

function matches(bytes: Uint8Array, name = 'model.onnx'): boolean {
  return onnx.match(createProbe(new BufferSource(bytes), name));
}

/** Inspects, and holds what it gives to the metadata schema and card (every model here, fuzzed ones too). */
async function inspectSource(src: ByteSource, name = 'model.onnx'): Promise<ModelInfo> {
  const info = await onnx.inspect(src, createProbe(src, name), ctx);
  expectConforms(onnx, info.metadata);
  return info;
}

async function inspectBytes(bytes: Uint8Array): Promise<ModelInfo> {
  return inspectSource(new BufferSource(bytes));
}

/** Resolves to the FormatError `p` rejects with; fails the test on success or on any other error. */
async function formatError(p: Promise<unknown>): Promise<FormatError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError, but inspect succeeded');
}

/** onnxruntime-node, imported lazily (0.2-0.3 s); null, with a visible SKIP, where it is not installed. */
async function loadOrt(): Promise<typeof import('onnxruntime-node') | null> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    console.warn(`SKIP: onnxruntime-node cannot be loaded (${String(err)}); ONNX Runtime cross-checks are skipped.`);
    return null;
  }
}

/** ONNX Runtime when it loads here (an optional dependency with a native binary), decided at collection time. */
const ortModule = await loadOrt();
/** Title suffix of each ONNX Runtime cross-check: they are skipped, visibly, when the runtime cannot be loaded. */
const noOrt = ortModule === null ? ' (SKIP: onnxruntime-node cannot be loaded here)' : '';

/** The loaded runtime, for a test that is skipped without it. */
function requireOrt(): NonNullable<typeof ortModule> {
  if (ortModule === null) throw new Error('An ONNX Runtime cross-check ran although onnxruntime-node could not be loaded.');
  return ortModule;
}

/** Deterministic PRNG (mulberry32) so that fuzz cases are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Metadata is `Record<string, unknown>`; tests index into it freely. */
type Meta = Record<string, any>;

/** A small model exercising every metadata field. */
function richModel(): OnnxBuilder {
  const thenBranch = new GraphBuilder('then')
    .initializer('then_w', 'float32', [2, 3], { floats: [1, 2, 3, 4, 5, 6] })
    .node('Add', ['y0', 'then_w'], ['y'])
    .output('y', 'float32', [2, 3]);
  const elseBranch = new GraphBuilder('else')
    .constantNode('else_c', 'int8', [4], { int32s: [1, 2, 3, 4] })
    .node('FusedMatMul', ['y0', 'y0'], ['y'], { domain: 'com.microsoft' })
    .output('y', 'float32', [2, 3]);
  return new OnnxBuilder()
    .irVersion(8)
    .producer('aibom-test', '1.0')
    .domain('org.example')
    .modelVersion(7)
    .docString('A test model.')
    .opset('', 17)
    .opset('com.microsoft', 1)
    .opset('ai.onnx.ml', 3)
    .metadata('author', 'aibom')
    .metadata('license', 'Apache-2.0')
    .name('main')
    .input('x', 'float32', [1, 3, 'N'])
    .input('w', 'float32', [8, 3, 3, 3]) // an initializer listed as input, as IR < 4 did
    .input('u', 'uint8', [null, 4])
    .input('r', 'float16') // no shape: unknown rank
    .input('c', 'bool', [])
    .input('seq', { sequence: 'float32' })
    .input('sp', { sparse: 'float32' }, [10])
    .initializer('w', 'float32', [8, 3, 3, 3], { zeros: true })
    .initializer('b', 'int64', [2], { int64s: [1, 2] })
    .externalInitializer('big', 'float32', [1024, 1024], 'weights/big.bin', 4096, 4194304)
    .sparseInitializer('sparse_w', [100], [1, 2, 3], [5, 50, 99])
    .constantNode('k', 'float16', [4, 4], { zeros: true })
    .node('Conv', ['x', 'w'], ['y0'])
    .ifNode('c', ['y1'], thenBranch, elseBranch)
    .node('MyFn', ['y1'], ['y2'], { domain: 'local.fn' })
    .valueInfo('y0', 'float32', [1, 8, 'N'])
    .output('y2', 'float32', ['N', null])
    .output('m', { map: ['int64', 'float32'] })
    .output('o', { optional: 'float32' })
    .function(
      'local.fn',
      'MyFn',
      ['a'],
      ['b'],
      [
        ['Neg', ['a'], ['n']],
        ['Abs', ['n'], ['b']],
      ],
    );
}

describe('onnx: builder models', () => {
  it('reports every metadata field of a rich model', async () => {
    const bytes = richModel().build();
    expect(matches(bytes)).toBe(true);
    const info = await inspectBytes(bytes);
    const m: Meta = info.metadata;
    expect(info.confidence).toBe('high');
    expect(m.irVersion).toBe(8);
    expect(m.producerName).toBe('aibom-test');
    expect(m.producerVersion).toBe('1.0');
    expect(m.domain).toBe('org.example');
    expect(m.modelVersion).toBe(7);
    expect(m.docString).toBe('A test model.');
    expect(m.docStringTruncated).toBeUndefined();
    expect(m.opsetImports).toEqual([
      { domain: 'ai.onnx', version: 17 },
      { domain: 'com.microsoft', version: 1 },
      { domain: 'ai.onnx.ml', version: 3 },
    ]);
    expect(m.metadataProps).toEqual([
      { key: 'author', value: 'aibom' },
      { key: 'license', value: 'Apache-2.0' },
    ]);
    const inputs: OnnxValueInfo[] = m.graph.inputs;
    // 'w' is an initializer: excluded from the inputs.
    expect(inputs).toEqual([
      { name: 'x', elemType: 'float32', shape: [1, 3, 'N'] },
      { name: 'u', elemType: 'uint8', shape: [null, 4] },
      { name: 'r', elemType: 'float16', shape: null },
      { name: 'c', elemType: 'bool', shape: [] },
      { name: 'seq', elemType: 'sequence', shape: null },
      { name: 'sp', elemType: 'sparse_tensor', shape: [10] },
    ]);
    expect(m.graph.outputs).toEqual([
      { name: 'y2', elemType: 'float32', shape: ['N', null] },
      { name: 'm', elemType: 'map', shape: null },
      { name: 'o', elemType: 'optional', shape: null },
    ]);
    expect(m.graph.name).toBe('main');
    expect(m.graph.nodeCount).toBe(4); // Constant, Conv, If, MyFn
    expect(m.graph.initializerCount).toBe(4); // w, b, big, sparse_w
    expect(m.graph.valueInfoCount).toBe(1);
    expect(m.operators).toEqual([
      { domain: 'ai.onnx', opType: 'Abs', count: 1 },
      { domain: 'ai.onnx', opType: 'Add', count: 1 },
      { domain: 'ai.onnx', opType: 'Constant', count: 2 },
      { domain: 'ai.onnx', opType: 'Conv', count: 1 },
      { domain: 'ai.onnx', opType: 'If', count: 1 },
      { domain: 'ai.onnx', opType: 'Neg', count: 1 },
      { domain: 'com.microsoft', opType: 'FusedMatMul', count: 1 },
      { domain: 'local.fn', opType: 'MyFn', count: 1 },
    ]);
    expect(m.nodeCount).toBe(9); // 4 in the main graph, 1 + 2 in the branches, 2 in the function
    expect(m.subgraphCount).toBe(2);
    expect(m.customDomains).toEqual(['com.microsoft', 'local.fn']);
    // w 8*3*3*3 f32 raw zeros, b 2 i64, big 1024*1024 f32 external (length 4 MiB), sparse_w 3 values
    // (+ 3 int64 indices), k 16 f16 in a Constant, then_w 6 f32 in the then-branch, else_c 4 i8.
    expect(m.parameters).toEqual({
      count: 216 + 2 + 1048576 + 3 + 16 + 6 + 4,
      bytes: 864 + 16 + 4194304 + (12 + 24) + 32 + 24 + 4,
      byType: { float16: 16, float32: 216 + 1048576 + 3 + 6, int64: 2, int8: 4 },
      tensors: 7,
    });
    expect(m.externalData).toEqual([{ tensor: 'big', location: 'weights/big.bin', offset: 4096, length: 4194304 }]);
    expect(info.externalData).toEqual(['weights/big.bin']);
    expect(m.functions).toEqual([{ domain: 'local.fn', name: 'MyFn', nodeCount: 2 }]);
    expect(m.trainingInfo).toBeUndefined();
    // Plain JSON only, keys in a fixed order.
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
    expect(Object.keys(m)).toEqual([
      'irVersion',
      'producerName',
      'producerVersion',
      'domain',
      'modelVersion',
      'docString',
      'opsetImports',
      'metadataProps',
      'graph',
      'operators',
      'nodeCount',
      'subgraphCount',
      'customDomains',
      'parameters',
      'externalData',
      'functions',
    ]);
  });

  it('counts weights in Constant nodes, If/Loop subgraphs and training graphs', async () => {
    const body = new GraphBuilder('body').constantNode('bc', 'float32', [10], { zeros: true }).node('Add', ['v', 'bc'], ['v2']).output('v2', 'float32', [10]);
    const algo = new GraphBuilder('algo').initializer('lr', 'float64', [], { doubles: [0.1] }).node('Mul', ['a', 'lr'], ['b']);
    const info = await inspectBytes(
      new OnnxBuilder()
        .opset('', 17)
        .input('v', 'float32', [10])
        .constantNode('c0', 'bfloat16', [2, 5], { zeros: true })
        .loopNode(['M', 'cond', 'v'], ['out'], body)
        .output('out', 'float32', [10])
        .trainingInfo(algo)
        .build(),
    );
    const m: Meta = info.metadata;
    expect(m.parameters).toEqual({ count: 10 + 10 + 1, bytes: 20 + 40 + 8, byType: { bfloat16: 10, float32: 10, float64: 1 }, tensors: 3 });
    expect(m.subgraphCount).toBe(1);
    expect(m.trainingInfo).toBe(1);
    expect(m.nodeCount).toBe(5); // Constant, Loop, body Constant + Add, training Mul
    expect(m.graph.nodeCount).toBe(2);
  });

  it('counts string tensors by their bytes and flags tensors that cannot be counted', async () => {
    const info = await inspectBytes(
      new OnnxBuilder()
        .opset('', 17)
        .initializer('s', 'string', [3], { strings: ['a', 'bc', 'def'] })
        .initializer('bad', 'float32', [-1, 4], { none: true })
        .initializer('nib', 'int4', [5], { zeros: true })
        .build(),
    );
    const m: Meta = info.metadata;
    expect(info.confidence).toBe('medium'); // no node
    expect(m.parameters).toEqual({ count: 3 + 5, bytes: 6 + 3, byType: { int4: 5, string: 3 }, tensors: 3, approximate: true });
  });

  it('cuts long text at 4096 characters and says so', async () => {
    const long = 'é'.repeat(5000);
    const m: Meta = (await inspectBytes(new OnnxBuilder().opset('', 17).docString(long).metadata('k', long).metadata('k2', 'v').build())).metadata;
    expect(m.docString).toBe('é'.repeat(4096));
    expect(m.docStringTruncated).toBe(true);
    expect(m.metadataProps).toEqual([
      { key: 'k', value: 'é'.repeat(4096), truncated: true },
      { key: 'k2', value: 'v' },
    ]);
  });

  it('matches a model that does not start with ir_version when it holds a graph', async () => {
    const model = new OnnxBuilder()
      .irVersion(9)
      .producer('p', '1')
      .opset('', 19)
      .input('x', 'float32', [1])
      .node('Relu', ['x'], ['y'])
      .output('y', 'float32', [1]);
    const full = model.build();
    // Move ir_version (its 2 bytes, 08 09) from the start to the end: protobuf parsers accept any order.
    expect([...full.subarray(0, 2)]).toEqual([0x08, 0x09]);
    const reordered = concatSegments([full.subarray(2), full.subarray(0, 2)]);
    expect(matches(reordered)).toBe(true);
    const m: Meta = (await inspectBytes(reordered)).metadata;
    expect(m.irVersion).toBe(9);
    expect(m.graph.nodeCount).toBe(1);
  });

  it('inspects 100k nodes in well under a second', async () => {
    const b = new OnnxBuilder().opset('', 17).input('x0', 'float32', [1]);
    for (let i = 0; i < 100_000; i++) b.node(i % 2 ? 'Relu' : 'Sigmoid', [`x${i}`], [`x${i + 1}`], { name: `n${i}` });
    const bytes = b.output('x100000', 'float32', [1]).build();
    const t0 = performance.now();
    const m: Meta = (await inspectBytes(bytes)).metadata;
    const ms = performance.now() - t0;
    expect(m.nodeCount).toBe(100_000);
    expect(ms).toBeLessThan(1000);
  });
});

describe('onnx: bounded reading', () => {
  it('reads under 4 MB of a model with a 200 MB initializer', async () => {
    const src = new SegmentSource(buildLarge({ initializerBytes: 200 * 1024 * 1024, initializers: 1 }).segments());
    expect(src.size).toBeGreaterThan(200 * 1024 * 1024);
    const info = await inspectSource(src);
    const m: Meta = info.metadata;
    expect(m.parameters.bytes).toBe(200 * 1024 * 1024);
    expect(src.bytesRead).toBeLessThan(4 * 1024 * 1024);
  });

  it('reads under 4 MB of a 1.2 GB model with 12 initializers', async () => {
    const src = new SegmentSource(buildLarge({ initializerBytes: 1200 * 1024 * 1024, initializers: 12 }).segments());
    const m: Meta = (await inspectSource(src)).metadata;
    expect(m.parameters.tensors).toBe(12);
    expect(m.parameters.bytes).toBe(1200 * 1024 * 1024);
    expect(m.nodeCount).toBe(12);
    expect(src.bytesRead).toBeLessThan(4 * 1024 * 1024);
  });

  it('streams a large model to a file that inspects the same', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-onnx-'));
    try {
      const file = path.join(dir, 'big.onnx');
      const segs = buildLarge({ initializerBytes: 64 * 1024 * 1024, initializers: 2 }).segments();
      expect(writeSegments(file, segs)).toBe(fs.statSync(file).size);
      const src = FileSource.open(file);
      try {
        const m: Meta = (await inspectSource(src, 'big.onnx')).metadata;
        expect(m).toEqual((await inspectSource(new SegmentSource(segs))).metadata);
      } finally {
        src.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('onnx: real corpus', () => {
  const files = corpusFiles('onnx', '.onnx').filter((f) => path.basename(f) !== 'LICENSE.onnx');
  // Models ONNX Runtime 1.30 cannot load; their metadata cannot be cross-checked.
  const ortCannotLoad: Record<string, string> = {
    'pytorch_test_Linear.onnx': 'ONNX Runtime has no CPU kernel for Gemm at opset 6',
  };

  it.runIf(files.length > 0)('matches and inspects every corpus model', async () => {
    for (const f of files) {
      const src = FileSource.open(f);
      try {
        const probe = createProbe(src, path.basename(f));
        expect(onnx.match(probe), f).toBe(true);
        const info = await onnx.inspect(src, probe, ctx);
        expectConforms(onnx, info.metadata, f);
        const m: Meta = info.metadata;
        expect(info.confidence, f).toBe('high');
        expect(m.nodeCount, f).toBeGreaterThan(0);
        expect(m.graph.inputs.length, f).toBeGreaterThan(0);
      } finally {
        src.close();
      }
    }
  });

  it.skipIf(files.length === 0 || ortModule === null)(`reports the same graph inputs and outputs as ONNX Runtime${noOrt}`, async () => {
    const ort = requireOrt();
    // ORT reports a dim with neither value nor param as '' and an absent shape as [].
    const norm = (v: OnnxValueInfo): unknown => ({ name: v.name, type: v.elemType, shape: (v.shape ?? []).map((d) => d ?? '') });
    for (const f of files) {
      const base = path.basename(f);
      if (ortCannotLoad[base] !== undefined) continue; // skipped visibly below
      const session = await ort.InferenceSession.create(f, { logSeverityLevel: 3 });
      const src = FileSource.open(f);
      try {
        const m: Meta = (await inspectSource(src, base)).metadata;
        expect(
          m.graph.inputs.map((i: OnnxValueInfo) => i.name),
          base,
        ).toEqual(session.inputNames);
        expect(
          m.graph.outputs.map((i: OnnxValueInfo) => i.name),
          base,
        ).toEqual(session.outputNames);
        const fromOrt = (md: readonly unknown[]): unknown[] =>
          md.map((x) => {
            const v = x as { name: string; isTensor: boolean; type?: string; shape?: ReadonlyArray<number | string> };
            return { name: v.name, type: v.isTensor ? v.type : 'non-tensor', shape: [...(v.shape ?? [])] };
          });
        expect(m.graph.inputs.map(norm), base).toEqual(fromOrt(session.inputMetadata));
        expect(m.graph.outputs.map(norm), base).toEqual(fromOrt(session.outputMetadata));
      } finally {
        src.close();
        await session.release();
      }
    }
  });

  for (const [base, why] of Object.entries(ortCannotLoad)) {
    if (files.some((f) => path.basename(f) === base)) it.skip(`ONNX Runtime cross-check of ${base} (SKIP: ${why})`, () => {});
  }

  it.skipIf(ortModule === null)(`agrees with ONNX Runtime on a builder model with symbolic, unknown and absent dims${noOrt}`, async () => {
    const ort = requireOrt();
    const bytes = new OnnxBuilder()
      .opset('', 17)
      .input('x', 'float32', [1, 'N', null])
      .input('s', 'int64')
      .input('w', 'float32', [3])
      .initializer('w', 'float32', [3], { zeros: true })
      .node('Add', ['x', 'w'], ['y'])
      .node('Identity', ['s'], ['z'])
      .output('y', 'float32', [1, 'N', 3])
      .output('z', 'int64')
      .build();
    const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
    const m: Meta = (await inspectBytes(bytes)).metadata;
    expect(m.graph.inputs).toEqual([
      { name: 'x', elemType: 'float32', shape: [1, 'N', null] },
      { name: 's', elemType: 'int64', shape: null },
    ]);
    expect(session.inputNames).toEqual(['x', 's']);
    expect(session.inputMetadata).toEqual([
      { name: 'x', isTensor: true, type: 'float32', shape: [1, 'N', ''] },
      { name: 's', isTensor: true, type: 'int64', shape: [] },
    ]);
    await session.release();
  });
});

describe('onnx: hostile input', () => {
  const small = richModel().build();

  it('every truncation either inspects or fails with a FormatError', async () => {
    let errors = 0;
    for (let n = 0; n < small.length; n++) {
      try {
        await inspectBytes(small.subarray(0, n));
      } catch (err) {
        expect(err, `prefix of ${n} bytes`).toBeInstanceOf(FormatError);
        errors++;
      }
    }
    // Nearly every cut falls inside a field (the graph, which holds most of the model).
    expect(errors).toBeGreaterThan(small.length * 0.9);
  });

  it('random buffers do not match, or fail to inspect with a FormatError', async () => {
    const rand = prng(0x0a1b0c);
    let matched = 0;
    for (let i = 0; i < 1000; i++) {
      const buf = randomBytes(rand, Math.floor(rand() * 4096));
      if (!matches(buf, 'random.bin')) continue;
      matched++;
      await formatError(inspectBytes(buf));
    }
    expect(matched).toBeLessThan(5);
  });

  it('random bytes after a plausible ir_version, and random byte flips of a model, never cause another error', async () => {
    const rand = prng(42);
    for (let i = 0; i < 1000; i++) {
      const buf = concatSegments([Uint8Array.of(0x08, 0x08), randomBytes(rand, Math.floor(rand() * 512))]);
      await inspectBytes(buf).catch((err: unknown) => expect(err).toBeInstanceOf(FormatError));
    }
    for (let i = 0; i < 2000; i++) {
      const buf = small.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      await inspectBytes(buf).catch((err: unknown) => expect(err).toBeInstanceOf(FormatError));
    }
  });

  it('names the field and value when a length runs past its message', async () => {
    // ModelProto { ir_version 8, graph: length 1000 with 3 bytes present }
    const cut = await formatError(inspectBytes(Uint8Array.of(0x08, 0x08, 0x3a, 0xe8, 0x07, 0x0a, 0x00, 0x00)));
    expect(cut.code).toBe('truncated');
    expect(cut.message).toBe('Invalid ONNX: ModelProto field 7 (graph) length 1000 runs past the end of the 8-byte message at offset 0.');
    // GraphProto { node: length 50 } inside a 4-byte graph, followed by more model fields.
    const inner = await formatError(inspectBytes(Uint8Array.of(0x08, 0x08, 0x3a, 0x04, 0x0a, 0x32, 0x00, 0x00, 0x12, 0x01, 0x61)));
    expect(inner.code).toBe('format');
    expect(inner.message).toBe('Invalid ONNX: GraphProto field 1 (node) length 50 runs past the end of the 4-byte message at offset 4.');
  });

  it('rejects groups, bad wire types, overlong varints and a missing ir_version', async () => {
    expect((await formatError(inspectBytes(Uint8Array.of(0x08, 0x08, 0x0b)))).message).toMatch(/wire type 3 \(start-group\)/);
    expect((await formatError(inspectBytes(Uint8Array.of(0x08, 0x08, 0x38, 0x01)))).message).toBe(
      'Invalid ONNX: ModelProto field 7 (graph) at offset 2 has wire type 0 (varint), expected 2 (length-delimited).',
    );
    const long = Uint8Array.of(0x08, 0x08, 0x28, ...new Array<number>(11).fill(0xff), 0x01);
    expect((await formatError(inspectBytes(long))).message).toMatch(/longer than 10 bytes/);
    expect((await formatError(inspectBytes(new Uint8Array(0)))).message).toBe('Invalid ONNX: ModelProto has no field 1 (ir_version).');
    expect((await formatError(inspectBytes(Uint8Array.of(0x08, 0x00)))).message).toMatch(/field 1 \(ir_version\) value 0/);
    // A node without op_type.
    const noOp = concatSegments([Uint8Array.of(0x08, 0x08), ...lengthDelimited(7, lengthDelimited(1, [tag(3, 2), varint(1), Uint8Array.of(0x6e)]))]);
    expect((await formatError(inspectBytes(noOp))).message).toMatch(/NodeProto at offset \d+ has no field 4 \(op_type\)/);
  });

  it('accepts subgraphs nested 30 deep and rejects 40 deep with a FormatError', async () => {
    const ok: Meta = (await inspectBytes(buildNestedIfs(30).build())).metadata;
    expect(ok.subgraphCount).toBe(60);
    const err = await formatError(inspectBytes(buildNestedIfs(40).build()));
    expect(err.message).toMatch(/nests messages deeper than 100 levels/);
  });

  it('bounds a packed dims field of 2^31 values without reading it', async () => {
    const n = 2 ** 31;
    // TensorProto { dims: packed, 2^31 zero varints; data_type 1 } as an initializer of the graph.
    const tensor: Segment[] = [tag(1, 2), varint(n), n, tag(2, 0), varint(1)];
    const segs: Segment[] = [Uint8Array.of(0x08, 0x08), ...lengthDelimited(7, lengthDelimited(5, tensor))];
    const src = new SegmentSource(segs);
    const err = await formatError(inspectSource(src));
    expect(err.message).toMatch(/TensorProto field 1 \(dims\) at offset \d+ packs more than 1024 values/);
    expect(src.bytesRead).toBeLessThan(1024 * 1024);
    // The same bound holds for dims written one field each.
    const many = new OnnxBuilder().opset('', 17).initializer('t', 'float32', new Array<number>(1100).fill(1), { none: true }).build();
    expect((await formatError(inspectBytes(many))).message).toMatch(/more than 1024/);
  });
});

describe('onnx: not ONNX', () => {
  const cases: Array<[string, Uint8Array]> = [
    ['text', new TextEncoder().encode('# A README\n\nThis is not a model, just some text.\n')],
    ['JSON', new TextEncoder().encode('{"ir_version": 8, "graph": {}}')],
    ['zip header', Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, ...new Array<number>(40).fill(0))],
    ['ELF header', Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, ...new Array<number>(56).fill(0))],
    // A FlatBuffer: root table offset 0x1c, then 'TFL3' at bytes 4..8.
    ['TFLite header', Uint8Array.of(0x1c, 0x00, 0x00, 0x00, 0x54, 0x46, 0x4c, 0x33, ...new Array<number>(56).fill(0))],
    // TensorFlow SavedModel: saved_model_schema_version 1, then meta_graphs (a large message as field 2).
    ['SavedModel head', concatSegments([Uint8Array.of(0x08, 0x01, 0x12), varint(100_000), Uint8Array.of(0x0a, 0x10), new Uint8Array(100_000 - 2)])],
    // Core ML: specificationVersion 4, description { input { name 'input' } }, neuralNetwork (field 200).
    ['Core ML head', Uint8Array.of(0x08, 0x04, 0x12, 0x09, 0x0a, 0x07, 0x0a, 0x05, 0x69, 0x6e, 0x70, 0x75, 0x74, 0xc2, 0x0c, 0x00)],
    ['zeros', new Uint8Array(1024)],
    ['empty', new Uint8Array(0)],
    ['ir_version alone', Uint8Array.of(0x08, 0x08)],
  ];
  for (const [name, bytes] of cases) {
    it(`does not match ${name}`, () => {
      expect(matches(bytes)).toBe(false);
    });
  }

  it('does not match real TFLite models nor the corpus licence text', () => {
    const others = [...corpusFiles('tflite', '.tflite'), ...corpusFiles('onnx', '.onnx').filter((f) => path.basename(f) === 'LICENSE.onnx')];
    for (const f of others) {
      const src = FileSource.open(f);
      try {
        expect(onnx.match(createProbe(src, path.basename(f))), f).toBe(false);
      } finally {
        src.close();
      }
    }
  });
});

describe('protobuf walker', () => {
  it('walks fields, keeps skipped payloads unread and reports positions', () => {
    // field 1 varint 150; field 2 bytes "hi"; field 3 fixed32; field 4 fixed64
    const bytes = Uint8Array.of(0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x1d, 1, 0, 0, 0, 0x21, 2, 0, 0, 0, 0, 0, 0, 0);
    const m = new ProtoReader(new BufferSource(bytes), { format: 'test' }).root('Msg');
    const seen: unknown[] = [];
    while (m.next()) {
      if (m.field === 1) seen.push(m.uint64());
      else if (m.field === 2) seen.push(m.string(), m.offset, m.length);
      else if (m.field === 3) seen.push(m.fixed32());
      else seen.push(m.fixed64());
    }
    expect(seen).toEqual([150n, 'hi', 5, 2, 1, 2n]);
  });

  it('decodes negative int64 varints and bounds packed counts', () => {
    const neg = Uint8Array.of(0x08, ...new Array<number>(9).fill(0xff), 0x01); // -1
    const m = new ProtoReader(new BufferSource(neg), { format: 'test' }).root('Msg');
    m.next();
    expect(m.int64()).toBe(-1n);
    expect(m.signedNumber()).toBe(-1);
    const packed = Uint8Array.of(0x0a, 0x04, 0x01, 0x02, 0x03, 0x04);
    const p = new ProtoReader(new BufferSource(packed), { format: 'test' }).root('Msg', { 1: 'dims' });
    p.next();
    const vals: bigint[] = [];
    expect(p.packedVarints(4, (v) => vals.push(v))).toBe(4);
    expect(vals).toEqual([1n, 2n, 3n, 4n]);
    expect(() => p.packedVarints(3, () => undefined)).toThrow('Invalid test: Msg field 1 (dims) at offset 0 packs more than 3 values.');
  });

  it('scans a head without reading past it', () => {
    const s = scanFields(Uint8Array.of(0x08, 0x07, 0x3a, 0xe8, 0x07, 0x0a), 0, 5000);
    expect(s.status).toBe('open');
    expect(s.fields).toEqual([
      { field: 1, wire: 0, offset: 1, value: 7, complete: true },
      { field: 7, wire: 2, offset: 5, length: 1000, complete: false },
    ]);
    expect(scanFields(Uint8Array.of(0x08, 0x07, 0x3a, 0xe8, 0x07), 0, 5).status).toBe('invalid');
    expect(scanFields(Uint8Array.of(0x0b), 0, 1).status).toBe('invalid');
  });
});
