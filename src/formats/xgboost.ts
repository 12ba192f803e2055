import { z } from 'zod';
import { headMentionsKey, isObject, jsonObject, MAX_JSON_BYTES } from '../detect/json-probe.js';
import { FormatError, LimitError } from '../errors.js';
import { u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';
import { decodeUbjson, TypedRun } from './xgboost-ubjson.js';

/*
 * XGBoost models in their three encodings (xgboost src/learner.cc, doc/model.schema):
 * - JSON: `{"learner": {attributes, feature_names, feature_types, gradient_booster: {name, model |
 *   gbtree}, learner_model_param: {base_score, num_class, num_feature, num_target}, objective: {name}},
 *   "version": [major, minor, patch]}`;
 * - UBJSON (`.ubj`, the default since 2.0): the same document in Universal Binary JSON;
 * - the legacy binary format behind the 'binf' magic: LearnerModelParamLegacy (136 bytes: base_score
 *   f32, num_feature u32, num_class i32, contain_extra_attrs, contain_eval_metrics, major_version u32,
 *   minor_version u32, ...), then the objective and booster names as u64-length strings.
 */

const MAX_TEXT = 256;
const MAX_FEATURE_NAMES = 1000;
/** Objective names (`binary:logistic`, `reg:squarederror`, `rank:pairwise`, `survival:cox`). */
const OBJECTIVE = /^[a-z]+:[a-z_]+$/;
const BOOSTERS = ['gbtree', 'gblinear', 'dart'];

export const xgboostMetadataSchema = z
  .strictObject({
    encoding: z.enum(['json', 'ubjson', 'binary']).describe('JSON, UBJSON (`.ubj`) or the legacy binary format (`binf`).'),
    version: z.string().optional().describe('XGBoost version that saved it (`version` of JSON models; major.minor of binary ones).'),
    objective: z.string().optional().describe('Objective name (`binary:logistic`, `multi:softprob`, `reg:squarederror`).'),
    booster: z.string().describe('Booster: `gbtree`, `dart` or `gblinear`.'),
    numFeature: z.number().int().nonnegative().optional().describe('`num_feature`: input features.'),
    numClass: z.number().int().nonnegative().optional().describe('`num_class` (0 for regression and binary models).'),
    numTarget: z.number().int().nonnegative().optional().describe('`num_target` (multi-output models).'),
    baseScore: z.number().optional().describe('`base_score`.'),
    trees: z.number().int().nonnegative().optional().describe('Trees (`trees` of the tree model); absent for gblinear and binary models.'),
    nodes: z.number().int().nonnegative().optional().describe('Nodes over all trees, from each `tree_param.num_nodes`.'),
    featureNames: z.array(z.string()).describe(`\`feature_names\` (at most ${MAX_FEATURE_NAMES}).`),
    attributeKeys: z.array(z.string()).describe('Keys of `attributes` (best_iteration...), sorted.'),
  })
  .meta({
    title: 'XGBoost metadata',
    description:
      'XGBoost models: JSON (recognised by its `learner` object), UBJSON and the legacy `binf` binary format: version, objective, booster, feature and class counts, trees and nodes, feature names. A JSON model over 64 MiB is not parsed (a `limit` problem).',
  });
export type XgboostMetadata = z.infer<typeof xgboostMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid XGBoost model: ${message}`);
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v.slice(0, MAX_TEXT) : undefined;
}

/** A count written as a string (`"3"`) in JSON models, or as a number. */
function count(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) fail(`field ${field} is ${JSON.stringify(v)?.slice(0, 40)}, not a non-negative integer.`);
  return n;
}

const len = (v: unknown): number => (v instanceof TypedRun ? v.length : Array.isArray(v) ? v.length : 0);

/** Reads the decoded document (JSON or UBJSON). */
export function readXgboostDocument(doc: Record<string, unknown>, encoding: 'json' | 'ubjson'): XgboostMetadata {
  const l = doc.learner;
  if (!isObject(l)) fail('the document has no `learner` object.');
  const gb = l.gradient_booster;
  if (!isObject(gb)) fail('`learner.gradient_booster` is not an object.');
  const booster = text(gb.name) ?? fail('`learner.gradient_booster.name` is missing.');
  const lmp = isObject(l.learner_model_param) ? l.learner_model_param : {};
  const objective = isObject(l.objective) ? text(l.objective.name) : undefined;
  // dart nests the tree model under `gbtree`; gbtree has it under `model`.
  const treeHolder = isObject(gb.gbtree) ? gb.gbtree : gb;
  const model = isObject(treeHolder.model) ? treeHolder.model : undefined;
  let trees: number | undefined;
  let nodes: number | undefined;
  if (booster !== 'gblinear' && model !== undefined && Array.isArray(model.trees)) {
    trees = model.trees.length;
    nodes = 0;
    for (const t of model.trees) {
      const n = isObject(t) && isObject(t.tree_param) ? count(t.tree_param.num_nodes, 'tree_param.num_nodes') : isObject(t) ? len(t.left_children) : 0;
      nodes = Math.min(nodes + (n ?? 0), Number.MAX_SAFE_INTEGER);
    }
    const declared = isObject(model.gbtree_model_param) ? count(model.gbtree_model_param.num_trees, 'gbtree_model_param.num_trees') : undefined;
    if (declared !== undefined && declared !== trees) fail(`gbtree_model_param.num_trees is ${declared} but ${trees} trees are listed.`);
  }
  const version = Array.isArray(doc.version) && doc.version.every((n) => Number.isSafeInteger(n)) ? doc.version.slice(0, 4).join('.') : undefined;
  const base = typeof lmp.base_score === 'string' ? Number(lmp.base_score) : lmp.base_score;
  const names = Array.isArray(l.feature_names) ? l.feature_names.filter((n): n is string => typeof n === 'string') : [];
  return {
    encoding,
    ...opt('version', version),
    ...opt('objective', objective),
    booster,
    ...opt('numFeature', count(lmp.num_feature, 'num_feature')),
    ...opt('numClass', count(lmp.num_class, 'num_class')),
    ...opt('numTarget', count(lmp.num_target, 'num_target')),
    ...(typeof base === 'number' && Number.isFinite(base) ? { baseScore: base } : {}),
    ...opt('trees', trees),
    ...opt('nodes', nodes),
    featureNames: names.slice(0, MAX_FEATURE_NAMES).map((n) => n.slice(0, MAX_TEXT)),
    attributeKeys: isObject(l.attributes) ? Object.keys(l.attributes).sort().slice(0, 100) : [],
  };
}

/** A u64-length string of the binary format at `at`; returns it and the offset after it. */
function binString(src: ByteSource, at: number, what: string): { s: string; next: number } {
  const h = src.read(at, 8);
  if (h.length < 8) fail(`the ${what} length at offset ${at} is cut.`);
  const n = u32le(h, 0, 'XGBoost string length');
  if (u32le(h, 4, 'XGBoost string length') !== 0 || n === 0 || n > MAX_TEXT) fail(`the ${what} length at offset ${at} is not in [1, ${MAX_TEXT}].`);
  const b = src.read(at + 8, n);
  if (b.length < n) fail(`the ${what} at offset ${at + 8} is cut.`);
  return { s: new TextDecoder('latin1').decode(b), next: at + 8 + n };
}

/** Reads the legacy binary header ('binf' + LearnerModelParamLegacy + two names). */
export function readXgboostBinary(src: ByteSource): XgboostMetadata {
  const h = src.read(0, 140);
  if (h.length < 140) fail(`the binary header needs 140 bytes, the file has ${h.length}.`);
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const baseScore = dv.getFloat32(4, true);
  const numFeature = dv.getUint32(8, true);
  const numClass = dv.getInt32(12, true);
  const major = dv.getUint32(24, true);
  const minor = dv.getUint32(28, true);
  if (numClass < 0 || numClass > 1_000_000) fail(`num_class at offset 12 is ${numClass}.`);
  const objective = binString(src, 140, 'objective name');
  if (!OBJECTIVE.test(objective.s)) fail(`the objective name ${JSON.stringify(objective.s)} at offset 148 is not one.`);
  const booster = binString(src, objective.next, 'booster name');
  if (!BOOSTERS.includes(booster.s)) fail(`the booster name ${JSON.stringify(booster.s)} at offset ${objective.next + 8} is not gbtree, gblinear or dart.`);
  return {
    encoding: 'binary',
    // Files older than 1.0 leave the version fields 0.
    ...(major > 0 ? { version: `${major}.${minor}` } : {}),
    objective: objective.s,
    booster: booster.s,
    numFeature,
    numClass,
    ...(Number.isFinite(baseScore) ? { baseScore } : {}),
    featureNames: [],
    attributeKeys: [],
  };
}

/** UBJSON models open with `{`, then the key `learner` with an int8, uint8 or int64 length. */
function isUbjsonHead(h: Uint8Array): boolean {
  if (h[0] !== 0x7b) return false;
  const key = (at: number): boolean => new TextDecoder('latin1').decode(h.subarray(at, at + 7)) === 'learner';
  if ((h[1] === 0x69 || h[1] === 0x55) && h[2] === 7) return key(3); // 'i' / 'U'
  return h[1] === 0x4c && h.subarray(2, 9).every((b) => b === 0) && h[9] === 7 && key(10); // 'L'
}

const isBinf = (h: Uint8Array): boolean => h[0] === 0x62 && h[1] === 0x69 && h[2] === 0x6e && h[3] === 0x66; // 'binf'

/** The card: a tree ensemble (or linear model) over its features; the objective names its task. */
export function xgboostCard(md: XgboostMetadata): ModelCard {
  const task = md.objective?.split(':')[0];
  const tasks: Record<string, string> = { binary: 'classification', multi: 'classification', reg: 'regression', rank: 'ranking', survival: 'survival' };
  return {
    format: 'xgboost',
    ...opt('formatVersion', md.encoding),
    architecture: md.booster,
    ...opt('task', task !== undefined ? tasks[task] : undefined),
    producer: 'xgboost',
    ...opt('producerVersion', md.version),
    inputs: md.numFeature !== undefined ? [{ name: 'features', type: 'float32', shape: [null, md.numFeature] }] : [],
    outputs: [],
    weightTypes: ['float32'],
    operators: [],
    customOperators: false,
  };
}

/**
 * XGBoost models. `match`: the 'binf' magic, a UBJSON head whose first key is `learner`, or a JSON
 * object naming `learner` in its head that parses with `learner.gradient_booster`. Structural (no
 * single magic covers JSON). Not handled: headerless binary models of XGBoost < 0.8, the base64
 * `bs64` variant, models inside pickles (the sklearn wrapper).
 */
export const xgboost: ModelFormat = {
  id: 'xgboost',
  description: 'XGBoost model (JSON, UBJSON or legacy binf): objective, booster, features, classes, trees',
  extensions: ['.ubj'],
  signatures: [],
  metadataSchema: xgboostMetadataSchema,
  card: (metadata) => xgboostCard(xgboostMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    const h = probe.head;
    if (isBinf(h)) return h.length >= 148;
    if (h[0] !== 0x7b && h[0] !== 0x20 && h[0] !== 0x0a && h[0] !== 0xef) return false;
    if (isUbjsonHead(h)) return true;
    if (!headMentionsKey(h, 'learner')) return false;
    const j = jsonObject(probe);
    if (j.status === 'too-large') return true;
    return j.status === 'object' && isObject(j.value.learner) && isObject(j.value.learner.gradient_booster);
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    const h = probe.head;
    let metadata: XgboostMetadata;
    if (isBinf(h)) metadata = readXgboostBinary(src);
    else if (isUbjsonHead(h)) {
      if (src.size > MAX_JSON_BYTES)
        throw new LimitError(
          `This ${src.size}-byte UBJSON model is larger than the ${MAX_JSON_BYTES}-byte limit for model descriptors; it was not parsed.`,
          'maxJsonBytes',
        );
      const doc = decodeUbjson(src.read(0, src.size));
      if (!isObject(doc)) fail('the UBJSON document is not an object.');
      metadata = readXgboostDocument(doc, 'ubjson');
    } else {
      const j = jsonObject(probe);
      if (j.status === 'too-large')
        throw new LimitError(
          `This ${j.size}-byte JSON names learner but is larger than the ${MAX_JSON_BYTES}-byte limit for model descriptors; it was not parsed.`,
          'maxJsonBytes',
        );
      if (j.status !== 'object') fail(j.status === 'invalid' ? `the JSON does not parse: ${j.message}` : 'the item is not a JSON object.');
      metadata = readXgboostDocument(j.value, 'json');
    }
    return { confidence: metadata.encoding === 'binary' || metadata.trees !== undefined || metadata.booster === 'gblinear' ? 'high' : 'medium', metadata };
  },
};
