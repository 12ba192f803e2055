import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { safetensors, safetensorsMetadataSchema, MAX_HEADER_BYTES } from '../../src/formats/safetensors.js';
import type { InspectContext, ModelInfo } from '../../src/formats/types.js';
import { modelCardSchema } from '../../src/inventory/card.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { buildIndex, buildSafetensors, type StTensor } from '../builders/safetensors-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../fixtures/safetensors');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-safetensors-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function matches(bytes: Uint8Array, name = 'x.bin'): boolean {
  return safetensors.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array | ByteSource, siblings: Record<string, Uint8Array> = {}, name = 'model.safetensors'): Promise<ModelInfo> {
  const src = bytes instanceof Uint8Array ? new BufferSource(bytes) : bytes;
  const ctx: InspectContext = { limits: DEFAULT_LIMITS, sibling: (n) => Promise.resolve(siblings[n] ? new BufferSource(siblings[n]) : undefined) };
  const info = await safetensors.inspect(src, createProbe(src, name), ctx);
  safetensorsMetadataSchema.parse(info.metadata);
  modelCardSchema.parse(safetensors.card!(info.metadata));
  return info;
}

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError, but inspect succeeded');
}

const three: StTensor[] = [
  { name: 'embed.weight', dtype: 'BF16', shape: [100, 16] },
  { name: 'proj.weight', dtype: 'F32', shape: [16, 16] },
  { name: 'proj.bias', dtype: 'F32', shape: [16] },
];

