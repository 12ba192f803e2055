import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { ggml, ggmlMetadataSchema } from '../../src/formats/ggml.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { modelCardSchema } from '../../src/inventory/card.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { buildZip } from '../builders/tflite-builder.js';

// Legacy ggml headers, written here from the readers that define them (llama.cpp's pre-GGUF
// llama_file_loader, whisper.cpp's whisper_model_load): u32 magic, [u32 version], int32 hparams.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-ggml-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };

function words(magic: number, ints: number[], tail = 64): Uint8Array {
  const b = new Uint8Array(4 + ints.length * 4 + tail);
  const v = new DataView(b.buffer);
  v.setUint32(0, magic, true);
  for (const [i, x] of ints.entries()) v.setInt32(4 + i * 4, x, true);
  return b;
}
const GGML = 0x67676d6c;
const GGMF = 0x67676d66;
const GGJT = 0x67676a74;
/** whisper base.en as whisper.cpp's models/ggml-base.en.bin starts: hparams, then the mel filters (80 x 201). */
const whisperBase = (ftype = 1): Uint8Array => words(GGML, [51864, 1500, 512, 8, 6, 448, 512, 8, 6, 80, ftype, 80, 201]);
/** LLaMA 7B: n_vocab 32000, n_embd 4096, n_mult 256, n_head 32, n_layer 32, n_rot 128, ftype; then the first token's length. */
const llama7b = (magic: number, version: number | undefined, ftype: number): Uint8Array =>
  words(magic, [...(version !== undefined ? [version] : []), 32000, 4096, 256, 32, 32, 128, ftype, 5]);

async function inspect(b: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(b);
  const info = await ggml.inspect(src, createProbe(src, 'ggml-model.bin'), ctx);
  ggmlMetadataSchema.parse(info.metadata);
  modelCardSchema.parse(ggml.card!(info.metadata));
  return info;
}
const matches = (b: Uint8Array): boolean => ggml.match(createProbe(new BufferSource(b), 'x.bin'));

describe('ggml: legacy headers', () => {
  it('has its magics in on-disk byte order', () => {
    expect(Buffer.from(whisperBase().subarray(0, 4)).toString('latin1')).toBe('lmgg');
    expect(ggml.signatures.map((s) => s.magic)).toEqual(['lmgg', 'fmgg', 'tjgg']);
  });

  it('recognises a whisper.cpp model by its mel filter header', async () => {
    const info = await inspect(whisperBase(1));
    expect(info.confidence).toBe('medium');
    expect(info.metadata).toEqual({
      magic: 'ggml',
      variant: 'whisper',
      hparams: {
        n_vocab: 51864,
        n_audio_ctx: 1500,
        n_audio_state: 512,
        n_audio_head: 8,
        n_audio_layer: 6,
        n_text_ctx: 448,
        n_text_state: 512,
        n_text_head: 8,
        n_text_layer: 6,
        n_mels: 80,
        ftype: 1,
      },
      fileType: 1,
      quantization: 'F16',
      quantizationVersion: 0,
      modelSize: 'base',
    });
    expect(ggml.card!(info.metadata)).toEqual({
      format: 'ggml',
      formatVersion: 'ggml',
      architecture: 'whisper',
      quantization: 'F16',
      quantized: false,
      inputs: [],
      outputs: [],
      weightTypes: [],
      operators: [],
      customOperators: false,
    });
    // A quantized whisper: ftype 2008 is quantization version 2, Q5_0.
    expect((await inspect(whisperBase(2008))).metadata).toMatchObject({ fileType: 8, quantization: 'Q5_0', quantizationVersion: 2 });
  });

  it.each([
    ['ggml', GGML, undefined, 2, 'Q4_0'],
    ['ggmf', GGMF, 1, 1, 'F16'],
    ['ggjt', GGJT, 3, 2009, 'Q5_1'],
  ] as const)('reads a llama.cpp %s header', async (magic, m, version, ftype, quant) => {
    const info = await inspect(llama7b(m, version, ftype));
    expect(info.metadata).toMatchObject({
      magic,
      variant: 'llama',
      hparams: { n_vocab: 32000, n_embd: 4096, n_head: 32, n_layer: 32, n_rot: 128 },
      quantization: quant,
    });
    if (version !== undefined) expect(info.metadata).toMatchObject({ version });
    expect(ggml.card!(info.metadata)).toMatchObject({ architecture: 'llama', formatVersion: version !== undefined ? `${magic} v${version}` : 'ggml' });
  });

  it('reports other ggml programs by identity only', async () => {
    // ggml's gpt-2 example: n_vocab, n_ctx, n_embd, n_head, n_layer, ftype.
    const info = await inspect(words(GGML, [50257, 1024, 768, 12, 12, 1]));
    expect(info.metadata).toEqual({ magic: 'ggml', variant: 'unknown', hparams: {} });
    expect(ggml.card!(info.metadata)).not.toHaveProperty('architecture');
  });

  it('rejects bad versions and foreign hyperparameters with a FormatError naming them', async () => {
    await expect(inspect(llama7b(GGJT, 4, 2))).rejects.toThrow(new FormatError('Invalid ggml: ggjt version at offset 4 is 4, expected 1-3.'));
    await expect(inspect(llama7b(GGMF, 2, 2))).rejects.toThrow('Invalid ggml: ggmf version at offset 4 is 2, expected 1.');
    await expect(inspect(words(GGJT, [1, -5, 3, 3, 3, 3, 3, 3]))).rejects.toThrow(
      'Invalid ggml: the ggjt hyperparameters at offset 8 are not those of a llama.cpp model.',
    );
    await expect(inspect(llama7b(GGJT, 1, 2).subarray(0, 20))).rejects.toBeInstanceOf(FormatError);
  });

  it('matches the three magics and nothing else', () => {
    expect(matches(whisperBase())).toBe(true);
    expect(matches(llama7b(GGJT, 3, 2))).toBe(true);
    expect(matches(llama7b(GGMF, 1, 2))).toBe(true);
    expect(matches(llama7b(GGJT, 9, 2))).toBe(false);
    expect(matches(words(GGML, [-1]))).toBe(false);
    expect(matches(new TextEncoder().encode('ggml model file, not really'))).toBe(false);
    expect(matches(new TextEncoder().encode('GGUF'))).toBe(false);
  });

  it('finds a whisper.cpp model in a zip', async () => {
    const zip = path.join(tmp, 'voice.zip');
    fs.writeFileSync(zip, buildZip([['assets/ggml-base.en.bin', whisperBase()]], 0));
    const inv = inventorySchema.parse(await scan([zip])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => (m.kind === 'model' ? [m.locations[0]!.path, m.model.format, m.model.card.architecture] : []))).toEqual([
      [`${zip}!/assets/ggml-base.en.bin`, 'ggml', 'whisper'],
    ]);
  });
});
