import { z } from 'zod';
import { FormatError, LimitError } from '../errors.js';
import { MAX_READ, type ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo } from './types.js';

/*
 * OpenCV models written by cv::FileStorage (XML `<opencv_storage>` or `%YAML:1.0`):
 * - cascade classifiers (objdetect): the current layout `<cascade type_id="opencv-cascade-classifier">`
 *   with stageType, featureType (HAAR, LBP, HOG), height, width, stageNum and one `<stageThreshold>`
 *   per stage; and the legacy layout `<name type_id="opencv-haar-classifier">` with `<size>w h</size>`
 *   and one `<stage_threshold>` per stage (haarcascade_licence_plate_rus_16stages.xml);
 * - `ml` module models, whose top-level node is named `opencv_ml_<kind>` (svm, rtrees, dtree, boost,
 *   ann_mlp, knn, nbayes, lr, em, svmsgd): their kind and the scalar fields that say what they are.
 * The text is read whole (up to 64 MiB) and scanned with anchored patterns; no XML or YAML parser runs,
 * and the numeric payloads (rects, support vectors) are never decoded.
 */

const MAX_BYTES = MAX_READ;
const MAX_STAGES = 100_000;
const MAX_WINDOW = 100_000;

/**
 * A cascade root: the legacy `type_id`, the current one, or a bare `<cascade>` followed by its
 * `stageType` / `featureType` (haarcascade_frontalcatface.xml has no type_id).
 */
const CURRENT = /type_id="opencv-cascade-classifier"|<cascade>\s*<(stageType|featureType)>/;
const CASCADE = /type_id="opencv-(cascade|haar)-classifier"|<cascade>\s*<(stageType|featureType)>/;

const ML_KINDS = ['svm', 'rtrees', 'dtree', 'boost', 'ann_mlp', 'knn', 'nbayes', 'lr', 'em', 'svmsgd'] as const;

export const opencvMetadataSchema = z
  .strictObject({
    kind: z.enum(['cascade', 'ml']).describe('A cascade classifier (objdetect) or an `ml` module model.'),
    encoding: z.enum(['xml', 'yaml']).describe('The FileStorage text encoding.'),
    cascade: z
      .strictObject({
        layout: z.enum(['current', 'legacy']).describe('`opencv-cascade-classifier` (current) or `opencv-haar-classifier` (legacy, Haar only).'),
        featureType: z.string().describe('`featureType` (HAAR, LBP, HOG); HAAR for the legacy layout.'),
        stageType: z.string().optional().describe('`stageType` (BOOST).'),
        stages: z.number().int().nonnegative().describe('Stages found (one stage threshold each).'),
        declaredStages: z.number().int().nonnegative().optional().describe('`stageNum` as declared (current layout).'),
        weakClassifiers: z.number().int().nonnegative().describe('Weak classifiers (`internalNodes` in the current layout, trees in the legacy one).'),
        windowWidth: z.number().int().positive().describe('Detection window width in pixels.'),
        windowHeight: z.number().int().positive().describe('Detection window height in pixels.'),
      })
      .optional()
      .describe('Cascade classifiers only.'),
    ml: z
      .strictObject({
        model: z.enum(ML_KINDS).describe('The `opencv_ml_<kind>` node name: the model class.'),
        svmType: z.string().optional().describe('SVM: `svmType` (C_SVC, NU_SVC, ONE_CLASS, EPS_SVR, NU_SVR).'),
        kernel: z.string().optional().describe('SVM: the kernel `type` (LINEAR, POLY, RBF, SIGMOID, CHI2, INTER).'),
        varCount: z.number().int().nonnegative().optional().describe('`var_count`: input features.'),
        classCount: z.number().int().nonnegative().optional().describe('`class_count` where recorded.'),
        supportVectors: z.number().int().nonnegative().optional().describe('SVM: `sv_total`.'),
        trees: z.number().int().nonnegative().optional().describe('Random trees and boosting: `ntrees`, else the count of `trees` entries is not computed.'),
        layerSizes: z.array(z.number().int().nonnegative()).optional().describe('ANN_MLP: `layer_sizes`.'),
      })
      .optional()
      .describe('`ml` module models only.'),
  })
  .meta({
    title: 'OpenCV model metadata',
    description:
      'OpenCV cascade classifiers (Haar, LBP, HOG; current and legacy XML layouts: feature type, stages, weak classifiers, window size) and `ml` module models (`opencv_ml_svm`, `_rtrees`, `_boost`, `_ann_mlp`... in XML or YAML: model class, SVM type and kernel, feature count, support vectors). Recognised by content, not by name.',
  });
