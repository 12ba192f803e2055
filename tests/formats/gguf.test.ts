import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AibomError, FormatError, UnsupportedError } from '../../src/errors.js';
import { gguf, ggufMetadataSchema, readGguf, type GgufMetadata } from '../../src/formats/gguf.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { modelCardSchema } from '../../src/inventory/card.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { GgufBuilder, tinyGguf } from '../builders/gguf-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../fixtures/gguf');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-gguf-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };

function matches(bytes: Uint8Array): boolean {
  return gguf.match(createProbe(new BufferSource(bytes), 'x.gguf'));
}

async function inspect(src: ByteSource | Uint8Array): Promise<ModelInfo> {
  const s = src instanceof Uint8Array ? new BufferSource(src) : src;
  const info = await gguf.inspect(s, createProbe(s, 'm.gguf'), ctx);
  // Every output validates against the format's own schema, and its card against the card schema.
  ggufMetadataSchema.parse(info.metadata);
  modelCardSchema.parse(gguf.card!(info.metadata));
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

/** Bytes `prefix` then zeros up to `size`, synthesised on read; counts what was read. */
class ZeroTailSource implements ByteSource {
  bytesRead = 0;
  constructor(
    private readonly prefix: Uint8Array,
    readonly size: number,
  ) {}
  read(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.size - offset));
    this.bytesRead += n;
    const out = new Uint8Array(n);
    if (offset < this.prefix.length) out.set(this.prefix.subarray(offset, Math.min(offset + n, this.prefix.length)));
    return out;
  }
}

describe('gguf: metadata from our builder', () => {
  it('reads the general keys, the tokenizer summary, parameters per type and every key-value pair', async () => {
    const b = tinyGguf()
      .array(
        'tokenizer.ggml.merges',
        'string',
        Array.from({ length: 30 }, (_, i) => `a${i} b${i}`),
      )
      .array(
        'tokenizer.ggml.scores',
        'float32',
        Array.from({ length: 40 }, (_, i) => i / 2),
      )
      .array('llama.rope.dims', 'int32', [1, -2, 3])
      .kv('general.big', 'uint64', 2n ** 60n)
      .kv('general.small', 'int64', -5n)
      .kv('general.flag', 'bool', true)
      .kv('general.ratio', 'float64', 0.25)
      .string('tokenizer.chat_template', 'x'.repeat(5000));
    const info = await inspect(b.build());
    const m = info.metadata as GgufMetadata;
    expect(info.confidence).toBe('high');
    expect(info.warnings).toBeUndefined();
    expect(m).toMatchObject({
      ggufVersion: 3,
      kvCount: 18,
      tensorCount: 3,
      alignment: 32,
      architecture: 'llama',
      name: 'tiny-llama',
      license: 'apache-2.0',
      fileType: 15,
      quantization: 'Q4_K_M',
      quantizationVersion: 2,
      contextLength: 4096,
      embeddingLength: 256,
      blockCount: 2,
      tokenizer: { model: 'llama', tokens: 40, merges: 30 },
      // 256x40 Q4_K (40 blocks of 144 bytes), 256 F32, 256x40 Q6_K (40 blocks of 210 bytes)
      parameters: { count: 256 * 40 * 2 + 256, bytes: 40 * 144 + 1024 + 40 * 210, byType: { F32: 256, Q4_K: 10240, Q6_K: 10240 } },
      tensorTypes: { F32: 1, Q4_K: 1, Q6_K: 1 },
    });
    // Offsets are aligned: Q4_K 5760 bytes, F32 at 5760 (aligned), Q6_K at 6784.
    expect(m.dataBytes).toBe(6784 + 40 * 210);
    const byKey = new Map(m.kv.map((e) => [e.key, e]));
    expect(m.kv.map((e) => e.key).slice(0, 3)).toEqual(['general.architecture', 'general.name', 'general.license']);
    expect(byKey.get('tokenizer.ggml.tokens')).toEqual({ key: 'tokenizer.ggml.tokens', type: 'array', elementType: 'string', length: 40 });
    expect(byKey.get('tokenizer.ggml.scores')).toEqual({ key: 'tokenizer.ggml.scores', type: 'array', elementType: 'float32', length: 40 });
    expect(byKey.get('llama.rope.dims')).toEqual({ key: 'llama.rope.dims', type: 'array', elementType: 'int32', length: 3, value: [1, -2, 3] });
    expect(byKey.get('general.big')).toEqual({ key: 'general.big', type: 'uint64', value: '1152921504606846976' });
    expect(byKey.get('general.small')?.value).toBe(-5);
    expect(byKey.get('general.flag')?.value).toBe(true);
    expect(byKey.get('general.ratio')?.value).toBe(0.25);
    const tpl = byKey.get('tokenizer.chat_template')!;
    expect(tpl.truncated).toBe(true);
    expect((tpl.value as string).length).toBe(4096);
  });

  it('fills the card with what the header states and nothing else', async () => {
    const info = await inspect(tinyGguf().build());
    expect(gguf.card!(info.metadata)).toEqual({
      name: 'tiny-llama',
      license: 'apache-2.0',
      architecture: 'llama',
      format: 'gguf',
      formatVersion: '3',
      inputs: [],
      outputs: [],
      parameters: 20736,
      parameterBytes: 40 * 144 + 1024 + 40 * 210,
      weightTypes: ['float32', 'q4_k', 'q6_k'],
      quantized: true,
      quantization: 'Q4_K_M',
      operators: [],
      customOperators: false,
    });
    // Without general.* keys: no name, licence or quantization scheme is invented.
    const bare = await inspect(new GgufBuilder().tensor('w', [8], 'F16').build());
    expect(gguf.card!(bare.metadata)).toEqual({
      format: 'gguf',
      formatVersion: '3',
      inputs: [],
      outputs: [],
      parameters: 8,
      parameterBytes: 16,
      weightTypes: ['float16'],
      quantized: false,
      operators: [],
      customOperators: false,
    });
  });

  it.each([1, 2] as const)('reads version %i (v1 with 32-bit counts, lengths and dims)', async (v) => {
    const info = await inspect(tinyGguf('old', v).build());
    expect(info.metadata).toMatchObject({ ggufVersion: v, name: 'old', tensorCount: 3, tokenizer: { tokens: 40 }, parameters: { count: 20736 } });
  });

  it('honours general.alignment for tensor offsets and the data section', async () => {
    const b = new GgufBuilder(3, 64).u32('general.alignment', 64).tensor('a', [3], 'F32').tensor('b', [5], 'F32');
    const m = (await inspect(b.build())).metadata as GgufMetadata;
    expect(m.alignment).toBe(64);
    expect(m.dataOffset % 64).toBe(0);
    expect(m.dataBytes).toBe(64 + 20);
  });

  it('reports unknown ggml types by number, counted but unsized', async () => {
    const m = (await inspect(new GgufBuilder().tensor('w', [4, 4], 99).build())).metadata as GgufMetadata;
    expect(m.parameters).toEqual({ count: 16, bytes: 0, byType: { 'unknown(99)': 16 } });
  });
});

