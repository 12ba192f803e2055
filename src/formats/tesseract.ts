import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { opt, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Tesseract language data (`<lang>.traineddata`), as tesseract's `TessdataManager` writes it:
 *
 *   offset 0   int32 entry count     (TESSDATA_NUM_ENTRIES: 24 in 4.x/5.x, fewer in 3.0x files)
 *   offset 4   int64 offsets[count]  each component's offset from the file start, -1 when absent
 *   then       the components; each ends where the next present one starts (the last at the file end)
 *
 * Little-endian; tesseract also reads byte-swapped (big-endian) files, and so do we. Component 23
 * (`version`) is a text such as `4.00.00alpha:eng:synth20170629:[1,36,0,1Ct3,3,16Mp3,...]`. No magic:
 * recognised only by a `.traineddata` name (a `.traineddata.gz` reaches us through the gzip reader)
 * and a sound offset table.
 */

/** `TessdataType` names by index (tessdatamanager.h), as the component file extensions without the dot. */
const COMPONENTS = [
  'config',
  'unicharset',
  'unicharambigs',
  'inttemp',
  'pffmtable',
  'normproto',
  'punc-dawg',
  'word-dawg',
  'number-dawg',
  'freq-dawg',
  'fixed-length-dawgs',
  'cube-unicharset',
  'cube-word-dawg',
  'shapetable',
  'bigram-dawg',
  'unambig-dawg',
  'params-model',
  'lstm',
  'lstm-punc-dawg',
  'lstm-word-dawg',
  'lstm-number-dawg',
  'lstm-unicharset',
  'lstm-recoder',
  'version',
];
const LSTM = 17;
const INTTEMP = 3;
const VERSION = 23;
const MAX_ENTRIES = 64;
const MAX_VERSION = 1024;

export const tesseractMetadataSchema = z
  .strictObject({
    language: z.string().optional().describe('The language or script, from the file name (`eng`, `chi_sim`, `Latin`): tesseract itself names data by file.'),
    entries: z.number().int().nonnegative().describe('The entry count at offset 0 (24 in tesseract 4 and 5).'),
    bigEndian: z.boolean().describe('True when the file is byte-swapped.'),
    components: z
      .record(z.string(), z.number().int().nonnegative())
      .describe('Present components by name (`lstm`, `inttemp`, `unicharset`...) and their byte sizes.'),
    engine: z
      .enum(['lstm', 'legacy', 'lstm+legacy', 'none'])
      .describe('Which recognisers the data serves: `lstm` (an `lstm` component), `legacy` (`inttemp`), both, or neither (OSD-only and config data).'),
    version: z.string().optional().describe('The `version` component text, when present (at most 1024 characters).'),
  })
  .meta({
    title: 'Tesseract metadata',
    description:
      'Tesseract OCR language data (`.traineddata`, also inside `.traineddata.gz`): the component table, the engine it serves, and the version string; the language comes from the file name.',
  });
export type TesseractMetadata = z.infer<typeof tesseractMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid Tesseract traineddata: ${message}`, truncated ? 'truncated' : 'format');
}

interface Table {
  count: number;
  bigEndian: boolean;
  offsets: number[];
}

/** The offset table, or a reason it is not one. */
function readTable(head: Uint8Array, size: number): Table | string {
  if (head.length < 12) return `a ${head.length}-byte file cannot hold an offset table.`;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let bigEndian = false;
  let count = dv.getInt32(0, true);
  if (count < 1 || count > MAX_ENTRIES) {
    const swapped = dv.getInt32(0, false);
    if (swapped < 1 || swapped > MAX_ENTRIES) return `the entry count ${count} at offset 0 is not in [1, ${MAX_ENTRIES}].`;
    count = swapped;
    bigEndian = true;
  }
  const tableEnd = 4 + 8 * count;
  if (tableEnd > head.length) return `the ${count}-entry offset table runs past the ${head.length} bytes read.`;
  const offsets: number[] = [];
  let last = tableEnd;
  let present = 0;
  for (let i = 0; i < count; i++) {
    const at = 4 + 8 * i;
    const v = dv.getBigInt64(at, !bigEndian);
    if (v === -1n) {
      offsets.push(-1);
      continue;
    }
    if (v < BigInt(last) || v > BigInt(size)) return `component ${i} offset ${v} at offset ${at} is not between ${last} and the ${size}-byte file end.`;
    last = Number(v);
    offsets.push(last);
    present++;
  }
  if (present === 0) return 'no component is present.';
  return { count, bigEndian, offsets };
}

/** The language from the name: `eng.traineddata` -> `eng` (a `.gz` suffix is gone once decompressed). */
function languageOf(name: string): string | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1).replace(/\.gz$/i, '');
  const m = /^(.+)\.traineddata$/i.exec(base);
  return m === null ? undefined : stated(m[1]!.slice(0, 64));
}

export function readTesseract(src: ByteSource, name: string): TesseractMetadata {
  const head = src.read(0, Math.min(src.size, 4 + 8 * MAX_ENTRIES));
  const t = readTable(head, src.size);
  if (typeof t === 'string') fail(t, head.length < 12 || t.includes('runs past'));
  const components: Record<string, number> = {};
  const present = t.offsets.map((o, i) => ({ o, i })).filter((x) => x.o >= 0);
  present.forEach(({ o, i }, k) => {
    const end = present[k + 1]?.o ?? src.size;
    components[COMPONENTS[i] ?? `component${i}`] = end - o;
  });
  let version: string | undefined;
  const v = t.offsets[VERSION];
  if (v !== undefined && v >= 0) {
    const size = components.version ?? 0;
    const bytes = src.read(v, Math.min(size, MAX_VERSION));
    version = stated(new TextDecoder('utf-8').decode(bytes).replace(/\0+$/, ''));
  }
  const lstm = t.offsets[LSTM] !== undefined && t.offsets[LSTM]! >= 0;
  const legacy = t.offsets[INTTEMP] !== undefined && t.offsets[INTTEMP]! >= 0;
  return {
    ...opt('language', languageOf(name)),
    entries: t.count,
    bigEndian: t.bigEndian,
    components,
    engine: lstm && legacy ? 'lstm+legacy' : lstm ? 'lstm' : legacy ? 'legacy' : 'none',
    ...opt('version', version),
  };
}

export function tesseractCard(metadata: Record<string, unknown>): ModelCard {
  const m = tesseractMetadataSchema.parse(metadata);
  // `4.00.00alpha:eng:synth20170629:[1,36,0,1Ct3,...]`: the training version, the language, the data
  // set, and the VGSL network spec of the LSTM.
  const parts = m.version?.split(':') ?? [];
  const vgsl = parts.find((p) => p.startsWith('[') && p.endsWith(']'));
  return {
    ...opt('name', m.language),
    ...opt('producer', parts[0] !== undefined && /^\d/.test(parts[0]) ? 'Tesseract' : undefined),
    ...opt('producerVersion', parts[0] !== undefined && /^\d/.test(parts[0]) ? parts[0] : undefined),
    ...opt('architecture', vgsl),
    task: 'ocr',
    format: 'tesseract',
    inputs: [],
    outputs: [],
    weightTypes: [],
    operators: [],
    customOperators: false,
  };
}

/**
 * Tesseract `.traineddata` (and `.traineddata.gz` through the gzip reader): components present with
 * their sizes, LSTM or legacy engine, version string, language from the name. Does not decode the
 * components (the LSTM network, unicharset, dawgs).
 */
export const tesseract: ModelFormat = {
  id: 'tesseract',
  description: 'Tesseract OCR traineddata (component table): components, LSTM or legacy, version, language from the name',
  extensions: ['.traineddata'],
  // No magic: an entry count and an offset table; only items named `.traineddata` are considered.
  signatures: [],
  metadataSchema: tesseractMetadataSchema,
  card: tesseractCard,
  match(probe: Probe): boolean {
    return extensionOf(probe.name) === '.traineddata' && typeof readTable(probe.head, probe.size) !== 'string';
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return { confidence: 'high', metadata: readTesseract(src, probe.name) as unknown as Record<string, unknown> };
  },
};