export type OpencvMetadata = z.infer<typeof opencvMetadataSchema>;

function fail(message: string): never {
  throw new FormatError(`Invalid OpenCV model: ${message}`);
}

const latin1 = new TextDecoder('latin1');

/** The whole text (bounded), decoded as latin1: every pattern below is ASCII. */
function readText(src: ByteSource): string {
  // The bound of JSON descriptors applies to these text models too: no real one comes near it.
  if (src.size > MAX_BYTES)
    throw new LimitError(`This ${src.size}-byte OpenCV file is larger than the ${MAX_BYTES}-byte limit; it was not read.`, 'maxJsonBytes');
  return latin1.decode(src.read(0, src.size));
}

function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** A bounded non-negative integer, or a FormatError naming the field. */
function int(value: string | undefined, field: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value.trim());
  if (!Number.isSafeInteger(v) || v < 0 || v > max) fail(`field ${field} is ${JSON.stringify(value.trim().slice(0, 40))}, not an integer in [0, ${max}].`);
  return v;
}

function xmlValue(text: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>\\s*([^<]*?)\\s*</${tag}>`).exec(text)?.[1];
}

/** A YAML scalar `key: value` at the first indentation level of the model node. */
function yamlValue(text: string, key: string): string | undefined {
  return new RegExp(`\\n[ ]{1,8}${key}:[ ]*([^\\n{\\[]*?)[ ]*\\r?\\n`).exec(text)?.[1];
}

function readCascade(text: string): NonNullable<OpencvMetadata['cascade']> {
  if (CURRENT.test(text.slice(0, 1 << 20))) {
    const featureType = xmlValue(text, 'featureType') ?? fail('the cascade has no <featureType>.');
    const stageType = xmlValue(text, 'stageType');
    const width = int(xmlValue(text, 'width'), 'width', MAX_WINDOW);
    const height = int(xmlValue(text, 'height'), 'height', MAX_WINDOW);
    if (!width || !height) fail('the cascade has no positive <width> and <height>.');
    const declared = int(xmlValue(text, 'stageNum'), 'stageNum', MAX_STAGES);
    const stages = count(text, '<stageThreshold>');
    if (declared !== undefined && stages !== declared)
      fail(`stageNum is ${declared} but ${stages} stages hold a <stageThreshold> (the file is cut or edited).`);
    return {
      layout: 'current',
      featureType: featureType.slice(0, 32),
      ...opt('stageType', stageType?.slice(0, 32)),
      stages,
      ...opt('declaredStages', declared),
      weakClassifiers: count(text, '<internalNodes>'),
      windowWidth: width,
      windowHeight: height,
    };
  }
  // Legacy: <size>w h</size>, stages of trees with <stage_threshold>.
  const size = xmlValue(text, 'size')?.split(/\s+/) ?? fail('the legacy cascade has no <size>.');
  const width = int(size[0], 'size', MAX_WINDOW);
  const height = int(size[1], 'size', MAX_WINDOW);
  if (size.length !== 2 || !width || !height) fail(`the legacy cascade's <size> is not two positive integers.`);
  const stages = count(text, '<stage_threshold>');
  if (stages === 0) fail('the legacy cascade has no <stage_threshold>.');
  if (!text.trimEnd().endsWith('</opencv_storage>')) fail('the XML does not end with </opencv_storage> (the file is cut).');
  return { layout: 'legacy', featureType: 'HAAR', stages, weakClassifiers: count(text, '<!-- tree '), windowWidth: width, windowHeight: height };
}

function readMl(text: string, yaml: boolean): NonNullable<OpencvMetadata['ml']> {
  const m = /opencv_ml_([a-z_]+)/.exec(text);
  const model = ML_KINDS.find((k) => k === m?.[1]) ?? fail(`the model node ${JSON.stringify(m?.[0] ?? '')} is not an opencv_ml_<kind> this reader knows.`);
  const value = (key: string): string | undefined => (yaml ? yamlValue(text, key) : xmlValue(text, key));
  const kernel = yaml ? /\n[ ]{1,8}kernel:[ ]*\r?\n[ ]+type:[ ]*(\w+)/.exec(text)?.[1] : /<kernel>\s*<type>\s*(\w+)/.exec(text)?.[1];
  const sizes = yaml ? /layer_sizes:[^\n]*\n?[^\]]*?\[([^\]]*)\]/.exec(text)?.[1] : /<layer_sizes[^>]*>[\s\S]*?<data>([^<]*)<\/data>/.exec(text)?.[1];
  const layerSizes = sizes
    ?.split(/[\s,]+/)
    .filter((s) => s !== '')
    .slice(0, 1024)
    .map((s) => int(s, 'layer_sizes', 1e9)!);
  return {
    model,
    ...opt('svmType', value('svmType')?.slice(0, 32)),
    ...opt('kernel', kernel?.slice(0, 32)),
    ...opt('varCount', int(value('var_count'), 'var_count', 1e9)),
    ...opt('classCount', int(value('class_count'), 'class_count', 1e9)),
    ...opt('supportVectors', int(value('sv_total'), 'sv_total', 1e12)),
    ...opt('trees', int(value('ntrees'), 'ntrees', 1e9)),
    ...opt('layerSizes', layerSizes),
  };
}