describe('gguf: a real file written by gguf-py (llama.cpp)', () => {
  it("matches gguf-py's own reading of it", async () => {
    const bytes = fs.readFileSync(path.join(fixtures, 'gguf-py-tiny.gguf'));
    expect(matches(bytes)).toBe(true);
    const m = (await inspect(bytes)).metadata as GgufMetadata;
    // Facts printed by gguf.GGUFReader for this file (see the fixture README).
    expect(m).toMatchObject({
      ggufVersion: 3,
      kvCount: 17 - 3, // GGUFReader lists GGUF.version, tensor_count and kv_count as fields too
      tensorCount: 3,
      architecture: 'llama',
      name: 'gguf-py tiny llama',
      license: 'mit',
      fileType: 7,
      quantization: 'Q8_0',
      contextLength: 2048,
      tokenizer: { model: 'gpt2', tokens: 100, merges: 50 },
      parameters: { count: 6400 + 64 + 4096, bytes: 12800 + 256 + 4352, byType: { F16: 6400, F32: 64, Q8_0: 4096 } },
    });
    expect(m.kv.find((e) => e.key === 'general.big')?.value).toBe('1152921504606846976');
    expect(m.kv.find((e) => e.key === 'general.test_flag')?.value).toBe(true);
  });
});

describe('gguf: bounded reading', () => {
  it('inspects a 4 GB model reading its header only', async () => {
    const b = new GgufBuilder()
      .string('general.architecture', 'llama')
      .array(
        'tokenizer.ggml.tokens',
        'string',
        Array.from({ length: 20_000 }, (_, i) => `token-${i}`),
      )
      .tensor('big', [4096, 131072], 'Q8_0')
      .tensor('big2', [4096, 131072], 'Q8_0')
      .tensor('big3', [4096, 262144], 'F32');
    const header = b.header();
    const src = new ZeroTailSource(header, header.length + b.dataSize());
    expect(src.size).toBeGreaterThan(4 * 2 ** 30);
    const info = await gguf.inspect(src, createProbe(src, 'big.gguf'), ctx);
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toMatchObject({ tensorCount: 3, tokenizer: { tokens: 20_000 }, parameters: { count: 4 * 4096 * 131072 } });
    expect(src.bytesRead).toBeLessThan(4 * 2 ** 20);
  });

  it('refuses absurd counts before allocating or looping, naming the field', async () => {
    const kv = tinyGguf();
    kv.kvCountOverride = 900_000n;
    expect((await formatError(inspect(kv.build()))).message).toMatch(
      /^Invalid GGUF: metadata_kv_count 900000 and tensor_count 3 need at least 11700072 bytes after offset 24, but the file has \d+\.$/,
    );
    const huge = tinyGguf();
    huge.kvCountOverride = 2n ** 63n;
    expect((await formatError(inspect(huge.build()))).message).toBe('Invalid GGUF: metadata_kv_count at offset 16 is 9223372036854775808, more than 1000000.');
    const t = tinyGguf();
    t.tensorCountOverride = 5_000_000n;
    expect((await formatError(inspect(t.build()))).message).toMatch(/tensor_count 5000000 need at least/);
  });

  it('refuses an array longer than the file can hold', async () => {
    const b = new GgufBuilder().array('a', 'uint32', [1, 2]);
    const bytes = b.build();
    // The array count sits after key (8 + 1), type (4) and element type (4): offset 24 + 17.
    new DataView(bytes.buffer).setBigUint64(24 + 17, 2n ** 40n, true);
    expect((await formatError(inspect(bytes))).message).toMatch(
      /^Invalid GGUF: value of 'a' at offset 37 declares 1099511627776 uint32 elements, more than the \d+ bytes left can hold\.$/,
    );
  });
});

