import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { fileTypeName, LeCursor } from './gguf.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Legacy ggml files, before GGUF (2023): a u32 magic written little-endian, so the bytes on disk read
 * backwards: 0x67676d6c 'ggml' is 6c 6d 67 67 ('lmgg', unversioned), 0x67676d66 'ggmf' is 'fmgg' and
 * 0x67676a74 'ggjt' is 'tjgg' (both followed by a u32 version; ggjt 1-3 for llama.cpp's mmap-able
 * layout). Then come int32 hyperparameters whose meaning depends on the program that wrote the file:
 *  - llama.cpp (ggml, ggmf, ggjt): n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype;
 *  - whisper.cpp (ggml): n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
 *    n_text_state, n_text_head, n_text_layer, n_mels, ftype, then the mel filters (n_mel, n_fft = 201).
 * There is no field naming the program: the variant is recognised by those values, and anything else
 * with the magic (gpt-2, gpt-j and other ggml examples) is reported by identity alone.
 */

const MAGICS = {
  ggml: 0x67676d6c,
  ggmf: 0x67676d66,
  ggjt: 0x67676a74,
} as const;
type Magic = keyof typeof MAGICS;

const LLAMA_HPARAMS = ['n_vocab', 'n_embd', 'n_mult', 'n_head', 'n_layer', 'n_rot', 'ftype'] as const;
const WHISPER_HPARAMS = [
  'n_vocab',
  'n_audio_ctx',
  'n_audio_state',
  'n_audio_head',
  'n_audio_layer',
  'n_text_ctx',
  'n_text_state',
  'n_text_head',
  'n_text_layer',
  'n_mels',
  'ftype',
] as const;
/** whisper.cpp's model size by audio layer count (whisper.cpp `e_model`). */
const WHISPER_SIZES: Readonly<Record<number, string>> = { 4: 'tiny', 6: 'base', 12: 'small', 24: 'medium', 32: 'large' };
/** ggml's GGML_QNT_VERSION_FACTOR: ftype = quantization version * 1000 + type. */
const QNT_FACTOR = 1000;
/** Above any real hyperparameter (vocabularies reach 256k, widths 16k). */
const MAX_HPARAM = 100_000_000;

export const ggmlMetadataSchema = z
  .strictObject({
    magic: z.enum(['ggml', 'ggmf', 'ggjt']).describe('The container magic.'),
    version: z.number().int().optional().describe('Container version (ggmf and ggjt only).'),
    variant: z.enum(['llama', 'whisper', 'unknown']).describe('The program the hyperparameters belong to, recognised by their values.'),
    hparams: z.record(z.string(), z.number().int()).describe('Hyperparameters by name (empty for an unknown variant).'),
    fileType: z.number().int().optional().describe('ftype without the quantization version.'),
    quantization: z.string().optional().describe('Name of the ftype (`Q4_0`, `F16`).'),
    quantizationVersion: z.number().int().optional().describe('Quantization version folded into ftype (whisper.cpp and late llama.cpp files).'),
    modelSize: z.string().optional().describe('whisper.cpp: tiny, base, small, medium or large, from n_audio_layer.'),
  })
  .meta({
    title: 'Legacy ggml metadata',
    description:
      'Pre-GGUF llama.cpp files (`ggml`, `ggmf`, `ggjt` v1-3) and whisper.cpp `.bin` models: the container version and the hyperparameters, with the whisper model size and quantization. These files do not name their program, so they are recognised by their values and reported with medium confidence.',
  });
export type GgmlMetadata = z.infer<typeof ggmlMetadataSchema>;

function magicOf(head: Uint8Array): Magic | undefined {
  if (head.length < 8) return undefined;
  const v = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
  for (const [k, m] of Object.entries(MAGICS) as [Magic, number][]) if (v === m) return k;
  return undefined;
}

function readHparams(c: LeCursor, names: readonly string[]): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const n of names) {
    if (c.remaining < 4) return undefined;
    const v = c.i32(`hyperparameter ${n}`);
    if (v < 0 || v > MAX_HPARAM) return undefined;
    out[n] = v;
  }
  return out;
}

