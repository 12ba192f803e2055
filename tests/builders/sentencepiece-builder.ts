import { pBytes, pFloat, pInt, pStr } from './proto-writer.js';

/**
 * Builds SentencePiece models for tests, from sentencepiece_model.proto: ModelProto (1 pieces,
 * 2 trainer_spec, 3 normalizer_spec), SentencePiece (1 piece, 2 score, 3 type), TrainerSpec (3 model_type,
 * 4 vocab_size, 5 accept_language, 35 byte_fallback), NormalizerSpec (1 name).
 */

export interface SpmPiece {
  piece: string;
  score?: number;
  type?: number;
}

export function spmBytes(opts: {
  pieces: SpmPiece[];
  modelType?: number;
  vocabSize?: number;
  languages?: string[];
  byteFallback?: boolean;
  normalizer?: string;
}): Uint8Array {
  const out: number[] = [];
  for (const p of opts.pieces) out.push(...pBytes(1, [...pStr(1, p.piece), ...pFloat(2, p.score ?? 0), ...(p.type !== undefined ? pInt(3, p.type) : [])]));
  const trainer: number[] = [];
  if (opts.modelType !== undefined) trainer.push(...pInt(3, opts.modelType));
  if (opts.vocabSize !== undefined) trainer.push(...pInt(4, opts.vocabSize));
  for (const l of opts.languages ?? []) trainer.push(...pStr(5, l));
  if (opts.byteFallback !== undefined) trainer.push(...pInt(35, opts.byteFallback));
  out.push(...pBytes(2, trainer));
  if (opts.normalizer !== undefined) out.push(...pBytes(3, pStr(1, opts.normalizer)));
  return Uint8Array.from(out);
}

/** A small unigram model with the usual control pieces, byte pieces and user-defined ones. */
export function smallSpm(): Uint8Array {
  const pieces: SpmPiece[] = [
    { piece: '<unk>', type: 2 },
    { piece: '<s>', type: 3 },
    { piece: '</s>', type: 3 },
    { piece: '<0x00>', type: 6 },
    { piece: '<0x01>', type: 6 },
    { piece: '<mask>', type: 4 },
    ...['\u2581the', '\u2581a', 's', 'ing', 'ed'].map((piece, i) => ({ piece, score: -i })),
  ];
  return spmBytes({ pieces, modelType: 1, vocabSize: 11, languages: ['en'], byteFallback: true, normalizer: 'nmt_nfkc' });
}