describe('gguf: hostile and broken files', () => {
  it('fails every truncation inside the header with a FormatError naming what was cut', async () => {
    const bytes = tinyGguf().build();
    const headerLen = tinyGguf().header().length;
    for (let n = 0; n < headerLen - 32; n += 7) {
      const err = await formatError(inspect(bytes.subarray(0, n)));
      if (n >= 8) expect(err.message).toMatch(/^Invalid GGUF: .* (at offset \d+|after offset \d+)/);
    }
  });

  it('reports tensor data cut short as a truncation warning on a medium-confidence model', async () => {
    const info = await inspect(tinyGguf().build(100));
    expect(info.confidence).toBe('medium');
    expect(info.warnings).toEqual([
      {
        severity: 'error',
        code: 'truncated',
        message: expect.stringMatching(
          /^GGUF tensor data needs 15184 bytes from offset \d+ \(up to the end of tensor 'output.weight'\), but the file has 15084: it is truncated\.$/,
        ),
      },
    ]);
  });

  it('rejects random bytes behind the magic without any other error', async () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 200; i++) {
      const b = Uint8Array.from({ length: 200 + (i % 50) * 20 }, rnd);
      b.set([0x47, 0x47, 0x55, 0x46, (i % 3) + 1, 0, 0, 0]);
      try {
        await gguf.inspect(new BufferSource(b), createProbe(new BufferSource(b), 'r.gguf'), ctx);
      } catch (err) {
        expect(err).toBeInstanceOf(AibomError);
      }
    }
  });

  it.each([
    [
      'n_dimensions above 4',
      (b: GgufBuilder) => b.tensor('w', [1, 1, 1, 1, 2], 'F32'),
      /tensor 0 \('w'\) n_dimensions at offset \d+ is 5, more than ggml's 4\./,
    ],
    [
      'a dimension not a multiple of the block',
      (b: GgufBuilder) => b.tensor('q', [33], 'Q4_0'),
      /tensor 0 \('q'\) dimension 0 is 33, not a multiple of the 32-element block of Q4_0/,
    ],
    [
      'an unaligned offset',
      (b: GgufBuilder) => b.tensor('w', [4], 'F32', 4),
      /tensor 0 \('w'\) data offset 4 at offset \d+ is not a multiple of the alignment 32\./,
    ],
    ['a duplicate key', (b: GgufBuilder) => b.string('k', 'a').string('k', 'b'), /key 'k' at offset \d+ appears twice\./],
    ['an alignment of 0', (b: GgufBuilder) => b.u32('general.alignment', 0), /general.alignment is 0 \(uint32\), expected a uint32 power of two\./],
    ['an alignment of 48', (b: GgufBuilder) => b.u32('general.alignment', 48), /general.alignment is 48 \(uint32\)/],
    ['an alignment of the wrong type', (b: GgufBuilder) => b.string('general.alignment', '32'), /general.alignment is "32" \(string\)/],
  ])('rejects %s', async (_what, edit, message) => {
    expect((await formatError(inspect(edit(new GgufBuilder()).build()))).message).toMatch(message);
  });

  it('rejects an unknown value type naming the key and offset', async () => {
    const bytes = new GgufBuilder().u32('k', 1).build();
    new DataView(bytes.buffer).setUint32(24 + 9, 13, true);
    expect((await formatError(inspect(bytes))).message).toBe("Invalid GGUF: type of 'k' at offset 33 has value type 13, outside 0..12.");
  });

  it('reports big-endian and future versions as unsupported, version 0 as invalid', async () => {
    const be = tinyGguf().build();
    new DataView(be.buffer).setUint32(4, 3, false);
    await expect(inspect(be)).rejects.toBeInstanceOf(UnsupportedError);
    const v4 = tinyGguf().build();
    new DataView(v4.buffer).setUint32(4, 4, true);
    await expect(inspect(v4)).rejects.toThrow('GGUF version 4 at offset 4 is newer than the versions 1-3 this reader knows.');
    const v0 = tinyGguf().build();
    new DataView(v0.buffer).setUint32(4, 0, true);
    expect((await formatError(inspect(v0))).message).toBe('Invalid GGUF: version at offset 4 is 0, expected 1, 2 or 3.');
  });

  it('matches only GGUF heads', () => {
    expect(matches(tinyGguf().build())).toBe(true);
    expect(matches(new TextEncoder().encode('GGUF is a file format'))).toBe(false);
    expect(matches(new TextEncoder().encode('GGML'))).toBe(false);
    expect(matches(new Uint8Array([0x47, 0x47, 0x55, 0x46, 0, 0, 0, 0]))).toBe(false);
    expect(matches(new Uint8Array(64))).toBe(false);
  });
});

