import { z } from 'zod';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';
import { FormatError } from '../errors.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * THE TEMPLATE FOR A NEW MODEL FORMAT. Compiled and tested (tests/formats/template.test.ts) so it cannot
 * rot, but not registered: nothing scans with it. To add a format `<id>`:
 *
 *   1. copy this file to `src/formats/<id>.ts` (the id equals the file name); when it grows, keep the
 *      schema in `<id>-metadata.ts` and the card in `<id>-card.ts`, as onnx and tflite do;
 *   2. add one line to the registry in `src/formats/index.ts` (formats with a real magic first);
 *   3. add `fixtures/<id>/README.md` (provenance of every fixture) and `tests/formats/<id>.test.ts`;
 *   4. run `npm run readme`: the registry table and the metadata contract are generated from the
 *      `description` and the `metadataSchema` below.
 *
 * The made-up format it reads, little-endian:
 *
 *   offset 0   'TMPL'              magic
 *   offset 4   u16 version         1
 *   offset 6   u16 tensor count    at most 1024
 *   offset 8   u32 name length     at most 4096, then the name in UTF-8
 *   then       per tensor: u8 element type (0 float32, 1 int8), u8 rank (at most 8), rank x u32 dims
 *   then       the weights, never read
 */

/** Element type names by code; a code past the table is reported, not rejected. */
const ELEMENT_TYPES = ['float32', 'int8'] as const;
const MAX_TENSORS = 1024;
const MAX_NAME = 4096;
const MAX_RANK = 8;
/** 'TMPL' at offset 0 */
const MAGIC = [0x54, 0x4d, 0x50, 0x4c] as const;

/**
 * The exact shape of this format's `metadata`: strict objects (an undocumented key fails the tests),
 * a one-line `.describe()` on every field (it becomes the README's "meaning" column) and a title and
 * description on the root (the README's heading and paragraph).
 */
export const templateMetadataSchema = z
  .strictObject({
    version: z.literal(1).describe('Format version (offset 4); only 1 exists'),
    name: z.string().optional().describe('The model name the header records; absent when empty'),
    tensors: z
      .array(
        z.strictObject({
          type: z.string().describe('Element type (`float32`, `int8`, `unknown(<n>)`)'),
          shape: z.array(z.number().int().nonnegative()).describe('Dimensions'),
        }),
      )
      .describe('Weight tensors in file order'),
    parameters: z.number().int().nonnegative().describe('Weight elements over all tensors, held at 2^53 - 1'),
  })
  .meta({ title: 'Template metadata', description: 'A made-up format showing how a model format is written; not registered.' });

/** The metadata's type, inferred from the schema so the two cannot differ. */
export type TemplateMetadata = z.output<typeof templateMetadataSchema>;

/** The card: only what the metadata states (no producer, no operators: this format records none). */
export function templateCard(md: TemplateMetadata): ModelCard {
  const types = [...new Set(md.tensors.map((t) => t.type))].sort();
  return {
    ...opt('name', stated(md.name)),
    format: '_template',
    formatVersion: String(md.version),
    inputs: [],
    outputs: [],
    parameters: md.parameters,
    weightTypes: types,
    quantized: types.includes('int8'),
    operators: [],
    customOperators: false,
  };
}

/** True when the head starts with the magic and a version this reader knows: cheap, head only. */
function looksLikeTemplate(head: Uint8Array): boolean {
  if (head.length < 8 || MAGIC.some((b, i) => head[i] !== b)) return false;
  const version = head[4]! | (head[5]! << 8);
  return version === 1;
}

/**
 * Reads the header through bounded reads: every number from the file passes `checked` before it sizes
 * a read or a loop, and an error names the field and its value. Weights are never read.
 */
function readTemplate(src: ByteSource): ModelInfo {
  let pos = 0;
  // Reads exactly n bytes or fails as truncated, naming what was being read.
  const take = (n: number, what: string): DataView => {
    const b = src.read(pos, n);
    if (b.length < n) throw new FormatError(`Invalid template model: ${what} at offset ${pos} needs ${n} bytes, ${b.length} remain.`, 'truncated');
    pos += n;
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const header = take(12, 'header');
  const version = header.getUint16(4, true);
  if (version !== 1) throw new FormatError(`Invalid template model: version ${version} at offset 4 is not 1.`);
  const count = checked(header.getUint16(6, true), 0, MAX_TENSORS, 'Invalid template model: tensor count');
  const nameLength = checked(header.getUint32(8, true), 0, MAX_NAME, 'Invalid template model: name length');
  const nameView = take(nameLength, 'name');
  const name = new TextDecoder().decode(new Uint8Array(nameView.buffer, nameView.byteOffset, nameView.byteLength));
  const tensors: TemplateMetadata['tensors'] = [];
  let parameters = 0;
  for (let i = 0; i < count; i++) {
    const t = take(2, `tensor ${i}`);
    const code = t.getUint8(0);
    const rank = checked(t.getUint8(1), 0, MAX_RANK, `Invalid template model: tensor ${i} rank`);
    const dims = take(4 * rank, `tensor ${i} dims`);
    const shape: number[] = [];
    for (let d = 0; d < rank; d++) shape.push(dims.getUint32(4 * d, true));
    tensors.push({ type: ELEMENT_TYPES[code] ?? `unknown(${code})`, shape });
    // Held at 2^53 - 1: a hostile header must not turn a count into an inexact number.
    parameters = Math.min(parameters + shape.reduce((a, d) => a * d, 1), Number.MAX_SAFE_INTEGER);
  }
  const metadata: TemplateMetadata = { version, ...opt('name', stated(name)), tensors, parameters };
  return { confidence: 'high', metadata };
}

/**
 * An example model format (not registered): the magic as data in `signatures`, a `match` that looks
 * only at the probe's head, an `inspect` through bounded reads, the metadata schema and the card.
 * Does not handle any real file type.
 */
export const template: ModelFormat = {
  id: '_template',
  description: 'Template model format (magic TMPL): an example for new formats, not registered',
  extensions: ['.tmpl'],
  // A real magic: a matched file that then fails `inspect` is reported as a corrupt model.
  signatures: [{ offset: 0, magic: 'TMPL', note: 'template magic' }],
  metadataSchema: templateMetadataSchema,
  card: (metadata) => templateCard(templateMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    return looksLikeTemplate(probe.head);
  },
  // Reads are synchronous on a ByteSource; async only to fit the interface.
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readTemplate(src);
  },
};
