import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * CMU Sphinx / PocketSphinx acoustic model folders (`en-us/`: mdef, means, variances, mixture_weights or
 * sendump, transition_matrices, feat.params, noisedict). The model definition `mdef` is the descriptor,
 * in one of two encodings:
 * - binary (pocketsphinx bin_mdef.c): int32 magic 'BMDF' (written native-endian: 'FDMB' from a
 *   big-endian writer), int32 version 1, int32 length of a format description, the description
 *   (padded to 4 bytes), then int32 n_ciphone, n_phone, n_emit_state, n_ci_sen, n_sen, n_tmat, n_sseq,
 *   n_ctx, n_cd_tree, sil;
 * - text (SphinxTrain): `0.3`, then lines `<n> n_base`, `n_tri`, `n_state_map`, `n_tied_state`,
 *   `n_tied_ci_state`, `n_tied_tmat`.
 * The other files of the folder are its parts; `feat.params` is read (4 KiB at most) for the feature
 * type and model kind. Language models and dictionaries usually sit one folder up, out of reach.
 */

const MAX_COUNT = 100_000_000;
const MAX_DESC = 64 * 1024;
const MAX_PARAMS = 4096;

export const pocketsphinxMetadataSchema = z
  .strictObject({
    encoding: z.enum(['binary', 'text']).describe('The `mdef` encoding: binary (`BMDF`) or SphinxTrain text (`0.3`).'),
    ciPhones: z.number().int().nonnegative().describe('Base (context-independent) phones: n_ciphone / n_base.'),
    triphones: z.number().int().nonnegative().describe('Context-dependent phones: n_phone - n_ciphone / n_tri.'),
    senones: z.number().int().nonnegative().describe('Tied states: n_sen / n_tied_state.'),
    ciSenones: z.number().int().nonnegative().describe('Context-independent senones: n_ci_sen / n_tied_ci_state.'),
    transitionMatrices: z.number().int().nonnegative().describe('n_tmat / n_tied_tmat.'),
    emittingStates: z.number().int().nonnegative().optional().describe('Binary mdef: emitting states per phone (0 when they vary).'),
    featParams: z
      .record(z.string(), z.string())
      .describe('`feat.params` beside the mdef, as `-name value` pairs (`feat`, `model`, `lowerf`...); empty when absent.'),
  })
  .meta({
    title: 'PocketSphinx metadata',
    description:
      'CMU Sphinx / PocketSphinx acoustic models, found by their `mdef` (binary `BMDF` or text `0.3`): phones, triphones, senones, transition matrices, and the `feat.params` beside it. `means`, `variances`, `transition_matrices`, `mixture_weights` or `sendump`, `feat.params` and `noisedict` are its parts; language models and dictionaries one folder up are not linked.',
  });