describe('gguf: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;

  it('finds a GGUF model inside a zip and a tar, with its card', async () => {
    const model = tinyGguf('packed').build();
    const zip = path.join(tmp, 'voice.zip');
    fs.writeFileSync(zip, buildZip([['models/assistant.bin', model]], 0));
    const d = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(d, 'opt/llm'), { recursive: true });
    fs.writeFileSync(path.join(d, 'opt/llm/model-q4.gguf'), model);
    const tar = path.join(tmp, 'rootfs.tar');
    run('tar', ['-cf', tar, '-C', d, 'opt']);
    const inv = valid(await scan([zip, tar]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models).toHaveLength(1); // the same bytes twice: one component, two locations
    const m = models[0]!;
    expect(m.kind === 'model' && m.model.format).toBe('gguf');
    expect(m.locations.map((l) => l.path).sort()).toEqual([`${tar}!/opt/llm/model-q4.gguf`, `${zip}!/models/assistant.bin`]);
    expect(m.kind === 'model' && m.model.card).toMatchObject({ name: 'packed', architecture: 'llama', quantization: 'Q4_K_M' });
    expect(inv.problems).toEqual([]);
  });

  it('reports a corrupt GGUF as a problem, not a model', async () => {
    const bad = tinyGguf().build();
    new DataView(bad.buffer).setBigUint64(16, 2n ** 40n, true);
    const f = path.join(tmp, 'bad.bin');
    fs.writeFileSync(f, bad);
    const inv = valid(await scan([f]));
    expect(inv.components.filter((c) => c.kind === 'model')).toEqual([]);
    expect(inv.problems.map((p) => [p.code, p.message.slice(0, 50)])).toEqual([['format', 'Not a valid gguf model: Invalid GGUF: metadata_kv_']]);
  });
});

describe('gguf: readGguf', () => {
  it('is exported for other readers and reports what it read', () => {
    const r = readGguf(new BufferSource(tinyGguf().build()));
    expect(r.bytesRead).toBeGreaterThan(0);
  });
});