describe('safetensors: one file', () => {
  it('reads tensors, parameters, dtypes and __metadata__, and fills the card', async () => {
    const info = await inspect(buildSafetensors(three, { metadata: { format: 'pt', 'modelspec.title': 'Tiny', 'modelspec.license': 'CC-BY-4.0' } }));
    expect(info.confidence).toBe('high');
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toMatchObject({
      layout: 'file',
      tensorCount: 3,
      dataBytes: 3200 + 1024 + 64,
      parameters: { count: 1600 + 256 + 16, bytes: 3200 + 1024 + 64, byType: { BF16: 1600, F32: 272 } },
      dtypes: { BF16: 1, F32: 2 },
      metadata: { format: 'pt', 'modelspec.license': 'CC-BY-4.0', 'modelspec.title': 'Tiny' },
    });
    expect(safetensors.card!(info.metadata)).toEqual({
      name: 'Tiny',
      license: 'CC-BY-4.0',
      format: 'safetensors',
      inputs: [],
      outputs: [],
      parameters: 1872,
      parameterBytes: 4288,
      weightTypes: ['bfloat16', 'float32'],
      quantized: false,
      operators: [],
      customOperators: false,
    });
  });

  it('reads a file written by the safetensors library itself', async () => {
    const bytes = fs.readFileSync(path.join(fixtures, 'numpy-tiny.safetensors'));
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toMatchObject({
      tensorCount: 4,
      parameters: { count: 40 + 16 + 4 + 1, bytes: 80 + 64 + 16 + 8, byType: { F16: 40, F32: 20, I64: 1 } },
      metadata: { format: 'np', 'modelspec.title': 'tiny numpy model', 'modelspec.license': 'MIT' },
    });
    expect(safetensors.card!(info.metadata)).toMatchObject({ name: 'tiny numpy model', license: 'MIT', weightTypes: ['float16', 'float32', 'int64'] });
  });

  it('flags quantized dtypes and keeps non-string __metadata__ values as JSON text', async () => {
    const info = await inspect(buildSafetensors([{ name: 'q', dtype: 'F8_E4M3', shape: [4] }], { metadata: { n: 3 } }));
    expect(info.metadata).toMatchObject({ metadata: { n: '3' } });
    expect(safetensors.card!(info.metadata)).toMatchObject({ quantized: true, weightTypes: ['float8e4m3'] });
  });

  it('reports data past the end, overlapping tensors and sizes that disagree with the shape as warnings', async () => {
    const cut = await inspect(buildSafetensors(three, { cut: 10 }));
    expect(cut.confidence).toBe('medium');
    expect(cut.warnings).toEqual([
      { severity: 'error', code: 'truncated', message: "safetensors: tensor 'proj.bias' ends past the 4278-byte data buffer: the file is truncated." },
    ]);
    const overlap = await inspect(
      buildSafetensors([
        { name: 'a', dtype: 'F32', shape: [4], offsets: [0, 16] },
        { name: 'b', dtype: 'F32', shape: [4], offsets: [8, 24] },
      ]),
    );
    expect(overlap.warnings).toEqual([
      { severity: 'warning', code: 'format', message: "safetensors: tensors 'a' and 'b' overlap (bytes 8-16 of the data buffer)." },
    ]);
    const wrong = await inspect(buildSafetensors([{ name: 'w', dtype: 'F32', shape: [4], offsets: [0, 12] }]));
    expect(wrong.warnings?.map((w) => w.message)).toEqual(["safetensors: tensor 'w' has data_offsets whose length disagrees with its dtype and shape."]);
  });

  it.each([
    [
      'a header length over the limit',
      () => withLength(buildSafetensors(three), 2 ** 40),
      `Invalid safetensors: header length 1099511627776 at offset 0 exceeds the limit of ${MAX_HEADER_BYTES} bytes.`,
    ],
    [
      'a header length past the end',
      () => withLength(buildSafetensors(three), 5000),
      `Invalid safetensors: header length 5000 at offset 0 runs past the end of the ${buildSafetensors(three).length}-byte file.`,
    ],
    ['JSON that does not parse', () => buildSafetensors([], { json: '{"a": ' }), /^Invalid safetensors: the header JSON at offset 8 does not parse: /],
    [
      'a tensor without data_offsets',
      () => buildSafetensors([], { json: '{"w":{"dtype":"F32","shape":[2]}}' }),
      "Invalid safetensors: tensor 'w' data_offsets is undefined, expected [begin, end] with 0 <= begin <= end.",
    ],
    [
      'reversed data_offsets',
      () => buildSafetensors([], { json: '{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}' }),
      "Invalid safetensors: tensor 'w' data_offsets is [8,0], expected [begin, end] with 0 <= begin <= end.",
    ],
    [
      'a negative dimension',
      () => buildSafetensors([], { json: '{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,0]}}' }),
      "Invalid safetensors: tensor 'w' shape is [-2], expected at most 64 non-negative integers.",
    ],
    [
      'a dtype that is not a string',
      () => buildSafetensors([], { json: '{"w":{"dtype":7,"shape":[],"data_offsets":[0,0]}}' }),
      'Invalid safetensors: tensor \'w\' dtype is 7, expected a dtype name such as "F16".',
    ],
    [
      '__metadata__ that is not an object',
      () => buildSafetensors([], { json: '{"__metadata__":"x"}' }),
      'Invalid safetensors: __metadata__ is "x", expected an object of strings.',
    ],
  ])('rejects %s with a FormatError naming the field', async (_what, make, message) => {
    const err = await formatError(inspect(make()));
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it('fails every truncation of the header with a FormatError', async () => {
    const bytes = buildSafetensors(three);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    for (let i = 0; i < 8 + n; i += 5) await formatError(inspect(bytes.subarray(0, i)));
  });

  it('reads a 2 GB file by its header only', async () => {
    const big: StTensor[] = [{ name: 'w', dtype: 'F16', shape: [32768, 32768] }];
    const head = buildSafetensors(big, { cut: 2 * 32768 * 32768 });
    let read = 0;
    const src: ByteSource = {
      size: head.length + 2 * 32768 * 32768,
      read(offset: number, length: number): Uint8Array {
        const n = Math.min(length, this.size - offset);
        read += n;
        const out = new Uint8Array(n);
        if (offset < head.length) out.set(head.subarray(offset, Math.min(head.length, offset + n)));
        return out;
      },
    };
    const info = await inspect(src);
    expect(info.metadata).toMatchObject({ parameters: { count: 2 ** 30 } });
    expect(info.warnings).toBeUndefined();
    expect(read).toBeLessThan(256 * 1024);
  });

  it('matches strictly: length, brace and key, never other binaries or plain JSON', () => {
    expect(matches(buildSafetensors(three))).toBe(true);
    expect(matches(buildSafetensors([]))).toBe(true); // '{}' padded: an empty file is still the format
    expect(matches(withLength(buildSafetensors(three), 2 ** 40))).toBe(false);
    expect(matches(enc('{"a": 1}'))).toBe(false);
    const notBrace = buildSafetensors(three);
    notBrace[8] = 0x5b; // '['
    expect(matches(notBrace)).toBe(false);
    const noKey = buildSafetensors(three);
    noKey[9] = 0x41; // 'A' where a key's quote must be
    expect(matches(noKey)).toBe(false);
    const badEnd = buildSafetensors(three, { pad: 0 });
    badEnd[8 + Number(new DataView(badEnd.buffer).getBigUint64(0, true)) - 1] = 0x41;
    expect(matches(badEnd)).toBe(false);
    expect(matches(new Uint8Array(64))).toBe(false);
    expect(matches(fs.readFileSync(path.join(here, '../../package.json')))).toBe(false);
  });
});

function withLength(bytes: Uint8Array, n: number): Uint8Array {
  const b = bytes.slice();
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

describe('safetensors: sharded index', () => {
  const dir = path.join(fixtures, 'sharded');
  const files = Object.fromEntries(fs.readdirSync(dir).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(dir, f)))]));
  const index = files['model.safetensors.index.json']!;

  it('is one model whose shards are its parts, summed from their headers', async () => {
    expect(matches(index, 'model.safetensors.index.json')).toBe(true);
    const info = await inspect(index, files, 'model.safetensors.index.json');
    expect(info.parts).toEqual([
      { path: 'model-00001-of-00002.safetensors', role: 'shard' },
      { path: 'model-00002-of-00002.safetensors', role: 'shard' },
    ]);
    expect(info.confidence).toBe('high');
    expect(info.metadata).toEqual({
      layout: 'sharded',
      tensorCount: 3,
      totalSize: 208,
      shards: [
        { path: 'model-00001-of-00002.safetensors', tensors: 2, read: true },
        { path: 'model-00002-of-00002.safetensors', tensors: 1, read: true },
      ],
      parameters: { count: 64 + 8 + 16, bytes: 208, byType: { F16: 72, F32: 16 } },
      dtypes: { F16: 2, F32: 1 },
      metadata: { format: 'pt' },
    });
  });

  it('leaves the sums out when a shard is missing or broken, and says which', async () => {
    const missing = await inspect(index, { 'model-00001-of-00002.safetensors': files['model-00001-of-00002.safetensors']! }, 'i.json');
    expect(missing.confidence).toBe('medium');
    expect(missing.metadata).not.toHaveProperty('parameters');
    expect(safetensors.card!(missing.metadata)).toMatchObject({ weightTypes: [] });
    expect(safetensors.card!(missing.metadata)).not.toHaveProperty('parameters');
    const broken = await inspect(index, { ...files, 'model-00002-of-00002.safetensors': enc('not a shard at all') }, 'i.json');
    expect(broken.warnings?.map((w) => w.message)).toEqual([
      "Shard 'model-00002-of-00002.safetensors' is not a valid safetensors file: Invalid safetensors: header length 7526395003794648942 at offset 0 exceeds the limit of 100000000 bytes.",
    ]);
  });

  it('does not match JSON that is not a safetensors index', () => {
    expect(matches(enc('{"weight_map": {"a": "pytorch_model-00001-of-00002.bin"}}'))).toBe(false);
    expect(matches(enc('{"weight_map": {}}'))).toBe(false);
    expect(matches(enc('{"weight_map": ["a.safetensors"]}'))).toBe(false);
    expect(matches(enc('{"name": "weight_map", "version": "1.0.0"}'))).toBe(false);
    expect(matches(enc('{"weight_map": {"a": "x.safetensors"'))).toBe(false); // cut short
  });
});

