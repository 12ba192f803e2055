import { pBytes, pInt, pPacked, pStr } from './proto-writer.js';

/**
 * Builds Core ML `.mlmodel` files for tests, from coremltools' Model.proto, FeatureTypes.proto and
 * NeuralNetwork.proto: Model (1 specificationVersion, 2 description, 10 isUpdatable, the Type oneof),
 * ModelDescription (1 input, 10 output, 11 predictedFeatureName, 100 metadata), Metadata (1-4, 100
 * userDefined map), FeatureDescription (1 name, 2 shortDescription, 3 type), FeatureType (4 image,
 * 5 multiArray), NeuralNetwork (1 layers: 1 name, a layer oneof from 100), Pipeline (1 models).
 */

export type Feature = { name: string; array?: { shape: number[]; dataType: number }; image?: [number, number]; kind?: number; doc?: string };

function feature(f: Feature): number[] {
  let type: number[];
  if (f.array !== undefined) type = pBytes(5, [...pPacked(1, f.array.shape), ...pInt(2, f.array.dataType)]);
  else if (f.image !== undefined) type = pBytes(4, [...pInt(1, f.image[1]), ...pInt(2, f.image[0]), ...pInt(3, 20)]);
  else type = pBytes(f.kind ?? 3, []);
  return [...pStr(1, f.name), ...(f.doc !== undefined ? pStr(2, f.doc) : []), ...pBytes(3, type)];
}

export interface CoremlSpec {
  version?: number;
  inputs?: Feature[];
  outputs?: Feature[];
  predicted?: string;
  meta?: { short?: string; version?: string; author?: string; license?: string; user?: Record<string, string> };
  updatable?: boolean;
  /** The Type oneof: field number and body. */
  type?: [number, number[]];
}

export function mlmodelBytes(spec: CoremlSpec): Uint8Array {
  const desc: number[] = [];
  for (const f of spec.inputs ?? []) desc.push(...pBytes(1, feature(f)));
  for (const f of spec.outputs ?? []) desc.push(...pBytes(10, feature(f)));
  if (spec.predicted !== undefined) desc.push(...pStr(11, spec.predicted));
  if (spec.meta !== undefined) {
    const m = spec.meta;
    const meta = [
      ...(m.short !== undefined ? pStr(1, m.short) : []),
      ...(m.version !== undefined ? pStr(2, m.version) : []),
      ...(m.author !== undefined ? pStr(3, m.author) : []),
      ...(m.license !== undefined ? pStr(4, m.license) : []),
      ...Object.entries(m.user ?? {}).flatMap(([k, v]) => pBytes(100, [...pStr(1, k), ...pStr(2, v)])),
    ];
    desc.push(...pBytes(100, meta));
  }
  const out = [...pInt(1, spec.version ?? 4), ...pBytes(2, desc)];
  if (spec.updatable !== undefined) out.push(...pInt(10, spec.updatable));
  if (spec.type !== undefined) out.push(...pBytes(spec.type[0], spec.type[1]));
  return Uint8Array.from(out);
}

/** A neural network body: layers by oneof field number. */
export function neuralNetwork(layerFields: number[]): number[] {
  return layerFields.flatMap((f, i) => pBytes(1, [...pStr(1, `layer${i}`), ...pBytes(f, pInt(1, 1))]));
}

/** A MobileNet-like image classifier as coremltools converts it. */
export function imageClassifier(): CoremlSpec {
  return {
    version: 4,
    inputs: [{ name: 'image', image: [224, 224], doc: 'Input image' }],
    outputs: [
      { name: 'classLabelProbs', kind: 6 },
      { name: 'classLabel', kind: 3 },
    ],
    predicted: 'classLabel',
    meta: {
      short: 'Detects the dominant objects in an image',
      version: '1.0',
      author: 'Original paper: Howard et al.',
      license: 'Apache 2.0',
      user: { 'com.github.apple.coremltools.version': '7.1', 'com.github.apple.coremltools.source': 'torch==2.1.0' },
    },
    type: [403, neuralNetwork([100, 160, 130, 100, 130, 120, 140, 175, 500])],
  };
}