export type PocketsphinxMetadata = z.infer<typeof pocketsphinxMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid PocketSphinx mdef: ${message}`, truncated ? 'truncated' : 'format');
}

const latin1 = new TextDecoder('latin1');

function count(v: number, field: string, at: string): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_COUNT) fail(`field ${field} at ${at} is ${v}, outside [0, ${MAX_COUNT}].`);
  return v;
}

function readBinary(src: ByteSource): Omit<PocketsphinxMetadata, 'featParams'> {
  const h = src.read(0, 12);
  if (h.length < 12) fail(`the header needs 12 bytes, the file has ${h.length}.`, true);
  const little = h[0] === 0x42; // 'B': written by a little-endian machine
  const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = dv(h).getInt32(4, little);
  if (version !== 1) fail(`the format version at offset 4 is ${version}, not 1.`);
  const descLen = dv(h).getInt32(8, little);
  if (descLen < 0 || descLen > MAX_DESC) fail(`the format description length at offset 8 is ${descLen}, outside [0, ${MAX_DESC}].`);
  const at = (12 + descLen + 3) & ~3;
  if (at + 40 > src.size) fail(`the counts at offset ${at} need 40 bytes, ${Math.max(0, src.size - at)} remain.`, true);
  const b = src.read(at, 40);
  const v = (i: number, field: string): number => count(dv(b).getInt32(4 * i, little), field, `offset ${at + 4 * i}`);
  const ciPhones = v(0, 'n_ciphone');
  const phones = v(1, 'n_phone');
  if (phones < ciPhones) fail(`n_phone ${phones} is less than n_ciphone ${ciPhones}.`);
  const emittingStates = v(2, 'n_emit_state');
  const ciSenones = v(3, 'n_ci_sen');
  const senones = v(4, 'n_sen');
  if (senones < ciSenones) fail(`n_sen ${senones} is less than n_ci_sen ${ciSenones}.`);
  return { encoding: 'binary', ciPhones, triphones: phones - ciPhones, senones, ciSenones, transitionMatrices: v(5, 'n_tmat'), emittingStates };
}

function readText(src: ByteSource): Omit<PocketsphinxMetadata, 'featParams'> {
  const text = latin1.decode(src.read(0, Math.min(src.size, 4096)));
  const field = (name: string): number => {
    const m = new RegExp(`^\\s*(\\d{1,12})\\s+${name}\\s*$`, 'm').exec(text);
    if (!m) fail(`the header has no '<count> ${name}' line.`, src.size < 4096);
    return count(Number(m[1]), name, 'the header');
  };
  return {
    encoding: 'text',
    ciPhones: field('n_base'),
    triphones: field('n_tri'),
    senones: field('n_tied_state'),
    ciSenones: field('n_tied_ci_state'),
    transitionMatrices: field('n_tied_tmat'),
  };
}

/** `-name value` lines of feat.params. */
function readFeatParams(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of latin1.decode(bytes).matchAll(/^-([A-Za-z_][A-Za-z0-9_]{0,63})[ \t]+([^\r\n]{1,256})/gm)) out[m[1]!] = m[2]!.trim();
  return out;
}

const isBinary = (h: Uint8Array): boolean =>
  (h[0] === 0x42 && h[1] === 0x4d && h[2] === 0x44 && h[3] === 0x46) || (h[0] === 0x46 && h[1] === 0x44 && h[2] === 0x4d && h[3] === 0x42);

/** The card: speech recognition, a hidden Markov model over senones. */
export function pocketsphinxCard(md: PocketsphinxMetadata): ModelCard {
  return {
    format: 'pocketsphinx',
    formatVersion: md.encoding === 'binary' ? 'bin_mdef 1' : 'mdef 0.3',
    architecture: md.featParams.model !== undefined ? `hmm (${md.featParams.model})` : 'hmm',
    task: 'speech-recognition',
    producer: 'CMU Sphinx',
    inputs: md.featParams.feat !== undefined ? [{ name: md.featParams.feat }] : [],
    outputs: [{ name: 'senones', shape: [md.senones] }],
    weightTypes: ['float32'],
    operators: [],
    customOperators: false,
  };
}

/**
 * PocketSphinx acoustic models. `match`: `BMDF`/`FDMB` with version 1 at offset 4, or a text `mdef`
 * (`0.3` then `n_base`). Not handled: language models (`.lm.bin`, ARPA), dictionaries, and the binary
 * layout of means and variances (hashed as parts, not read).
 */
export const pocketsphinx: ModelFormat = {
  id: 'pocketsphinx',
  description: 'PocketSphinx / CMU Sphinx acoustic model (mdef + means, variances...): phones, senones, features',
  extensions: [],
  signatures: [
    { offset: 0, magic: 'BMDF', note: 'binary mdef, little-endian writer' },
    { offset: 0, magic: 'FDMB', note: 'binary mdef, big-endian writer' },
    { offset: 0, magic: '0.3\n', note: 'text mdef version line' },
  ],
  metadataSchema: pocketsphinxMetadataSchema,
  card: (metadata) => pocketsphinxCard(pocketsphinxMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = probe.head;
    if (isBinary(h)) return h.length >= 12 && (h[4] === 1 || h[7] === 1);
    return latin1.decode(h.subarray(0, 64)).startsWith('0.3\n') && /^\d+ n_base\s*$/m.test(latin1.decode(h.subarray(0, 256)));
  },
  async inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    const base = isBinary(probe.head) ? readBinary(src) : readText(src);
    let featParams: Record<string, string> = {};
    const parts: { path: string; role: string }[] = [];
    if (ctx.sibling) {
      const feat = await ctx.sibling('feat.params');
      if (feat !== undefined) featParams = readFeatParams(feat.read(0, Math.min(feat.size, MAX_PARAMS)));
      // Mixture weights come as `mixture_weights`, or compressed as `sendump` (PocketSphinx's own).
      const weights = (await ctx.sibling('sendump')) !== undefined ? 'sendump' : 'mixture_weights';
      // Required parts are always named, so a missing one is a problem on the model; optional ones only when present.
      for (const name of ['means', 'variances', 'transition_matrices', weights]) parts.push({ path: name, role: 'weights' });
      if (feat !== undefined) parts.push({ path: 'feat.params', role: 'config' });
      if ((await ctx.sibling('noisedict')) !== undefined) parts.push({ path: 'noisedict', role: 'config' });
    }
    const metadata: PocketsphinxMetadata = { ...base, featParams };
    return { confidence: 'high', metadata, ...(parts.length > 0 ? { parts } : {}) };
  },
};
