import { z } from 'zod';
import { ProtoReader, type ProtoMessage, scanFields, WIRE_I32, WIRE_LEN, WIRE_VARINT } from '../decoders/protobuf.js';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { cmp, opt, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * SentencePiece tokenizer models (`.model`, e.g. LLaMA's `tokenizer.model`): a protobuf `ModelProto`
 * (sentencepiece_model.proto). Fields read:
 *
 *   ModelProto:     1 pieces (SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece:  1 piece, 2 score (float), 3 type (1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED, 5 UNUSED, 6 BYTE)
 *   TrainerSpec:    3 model_type (1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR), 4 vocab_size, 5 accept_language, 35 byte_fallback
 *   NormalizerSpec: 1 name
 *
 * No magic: recognised only by a `.model` name and a head whose first fields are well-formed pieces
 * (`0a <len> 0a <len> <piece> [15 <float>] [18 <type>]`); `.model` is no claim (many files share it).
 */

const PIECE_TYPES = ['unknown(0)', 'normal', 'unknown', 'control', 'user_defined', 'unused', 'byte'];
const MODEL_TYPES = ['unknown(0)', 'unigram', 'bpe', 'word', 'char'];
const MAX = { pieces: 10_000_000, text: 1024, languages: 256 } as const;

export const sentencepieceMetadataSchema = z
  .strictObject({
    pieces: z.number().int().nonnegative().describe('Entries of `pieces`: the vocabulary size as stored.'),
    pieceTypes: z.record(z.string(), z.number().int().nonnegative()).describe('Pieces per type (`normal`, `control`, `byte`, `user_defined`...).'),
    modelType: z.string().optional().describe('`trainer_spec.model_type` (`unigram`, `bpe`, `word`, `char`).'),
    vocabSize: z.number().int().nonnegative().optional().describe('`trainer_spec.vocab_size`: the size asked of the trainer.'),
    acceptLanguages: z.array(z.string()).describe('`trainer_spec.accept_language`.'),
    byteFallback: z.boolean().optional().describe('`trainer_spec.byte_fallback`.'),
    normalizer: z.string().optional().describe('`normalizer_spec.name` (`nmt_nfkc`, `identity`).'),
  })
  .meta({
    title: 'SentencePiece metadata',
    description:
      'SentencePiece tokenizer models: a protobuf ModelProto in a `.model` file recognised by its first pieces; the pieces are counted by type, never kept.',
  });
export type SentencepieceMetadata = z.infer<typeof sentencepieceMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid SentencePiece model: ${message}`);
}

function readTrainer(m: ProtoMessage, md: SentencepieceMetadata): void {
  while (m.next()) {
    if (m.field === 3 && m.wire === WIRE_VARINT) {
      const t = m.int(0, 1 << 20);
      md.modelType = MODEL_TYPES[t] ?? `unknown(${t})`;
    } else if (m.field === 4 && m.wire === WIRE_VARINT) md.vocabSize = m.int(0, 2 ** 31);
    else if (m.field === 5 && m.wire === WIRE_LEN && md.acceptLanguages.length < MAX.languages) md.acceptLanguages.push(m.string(64));
    else if (m.field === 35 && m.wire === WIRE_VARINT) md.byteFallback = m.int(0, 1) === 1;
  }
}

export function readSentencepiece(src: ByteSource, head?: Uint8Array): SentencepieceMetadata {
  const r = new ProtoReader(src, { format: 'SentencePiece model', ...(head !== undefined ? { head } : {}) });
  const m = r.root('ModelProto', { 1: 'pieces', 2: 'trainer_spec', 3: 'normalizer_spec' });
  const md: SentencepieceMetadata = { pieces: 0, pieceTypes: {}, acceptLanguages: [] };
  const types = new Map<string, number>();
  while (m.next()) {
    if (m.field === 1 && m.wire === WIRE_LEN) {
      if (++md.pieces > MAX.pieces) fail(`more than ${MAX.pieces} pieces.`);
      const p = m.message('SentencePiece', { 1: 'piece', 2: 'score', 3: 'type' });
      let type = 1; // NORMAL is the default
      while (p.next()) if (p.field === 3 && p.wire === WIRE_VARINT) type = p.int(0, 1 << 20);
      const name = PIECE_TYPES[type] ?? `unknown(${type})`;
      types.set(name, (types.get(name) ?? 0) + 1);
    } else if (m.field === 2 && m.wire === WIRE_LEN) readTrainer(m.message('TrainerSpec'), md);
    else if (m.field === 3 && m.wire === WIRE_LEN) {
      const n = m.message('NormalizerSpec', { 1: 'name' });
      while (n.next()) if (n.field === 1 && n.wire === WIRE_LEN) md.normalizer = stated(n.string(MAX.text)) ?? md.normalizer;
    }
  }
  if (md.pieces === 0) fail('the ModelProto holds no piece.');
  md.pieceTypes = Object.fromEntries([...types].sort((a, b) => cmp(a[0], b[0])));
  if (md.normalizer === undefined) delete md.normalizer;
  return md;
}

export function sentencepieceCard(metadata: Record<string, unknown>): ModelCard {
  const m = sentencepieceMetadataSchema.parse(metadata);
  return {
    task: 'tokenizer',
    ...opt('architecture', m.modelType),
    format: 'sentencepiece',
    inputs: [],
    outputs: [],
    weightTypes: [],
    operators: [],
    customOperators: false,
  };
}

/** The head starts with pieces: field 1 messages of a string piece, an optional float score and type. */
function looksLikeModel(head: Uint8Array, size: number): boolean {
  const top = scanFields(head, 0, size, 4);
  if (top.status === 'invalid') return false;
  const complete = top.fields.filter((f) => f.complete);
  if (complete.length < 2 || !top.fields.every((f) => f.field === 1 && f.wire === WIRE_LEN)) return false;
  return complete.every((f) => {
    const inner = scanFields(head, f.offset, f.offset + f.length!, 8);
    if (inner.status !== 'end' || inner.fields[0]?.field !== 1 || inner.fields[0].wire !== WIRE_LEN) return false;
    return inner.fields.every(
      (x) => (x.field === 1 && x.wire === WIRE_LEN) || (x.field === 2 && x.wire === WIRE_I32) || (x.field === 3 && x.wire === WIRE_VARINT),
    );
  });
}

/**
 * SentencePiece `.model` tokenizers: piece count and types, the trainer's model type, vocabulary size,
 * languages and byte fallback, the normalizer. Does not keep the pieces, nor read Hugging Face
 * `tokenizer.json` files.
 */
export const sentencepiece: ModelFormat = {
  id: 'sentencepiece',
  description: 'SentencePiece tokenizer model (.model, protobuf ModelProto): model type, vocabulary size, piece types, normalizer',
  // `.model` is no claim: many unrelated files share the extension.
  extensions: [],
  signatures: [],
  metadataSchema: sentencepieceMetadataSchema,
  card: sentencepieceCard,
  match(probe: Probe): boolean {
    return extensionOf(probe.name) === '.model' && looksLikeModel(probe.head, probe.size);
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return { confidence: 'high', metadata: readSentencepiece(src, src === probe.source ? probe.head : undefined) as unknown as Record<string, unknown> };
  },
};