/** Reads the model after `match`. */
export function readOpencv(src: ByteSource): ModelInfo {
  const text = readText(src);
  const yaml = text.startsWith('%YAML');
  if (!yaml && !text.includes('<opencv_storage>')) fail('the XML has no <opencv_storage> root.');
  if (!yaml && !text.trimEnd().endsWith('</opencv_storage>')) fail('the XML does not end with </opencv_storage> (the file is cut).');
  const isCascade = !yaml && CASCADE.test(text.slice(0, 1 << 20));
  const metadata: OpencvMetadata = isCascade
    ? { kind: 'cascade', encoding: 'xml', cascade: readCascade(text) }
    : { kind: 'ml', encoding: yaml ? 'yaml' : 'xml', ml: readMl(text, yaml) };
  return { confidence: 'high', metadata };
}

/** The card: the architecture is the cascade's feature and stage type or the ml model class. */
export function opencvCard(md: OpencvMetadata): ModelCard {
  const c = md.cascade;
  return {
    format: 'opencv',
    ...(c
      ? { architecture: `${c.featureType} cascade`, task: 'object-detection' }
      : { architecture: `opencv_ml_${md.ml?.model}`, ...(md.ml?.svmType?.endsWith('SVR') ? { task: 'regression' } : {}) }),
    ...(c ? { formatVersion: c.layout } : {}),
    inputs: c
      ? [{ name: 'window', type: 'uint8', shape: [c.windowHeight, c.windowWidth] }]
      : md.ml?.varCount !== undefined
        ? [{ name: 'features', type: 'float32', shape: [md.ml.varCount] }]
        : [],
    outputs: [],
    weightTypes: [],
    operators: [],
    customOperators: false,
  };
}

/**
 * OpenCV cascade classifiers and `ml` models. `match` looks at the head only: an XML whose head holds
 * `<opencv_storage>` and a cascade `type_id` or an `<opencv_ml_` node, or a `%YAML` file whose head
 * holds an `opencv_ml_` key. Not handled: cascades in YAML (OpenCV reads them; nobody ships them),
 * JSON FileStorage, DNN models (other formats), face recognizer (`opencv_lbphfaces`) files.
 */
export const opencv: ModelFormat = {
  id: 'opencv',
  description: 'OpenCV cascade classifier (Haar/LBP/HOG XML) or ml model (opencv_ml_svm... in XML or YAML)',
  extensions: [],
  signatures: [
    { offset: 0, magic: '<?xml', note: 'XML declaration of a cv::FileStorage file' },
    { offset: 0, magic: '%YAML', note: 'YAML directive of a cv::FileStorage file' },
  ],
  metadataSchema: opencvMetadataSchema,
  card: (metadata) => opencvCard(opencvMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    // The whole head: licence comments push the root node down by several KiB (haarcascade_fullbody.xml).
    // A byte search first, so that the many XML files of a firmware that are not FileStorage cost no decoding.
    const bytes = Buffer.from(probe.head.buffer, probe.head.byteOffset, probe.head.byteLength);
    const yaml = bytes.subarray(0, 5).toString('latin1') === '%YAML';
    if (!bytes.includes(yaml ? 'opencv_ml_' : '<opencv_storage>', 0, 'latin1')) return false;
    const head = latin1.decode(probe.head);
    if (yaml) return /\n(opencv_ml_[a-z_]+):/.test(head);
    return CASCADE.test(head) || /<opencv_ml_[a-z_]+>/.test(head);
  },
  async inspect(src: ByteSource, _probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    return readOpencv(src);
  },
};
