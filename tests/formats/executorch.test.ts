import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AibomError, FormatError } from '../../src/errors.js';
import { executorch, type ExecutorchMetadata } from '../../src/formats/executorch.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { buildPte, type PteMethod } from '../builders/executorch-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-executorch-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const matches = (b: Uint8Array): boolean => executorch.match(createProbe(new BufferSource(b), 'm.pte'));

async function inspect(b: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(b);
  const probe = createProbe(src, 'm.pte');
  expect(executorch.match(probe)).toBe(true);
  const info = await executorch.inspect(src, probe, ctx);
  expectConforms(executorch, info.metadata);
  return info;
}

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

const FORWARD: PteMethod = {
  name: 'forward',
  operators: [
    ['aten::linear', 'out'],
    ['aten::relu', 'out'],
  ],
  delegates: ['XnnpackBackend'],
  tensors: [
    { scalarType: 6, sizes: [16, 8], constant: true },
    { scalarType: 6, sizes: [16], constant: true },
    { scalarType: 1, sizes: [4, 4], constant: true },
    { scalarType: 6, sizes: [1, 8], constant: false },
  ],
  inputs: 1,
  outputs: 1,
};

describe('executorch: programs from our builder', () => {
  it('reads identity, schema version, methods, operators, delegates and constant tensors', async () => {
    const info = await inspect(buildPte([FORWARD, { name: 'encode', operators: [['aten::linear', 'out']] }], { segments: 2 }));
    expect(info.confidence).toBe('high');
    expect(info.metadata).toEqual({
      fileIdentifier: 'ET12',
      schemaVersion: 0,
      methods: [
        { name: 'forward', inputs: 1, outputs: 1, operators: 2, delegates: ['XnnpackBackend'] },
        { name: 'encode', inputs: 1, outputs: 1, operators: 1, delegates: [] },
      ],
      operators: { 'aten::linear.out': 2, 'aten::relu.out': 1 },
      delegates: ['XnnpackBackend'],
      segments: 2,
      constantTensors: 3,
      parameters: 128 + 16 + 16,
      dtypes: { float32: 144, int8: 16 },
    } satisfies ExecutorchMetadata);
    expect(executorch.card(info.metadata)).toEqual({
      format: 'executorch',
      formatVersion: 'ET12/0',
      inputs: [],
      outputs: [],
      parameters: 160,
      weightTypes: ['float32', 'int8'],
      quantized: false,
      operators: [
        { name: 'aten::linear.out', count: 2, custom: false },
        { name: 'XnnpackBackend', count: 1, custom: true },
        { name: 'aten::relu.out', count: 1, custom: false },
      ],
      customOperators: true,
    });
  });

  it('reads the extended header', async () => {
    const b = buildPte([FORWARD], { extendedHeader: true });
    const info = await inspect(b);
    expect(info.metadata).toMatchObject({ extendedHeader: { magic: 'eh00', programSize: b.length, segmentBaseOffset: 0 }, constantTensors: 3 });
  });

  it('accepts other ET digits (a future schema) and reports a program without methods at medium confidence', async () => {
    const info = await inspect(buildPte([], { identifier: 'ET13', version: 2 }));
    expect(info.confidence).toBe('medium');
    expect(info.metadata).toMatchObject({ fileIdentifier: 'ET13', schemaVersion: 2, methods: [] });
  });
});

describe('executorch: look-alikes and broken programs', () => {
  it('matches only ET + two digits with a root offset inside the file', () => {
    expect(matches(buildPte([FORWARD]))).toBe(true);
    expect(matches(buildPte([FORWARD], { identifier: 'ETxx' }))).toBe(false);
    expect(matches(buildPte([FORWARD], { identifier: 'TFL3' }))).toBe(false);
    const far = buildPte([FORWARD]);
    new DataView(far.buffer).setUint32(0, far.length + 10, true);
    expect(matches(far)).toBe(false);
    expect(matches(new TextEncoder().encode('GET /index.html HTTP/1.1'))).toBe(false);
  });

  it('refuses more execution plans than the bound, naming the field', async () => {
    const many = Array.from({ length: 1001 }, (_, i): PteMethod => ({ name: `m${i}`, operators: [] }));
    expect((await formatError(inspect(buildPte(many)))).message).toBe(
      'Invalid ExecuTorch program: Program.execution_plan length 1001 exceeds the limit of 1000.',
    );
  });

  it('rejects an extended header whose sizes are past the file, naming the field', async () => {
    const b = buildPte([FORWARD], { extendedHeader: true });
    new DataView(b.buffer).setBigUint64(16, 1n << 40n, true);
    expect((await formatError(inspect(b))).message).toBe(
      `Invalid ExecuTorch program: program size 1099511627776 at offset 16 is past the end of the ${b.length}-byte file.`,
    );
    const s = buildPte([FORWARD], { extendedHeader: true });
    new DataView(s.buffer).setBigUint64(24, 5n, true);
    expect((await formatError(inspect(s))).message).toMatch(/^Invalid ExecuTorch program: segment base offset 5 at offset 24 is outside \[\d+, \d+\]\.$/);
  });

  it('fails truncations and random bytes behind the identifier with typed errors only', async () => {
    const b = buildPte([FORWARD]);
    for (let n = 16; n < b.length; n += 13) {
      const cut = b.subarray(0, n);
      if (!matches(cut)) continue;
      await expect(inspect(cut)).rejects.toBeInstanceOf(FormatError);
    }
    let seed = 21;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 300; i++) {
      const r = Uint8Array.from({ length: 400 }, rnd);
      r.set([40 + (i % 100), 0, 0, 0, 0x45, 0x54, 0x31, 0x32]);
      try {
        await executorch.inspect(new BufferSource(r), createProbe(new BufferSource(r), 'r.pte'), ctx);
      } catch (err) {
        expect(err).toBeInstanceOf(AibomError);
      }
    }
  });
});

describe('executorch: end to end', () => {
  it('finds a .pte program inside a zip inside a tar', async () => {
    const d = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(d, 'data/app'), { recursive: true });
    fs.writeFileSync(path.join(d, 'data/app/bundle.zip'), buildZip([['assets/model.pte', buildPte([FORWARD], { extendedHeader: true })]], 0));
    const tar = path.join(tmp, 'rootfs.tar');
    run('tar', ['-cf', tar, '-C', d, 'data']);
    const inv = inventorySchema.parse(await scan([tar])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => (m.kind === 'model' ? [m.model.format, m.locations[0]!.path.split('!/').slice(1).join('!/')] : []))).toEqual([
      ['executorch', 'data/app/bundle.zip!/assets/model.pte'],
    ]);
    expect(inv.problems).toEqual([]);
  });
});