describe('safetensors: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  const dir = path.join(fixtures, 'sharded');
  const files: [string, Uint8Array][] = fs
    .readdirSync(dir)
    .sort()
    .map((f) => [`llm/${f}`, new Uint8Array(fs.readFileSync(path.join(dir, f)))]);

  it.each(['zip', 'tar'])('reports a sharded model in a %s as one model with its shards as parts', async (kind) => {
    let archive: string;
    if (kind === 'zip') {
      archive = path.join(tmp, 'weights.zip');
      fs.writeFileSync(archive, buildZip(files, 0));
    } else {
      const d = path.join(tmp, 'tree');
      fs.mkdirSync(path.join(d, 'llm'), { recursive: true });
      for (const [n, b] of files) fs.writeFileSync(path.join(d, n), b);
      archive = path.join(tmp, 'weights.tar');
      run('tar', ['-cf', archive, '-C', d, 'llm']);
    }
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/llm/model.safetensors.index.json`]);
    const m = models[0]!;
    expect(m.kind === 'model' && m.model.card).toMatchObject({ format: 'safetensors', parameters: 88, weightTypes: ['float16', 'float32'] });
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path).sort()).toEqual([
      `${archive}!/llm/model-00001-of-00002.safetensors`,
      `${archive}!/llm/model-00002-of-00002.safetensors`,
    ]);
    for (const p of parts) expect(inv.relationships).toContainEqual({ from: p.id, type: 'part-of', to: m.id });
    expect(inv.problems).toEqual([]);
  });

  it('names a missing shard as a problem on the model', async () => {
    const d = path.join(tmp, 'missing');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), buildIndex({ 'a.weight': 'model-00001-of-00002.safetensors' }, { total_size: 4 }));
    const inv = valid(await scan([d]));
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems.map((p) => [p.code, p.message])).toEqual([
      ['external-data', "The model's shard file 'model-00001-of-00002.safetensors' is missing beside the model."],
    ]);
  });

  it('finds a single safetensors file by content, whatever its name', async () => {
    const f = path.join(tmp, 'weights.dat');
    fs.writeFileSync(f, buildSafetensors(three));
    const inv = valid(await scan([f]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => (m.kind === 'model' ? m.model.format : ''))).toEqual(['safetensors']);
  });
});
