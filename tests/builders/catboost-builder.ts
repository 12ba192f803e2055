import { Builder } from 'flatbuffers';

/**
 * Writes CatBoost `.cbm` bytes: 'CBM1', a ui32 core size, and a `NCatBoostFbs.TModelCore` FlatBuffer
 * built with the flatbuffers runtime from catboost's model.fbs field order (ids noted below). Feature
 * tables are empty tables: only their count matters to the reader.
 */
export interface CatboostSpec {
  formatVersion?: string;
  treeSizes?: number[];
  approxDimension?: number;
  floatFeatures?: number;
  catFeatures?: number;
  textFeatures?: number;
  leafValues?: number;
  info?: Record<string, string>;
  parts?: string[];
  /** Leave out ModelTrees. */
  noTrees?: boolean;
}

export function catboostBytes(s: CatboostSpec = {}): Uint8Array {
  const b = new Builder(1024);
  const tables = (n: number): number => {
    const offs: number[] = [];
    for (let i = 0; i < n; i++) {
      b.startObject(0);
      offs.push(b.endObject());
    }
    b.startVector(4, n, 4);
    for (let i = n - 1; i >= 0; i--) b.addOffset(offs[i]!);
    return b.endVector();
  };
  const ints = (v: number[]): number => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]!);
    return b.endVector();
  };
  let treesOff = 0;
  if (!s.noTrees) {
    const sizes = ints(s.treeSizes ?? [2, 2, 3]);
    const floats = tables(s.floatFeatures ?? 4);
    const cats = tables(s.catFeatures ?? 1);
    const texts = tables(s.textFeatures ?? 0);
    b.startVector(8, s.leafValues ?? 12, 8);
    for (let i = 0; i < (s.leafValues ?? 12); i++) b.addFloat64(0.5);
    const leaves = b.endVector();
    b.startObject(15);
    b.addFieldInt32(0, s.approxDimension ?? 1, 0); // ApproxDimension
    b.addFieldOffset(2, sizes, 0); // TreeSizes
    b.addFieldOffset(4, cats, 0); // CatFeatures
    b.addFieldOffset(5, floats, 0); // FloatFeatures
    b.addFieldOffset(8, leaves, 0); // LeafValues
    b.addFieldOffset(13, texts, 0); // TextFeatures
    treesOff = b.endObject();
  }
  const info = s.info ?? { catboost_version_info: 'Git info:\n    Commit: 1.2.5', model_guid: 'abc-123', params: '{"loss_function":{"type":"Logloss"}}' };
  const kvs = Object.entries(info).map(([k, v]) => {
    const ko = b.createString(k);
    const vo = b.createString(v);
    b.startObject(2);
    b.addFieldOffset(0, ko, 0);
    b.addFieldOffset(1, vo, 0);
    return b.endObject();
  });
  b.startVector(4, kvs.length, 4);
  for (let i = kvs.length - 1; i >= 0; i--) b.addOffset(kvs[i]!);
  const map = b.endVector();
  const partStrings = (s.parts ?? ['static_provider_v1']).map((p) => b.createString(p));
  b.startVector(4, partStrings.length, 4);
  for (let i = partStrings.length - 1; i >= 0; i--) b.addOffset(partStrings[i]!);
  const parts = b.endVector();
  const version = b.createString(s.formatVersion ?? 'FlabuffersModel_v1');
  b.startObject(4);
  b.addFieldOffset(0, version, 0);
  if (!s.noTrees) b.addFieldOffset(1, treesOff, 0);
  b.addFieldOffset(2, map, 0);
  b.addFieldOffset(3, parts, 0);
  b.finish(b.endObject());
  const core = b.asUint8Array();
  const out = new Uint8Array(8 + core.length + 16);
  out.set(new TextEncoder().encode('CBM1'), 0);
  new DataView(out.buffer).setUint32(4, core.length, true);
  out.set(core, 8);
  return out;
}
