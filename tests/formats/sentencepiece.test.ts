import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type SentencepieceMetadata, sentencepiece } from '../../src/formats/sentencepiece.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { smallSpm, spmBytes } from '../builders/sentencepiece-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';
import { hasTool } from '../helpers/corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-spm-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const HAS_SPM = hasTool('spm_train');

function matches(bytes: Uint8Array, name = 'tokenizer.model'): boolean {
  return sentencepiece.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array, name = 'tokenizer.model'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const probe = createProbe(src, name);
  expect(sentencepiece.match(probe)).toBe(true);
  const info = await sentencepiece.inspect(src, probe, ctx);
  expectConforms(sentencepiece, info.metadata);
  return info;
}

describe('sentencepiece', () => {
  it('reads piece types, model type, vocabulary size, languages, byte fallback and normalizer', async () => {
    const info = await inspect(smallSpm());
    expect(info.metadata).toEqual({
      pieces: 11,
      pieceTypes: { byte: 2, control: 2, normal: 5, unknown: 1, user_defined: 1 },
      modelType: 'unigram',
      vocabSize: 11,
      acceptLanguages: ['en'],
      byteFallback: true,
      normalizer: 'nmt_nfkc',
    } satisfies SentencepieceMetadata);
    expect(sentencepiece.card(info.metadata)).toEqual({
      task: 'tokenizer',
      architecture: 'unigram',
      format: 'sentencepiece',
      inputs: [],
      outputs: [],
      weightTypes: [],
      operators: [],
      customOperators: false,
    });
  });

  it.skipIf(!HAS_SPM)('reads models trained by spm_train (Debian package sentencepiece), BPE and unigram', async () => {
    const corpus = path.join(tmp, 'corpus.txt');
    const words = ['model', 'scan', 'firmware', 'terminal', 'kiosk', 'neural', 'token', 'piece', 'audit', 'bill', 'material', 'camera', 'speech', 'ocr'];
    fs.writeFileSync(
      corpus,
      Array.from({ length: 300 }, (_, i) => Array.from({ length: 10 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ')).join('\n'),
    );
    for (const [type, size] of [
      ['bpe', 60],
      ['unigram', 25],
    ] as const) {
      const prefix = path.join(tmp, `spm_${type}`);
      execFileSync(
        'spm_train',
        [`--input=${corpus}`, `--model_prefix=${prefix}`, `--vocab_size=${size}`, `--model_type=${type}`, '--accept_language=en,de', '--byte_fallback=false'],
        { stdio: 'ignore' },
      );
      const info = await inspect(fs.readFileSync(`${prefix}.model`), `spm_${type}.model`);
      expect(info.metadata).toMatchObject({
        pieces: size,
        modelType: type,
        vocabSize: size,
        acceptLanguages: ['en', 'de'],
        byteFallback: false,
        normalizer: 'nmt_nfkc',
      });
      expect((info.metadata as SentencepieceMetadata).pieceTypes).toMatchObject({ unknown: 1, control: 2, normal: size - 3 });
    }
  });

  it('does not match ONNX, another .model, or pieces named otherwise', () => {
    expect(matches(new OnnxBuilder().build())).toBe(false);
    expect(matches(new TextEncoder().encode('solver model file\n'))).toBe(false);
    expect(matches(smallSpm(), 'tokenizer.bin')).toBe(false);
    expect(matches(spmBytes({ pieces: [{ piece: 'a' }] }))).toBe(false); // one piece: nothing to recognise
  });

  it('fails a truncated model with a FormatError', async () => {
    const bytes = smallSpm();
    const src = new BufferSource(bytes.subarray(0, bytes.length - 4));
    const err = await sentencepiece.inspect(src, createProbe(src, 'x.model'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe('truncated');
  });
});

describe('sentencepiece: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds a tokenizer.model in a zip and leaves another .model alone', async () => {
    const archive = path.join(tmp, 'llm.zip');
    fs.writeFileSync(
      archive,
      buildZip(
        [
          ['llm/tokenizer.model', smallSpm()],
          ['llm/other.model', new TextEncoder().encode('not a tokenizer')],
        ],
        0,
      ),
    );
    const inv = valid(await scan([archive]));
    expect(inv.components.filter((c) => c.kind === 'model').map((m) => m.locations[0]!.path)).toEqual([`${archive}!/llm/tokenizer.model`]);
    expect(inv.problems).toEqual([]);
  });
});
