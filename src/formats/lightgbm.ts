import { z } from 'zod';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * LightGBM text models, as GBDT::SaveModelToString writes them (src/boosting/gbdt_model_text.cpp):
 *
 *   tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=27\n
 *   objective=binary sigmoid:1\n[average_output\n]feature_names=...\nfeature_infos=...\ntree_sizes=...\n
 *   \nTree=0\n...\nend of trees\n\nfeature_importances:\n...\nparameters:\n[boosting: gbdt]\n...
 *   end of parameters\n\npandas_categorical:...\n
 *
 * The header is read from the first 4 MiB and the end (feature importances, parameters) from the last
 * 4 MiB: trees in between are counted from `tree_sizes`, never read.
 */

const HEAD = 4 * 1024 * 1024;
const TAIL = 4 * 1024 * 1024;
const MAX_NAMES = 1000;
const MAX_TEXT = 256;
const MAX_PARAMETERS = 300;

export const lightgbmMetadataSchema = z
  .strictObject({
    version: z.string().describe('`version` (v2, v3, v4).'),
    numClass: z.number().int().nonnegative().describe('`num_class`.'),
    numTreePerIteration: z.number().int().nonnegative().describe('`num_tree_per_iteration`.'),
    features: z.number().int().nonnegative().describe('`max_feature_idx` + 1.'),
    objective: z.string().optional().describe('`objective` (`binary sigmoid:1`, `multiclass num_class:3`, `regression`).'),
    averageOutput: z.boolean().describe('`average_output` is set (random forest mode).'),
    featureNames: z.array(z.string()).describe(`\`feature_names\` (at most ${MAX_NAMES}).`),
    trees: z.number().int().nonnegative().describe('Trees, from `tree_sizes`.'),
    parameters: z
      .record(z.string(), z.string())
      .describe(`Training parameters from the \`parameters:\` section (\`[key: value]\`, at most ${MAX_PARAMETERS}).`),
  })
  .meta({
    title: 'LightGBM metadata',
    description:
      'LightGBM text models (`tree\\nversion=v…`): version, classes, features and their names, objective, tree count from `tree_sizes`, training parameters. Trees are counted, never read; a file without `end of trees` is cut.',
  });
export type LightgbmMetadata = z.infer<typeof lightgbmMetadataSchema>;

function fail(message: string, truncated = false): never {
  throw new FormatError(`Invalid LightGBM model: ${message}`, truncated ? 'truncated' : 'format');
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: false });

function int(v: string | undefined, field: string): number {
  const n = Number(v);
  if (v === undefined || !/^\d{1,15}$/.test(v)) fail(`field ${field} is ${JSON.stringify(v?.slice(0, 40))}, not a non-negative integer.`);
  return n;
}

/** Reads the header and the parameters section. */
export function readLightgbm(src: ByteSource): ModelInfo {
  const head = utf8.decode(src.read(0, Math.min(src.size, HEAD)));
  const end = head.indexOf('\n\n');
  const headerText = end >= 0 ? head.slice(0, end) : head;
  const header = new Map<string, string>();
  let averageOutput = false;
  for (const line of headerText.split('\n').slice(1)) {
    if (line === 'average_output') averageOutput = true;
    const eq = line.indexOf('=');
    if (eq > 0) header.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const version = header.get('version') ?? fail('the header has no version line.');
  if (!/^v\d{1,3}$/.test(version)) fail(`version ${JSON.stringify(version.slice(0, 20))} is not v<n>.`);
  const sizes = header.get('tree_sizes');
  if (sizes === undefined && end < 0) fail(`the header does not end within the first ${HEAD} bytes.`, src.size <= HEAD);
  const trees = sizes === undefined || sizes === '' ? 0 : sizes.split(' ').length;
  let sum = 0;
  for (const s of sizes?.split(' ') ?? []) if (s !== '') sum += int(s, 'tree_sizes');
  // The trees follow the header's blank line; their sizes say where `end of trees` must sit.
  if (end >= 0 && sizes !== undefined && end + 2 + sum > src.size) fail(`tree_sizes add up to ${sum} bytes, past the end of the ${src.size}-byte file.`, true);
  const tailStart = Math.max(0, src.size - TAIL);
  const tail = latin1.decode(src.read(tailStart, src.size - tailStart));
  if (!tail.includes('end of trees')) fail('the file has no `end of trees` line (it is cut).', true);
  const parameters: Record<string, string> = {};
  const p = tail.indexOf('\nparameters:\n');
  if (p >= 0) {
    const stop = tail.indexOf('\nend of parameters', p);
    const section = tail.slice(p + 13, stop >= 0 ? stop : undefined);
    for (const m of section.matchAll(/^\[([A-Za-z0-9_]{1,64}): ?([^\n]*)\]$/gm)) {
      if (Object.keys(parameters).length >= MAX_PARAMETERS) break;
      parameters[m[1]!] = m[2]!.slice(0, MAX_TEXT);
    }
  }
  const names = header.get('feature_names');
  const metadata: LightgbmMetadata = {
    version,
    numClass: int(header.get('num_class'), 'num_class'),
    numTreePerIteration: int(header.get('num_tree_per_iteration') ?? '1', 'num_tree_per_iteration'),
    features: int(header.get('max_feature_idx'), 'max_feature_idx') + 1,
    ...opt('objective', header.get('objective')?.slice(0, MAX_TEXT)),
    averageOutput,
    featureNames: names === undefined || names === '' ? [] : names.split(' ', MAX_NAMES).map((n) => n.slice(0, MAX_TEXT)),
    trees,
    parameters,
  };
  return { confidence: 'high', metadata };
}

/** The card: a gradient-boosted (or random-forest) tree ensemble over its features. */
export function lightgbmCard(md: LightgbmMetadata): ModelCard {
  const obj = md.objective?.split(' ')[0];
  const task =
    obj === undefined
      ? undefined
      : /^(binary|multiclass|multiclassova|cross_entropy)/.test(obj)
        ? 'classification'
        : /^(lambdarank|rank_xendcg)/.test(obj)
          ? 'ranking'
          : 'regression';
  return {
    format: 'lightgbm',
    formatVersion: md.version,
    architecture: md.parameters.boosting ?? (md.averageOutput ? 'rf' : 'gbdt'),
    ...opt('task', task),
    producer: 'LightGBM',
    inputs: [{ name: 'features', type: 'float64', shape: [null, md.features] }],
    outputs: [],
    weightTypes: ['float64'],
    operators: [],
    customOperators: false,
  };
}

/**
 * LightGBM text models. `match` needs `tree\nversion=v` at offset 0 and a `num_class=` line in the
 * head. Not handled: LightGBM's binary model files and models inside pickles.
 */
export const lightgbm: ModelFormat = {
  id: 'lightgbm',
  description: 'LightGBM text model: version, classes, features, objective, trees, training parameters',
  extensions: [],
  signatures: [{ offset: 0, magic: 'tree\nversion=v', note: 'first two lines of a LightGBM text model' }],
  metadataSchema: lightgbmMetadataSchema,
  card: (metadata) => lightgbmCard(lightgbmMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = latin1.decode(probe.head.subarray(0, 4096));
    return h.startsWith('tree\nversion=v') && h.includes('\nnum_class=');
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readLightgbm(src);
  },
};
