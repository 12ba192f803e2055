import { z } from 'zod';
import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { extensionOf, type Probe } from '../probe.js';
import { cmp, opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * Darknet networks (YOLO's framework): an ini-like `.cfg` whose first section is `[net]` (or
 * `[network]`) with the input `width`, `height`, `channels`, followed by one section per layer
 * (`[convolutional]`, `[maxpool]`, `[route]`, `[shortcut]`, `[yolo]`...) holding `key=value` lines;
 * `#` and `;` start comments (darknet's `parser.c` / `option_list.c`). The trained weights are a
 * `.weights` file, by convention of the same base name; it is the model's part when it is there.
 */

/** Largest cfg parsed; real ones are a few KiB. */
export const MAX_DARKNET_CFG_BYTES = 4 * 1024 * 1024;
const MAX_LAYERS = 100_000;
const MAX_TEXT = 256;
/** Layer sections darknet's `string_to_layer_type` knows (others are reported as custom). */
const KNOWN = new Set(
  (
    'shortcut crop cost detection region yolo iseg local conv convolutional deconv deconvolutional activation logistic l2norm net network ' +
    'crnn gru lstm rnn conn connected max maxpool reorg avg avgpool dropout lrn normalization batchnorm soft softmax route upsample'
  ).split(' '),
);

export const darknetMetadataSchema = z
  .strictObject({
    width: z.number().int().nonnegative().optional().describe('`[net] width`.'),
    height: z.number().int().nonnegative().optional().describe('`[net] height`.'),
    channels: z.number().int().nonnegative().optional().describe('`[net] channels`.'),
    inputs: z.number().int().nonnegative().optional().describe('`[net] inputs` (networks without an image input, such as RNNs).'),
    layerCount: z.number().int().nonnegative().describe('Sections after `[net]`.'),
    layers: z.record(z.string(), z.number().int().nonnegative()).describe('Sections per name (`convolutional`, `yolo`...).'),
    customLayers: z.array(z.string()).describe('Section names darknet does not know.'),
    classes: z.number().int().nonnegative().optional().describe('`classes` of the detection head (`[yolo]`, `[region]`, `[detection]`), the first one.'),
    weights: z.string().optional().describe('The `.weights` file of the same base name, when it is beside the cfg.'),
  })
  .meta({
    title: 'Darknet metadata',
    description:
      'Darknet networks: a `.cfg` whose first section is `[net]`/`[network]` (input size, layer sections, classes of the detection head), up to 4 MiB; the `.weights` of the same base name is its part when present.',
  });
export type DarknetMetadata = z.infer<typeof darknetMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid Darknet cfg: ${message}`);
}

/** Lines without comments and blank lines, trimmed, with their 1-based numbers. */
function* lines(text: string): Generator<{ n: number; line: string }> {
  let n = 0;
  for (const raw of text.split(/\r?\n/)) {
    n++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    yield { n, line };
  }
}

export function readDarknet(text: string): DarknetMetadata {
  let section: string | undefined;
  let sections = 0;
  const net: Record<string, string> = {};
  const layers = new Map<string, number>();
  const custom = new Set<string>();
  let classes: number | undefined;
  for (const { n, line } of lines(text)) {
    if (line.startsWith('[')) {
      const m = /^\[([^\]\s]{1,64})\]$/.exec(line);
      if (m === null) fail(`line ${n} ${JSON.stringify(line.slice(0, 64))} is not a section header.`);
      const name = m[1]!.toLowerCase();
      if (sections === 0 && name !== 'net' && name !== 'network') fail(`the first section is [${name}], not [net].`);
      if (++sections > MAX_LAYERS) fail(`more than ${MAX_LAYERS} sections.`);
      section = name;
      if (sections > 1) {
        layers.set(name, (layers.get(name) ?? 0) + 1);
        if (!KNOWN.has(name)) custom.add(name);
      }
      continue;
    }
    if (section === undefined) fail(`line ${n} comes before the [net] section.`);
    const eq = line.indexOf('=');
    if (eq <= 0) fail(`line ${n} ${JSON.stringify(line.slice(0, 64))} is not key=value.`);
    const key = line.slice(0, eq).trim().toLowerCase().slice(0, MAX_TEXT);
    const value = line
      .slice(eq + 1)
      .trim()
      .slice(0, MAX_TEXT);
    if (sections === 1) net[key] = value;
    else if (key === 'classes' && classes === undefined && (section === 'yolo' || section === 'region' || section === 'detection') && /^\d{1,9}$/.test(value))
      classes = Number(value);
  }
  if (sections === 0) fail('the text holds no [net] section.');
  const num = (k: string): number | undefined => (net[k] !== undefined && /^\d{1,9}$/.test(net[k]) ? Number(net[k]) : undefined);
  return {
    ...opt('width', num('width')),
    ...opt('height', num('height')),
    ...opt('channels', num('channels')),
    ...opt('inputs', num('inputs')),
    layerCount: sections - 1,
    layers: Object.fromEntries([...layers].sort((a, b) => cmp(a[0], b[0]))),
    customLayers: [...custom].sort(cmp),
    ...opt('classes', classes),
  };
}

export function darknetCard(metadata: Record<string, unknown>): ModelCard {
  const m = darknetMetadataSchema.parse(metadata);
  const custom = new Set(m.customLayers);
  // Darknet images are NCHW with batch first; only the dims the cfg states are shown.
  const shape = m.width !== undefined && m.height !== undefined ? [null, m.channels ?? null, m.height, m.width] : undefined;
  return {
    format: 'darknet',
    inputs: shape !== undefined ? [{ name: 'data', type: 'float32', shape }] : [],
    outputs: [],
    weightTypes: [],
    operators: sortCardOperators(Object.entries(m.layers).map(([name, count]) => ({ name, count, custom: custom.has(name) }))),
    customOperators: custom.size > 0,
    ...opt('task', m.layers.yolo !== undefined || m.layers.region !== undefined || m.layers.detection !== undefined ? 'object-detection' : undefined),
  };
}

/** The first section header of the head, skipping comments and blank lines. */
function firstSection(head: Uint8Array): string | undefined {
  const s = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, 4096)).toString('latin1');
  for (const { line } of lines(s)) return /^\[(\w+)\]$/.exec(line)?.[1]?.toLowerCase();
  return undefined;
}

/**
 * Darknet `.cfg` networks: input size, layer section histogram (unknown sections flagged custom),
 * classes of the detection head; the `.weights` of the same base name as part when present. Does not
 * read the weights nor infer layer shapes; not a claim on `.cfg` (most are not networks).
 */
export const darknet: ModelFormat = {
  id: 'darknet',
  description: 'Darknet network (.cfg starting with [net]) with its .weights as part when present: input size, layers, classes',
  // `.cfg` is no claim: most configuration files are not networks.
  extensions: [],
  signatures: [],
  metadataSchema: darknetMetadataSchema,
  card: darknetCard,
  match(probe: Probe): boolean {
    if (extensionOf(probe.name) !== '.cfg') return false;
    const first = firstSection(probe.head);
    return first === 'net' || first === 'network';
  },
  async inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    if (src.size > MAX_DARKNET_CFG_BYTES)
      throw new LimitError(
        `This ${src.size}-byte .cfg is larger than the ${MAX_DARKNET_CFG_BYTES}-byte limit for Darknet networks; it was not parsed.`,
        'maxCfgBytes',
      );
    const metadata = readDarknet(new TextDecoder('utf-8').decode(src.read(0, src.size)));
    if (metadata.layerCount === 0) fail('the [net] section is followed by no layer.');
    const base = probe.name.slice(probe.name.lastIndexOf('/') + 1).replace(/\.cfg$/i, '');
    const weights = `${base}.weights`;
    const info: ModelInfo = { confidence: 'high', metadata: metadata as unknown as Record<string, unknown> };
    if ((await ctx.sibling?.(weights)) !== undefined) {
      metadata.weights = weights;
      info.parts = [{ path: weights, role: 'weights' }];
    }
    return info;
  },
};