/** Reads the magic, version and hyperparameters; throws FormatError when the header breaks them. */
export function readGgml(src: ByteSource): GgmlMetadata {
  const c = new LeCursor(src, 0, 'ggml', 4096);
  const head = c.bytes(8, 'magic');
  const magic = magicOf(head);
  if (magic === undefined) throw new FormatError('Invalid ggml: the file does not start with a ggml, ggmf or ggjt magic.');
  c.pos = 4;
  let version: number | undefined;
  if (magic !== 'ggml') {
    version = c.u32('version');
    const max = magic === 'ggmf' ? 1 : 3;
    if (version < 1 || version > max) throw new FormatError(`Invalid ggml: ${magic} version at offset 4 is ${version}, expected 1${max > 1 ? `-${max}` : ''}.`);
  }
  const start = c.pos;
  const base: GgmlMetadata = { magic, ...(version !== undefined ? { version } : {}), variant: 'unknown', hparams: {} };

  // whisper.cpp: 11 hyperparameters, then the mel filter bank header n_mel (= n_mels) and n_fft (= 201).
  if (magic === 'ggml') {
    const w = readHparams(c, WHISPER_HPARAMS);
    if (w !== undefined && (w.n_mels === 80 || w.n_mels === 128) && c.remaining >= 8 && c.i32('filters n_mel') === w.n_mels && c.i32('filters n_fft') === 201) {
      const ftype = w.ftype!;
      return {
        ...base,
        variant: 'whisper',
        hparams: w,
        fileType: ftype % QNT_FACTOR,
        quantization: fileTypeName(ftype % QNT_FACTOR),
        quantizationVersion: Math.floor(ftype / QNT_FACTOR),
        ...(WHISPER_SIZES[w.n_audio_layer!] !== undefined ? { modelSize: WHISPER_SIZES[w.n_audio_layer!]! } : {}),
      };
    }
    c.pos = start;
  }

  // llama.cpp: 7 hyperparameters with n_rot = n_embd / n_head, and a vocabulary whose first token length is small.
  const l = readHparams(c, LLAMA_HPARAMS);
  if (
    l !== undefined &&
    l.n_head! > 0 &&
    l.n_vocab! > 0 &&
    l.n_rot === Math.floor(l.n_embd! / l.n_head!) &&
    c.remaining >= 4 &&
    c.u32('first token length') <= 256
  ) {
    const ftype = l.ftype!;
    return {
      ...base,
      variant: 'llama',
      hparams: l,
      fileType: ftype % QNT_FACTOR,
      quantization: fileTypeName(ftype % QNT_FACTOR),
      ...(ftype >= QNT_FACTOR ? { quantizationVersion: Math.floor(ftype / QNT_FACTOR) } : {}),
    };
  }
  // ggmf and ggjt were only ever written by llama.cpp: other hyperparameters there mean a broken file.
  if (magic !== 'ggml') throw new FormatError(`Invalid ggml: the ${magic} hyperparameters at offset ${start} are not those of a llama.cpp model.`);
  return base;
}

/** The card: identity, the variant as architecture, and the quantization the ftype names. */
export function ggmlCard(metadata: Record<string, unknown>): ModelCard {
  const m = metadata as GgmlMetadata;
  const card: ModelCard = {
    format: 'ggml',
    formatVersion: m.version !== undefined ? `${m.magic} v${m.version}` : m.magic,
    inputs: [],
    outputs: [],
    weightTypes: [],
    operators: [],
    customOperators: false,
  };
  if (m.variant !== 'unknown') card.architecture = m.variant;
  if (m.quantization !== undefined && !m.quantization.startsWith('unknown')) {
    card.quantization = m.quantization;
    card.quantized = m.quantization !== 'F32' && m.quantization !== 'F16';
  }
  return card;
}

/**
 * Legacy ggml models (llama.cpp ggml/ggmf/ggjt and whisper.cpp `.bin` before GGUF): identity, container
 * version, and the hyperparameters of the two programs recognised by their values, with medium
 * confidence (the files name neither their program nor their architecture). Does not walk the
 * vocabulary or the tensors; ggla LoRA adapters are not handled.
 */
export const ggml: ModelFormat = {
  id: 'ggml',
  description: 'Legacy ggml / ggmf / ggjt model (llama.cpp and whisper.cpp .bin before GGUF): version and hyperparameters',
  extensions: [],
  // The magics are u32 little-endian: their bytes on disk read backwards.
  signatures: [
    { offset: 0, magic: 'lmgg', note: "ggml magic 0x67676d6c ('ggml' as a little-endian u32)" },
    { offset: 0, magic: 'fmgg', note: "ggmf magic 0x67676d66 ('ggmf' as a little-endian u32)" },
    { offset: 0, magic: 'tjgg', note: "ggjt magic 0x67676a74 ('ggjt' as a little-endian u32)" },
  ],
  metadataSchema: ggmlMetadataSchema,
  card: ggmlCard,
  match(probe: Probe): boolean {
    const magic = magicOf(probe.head);
    if (magic === undefined || probe.head.length < 12) return false;
    const v = new DataView(probe.head.buffer, probe.head.byteOffset, probe.head.byteLength);
    // Unversioned: the first hyperparameter is n_vocab. Versioned: a small version number.
    return magic === 'ggml' ? v.getInt32(4, true) > 0 && v.getInt32(4, true) <= MAX_HPARAM : v.getUint32(4, true) >= 1 && v.getUint32(4, true) <= 3;
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return { confidence: 'medium', metadata: readGgml(src) as unknown as Record<string, unknown> };
  },
};
