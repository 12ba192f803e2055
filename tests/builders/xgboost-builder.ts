/**
 * XGBoost model documents for tests, in the layout of XGBoost's `doc/model.schema` (JSON), and a small
 * UBJSON encoder of our own (ubjson.org draft 12, big-endian, int64 lengths and typed float arrays as
 * XGBoost writes them).
 */
export interface XgbSpec {
  objective?: string;
  booster?: 'gbtree' | 'dart' | 'gblinear';
  trees?: number;
  nodesPerTree?: number;
  numFeature?: number;
  numClass?: number;
  declaredTrees?: number;
  featureNames?: string[];
}

export function xgbDocument(s: XgbSpec = {}): Record<string, unknown> {
  const n = s.nodesPerTree ?? 3;
  const tree = (id: number): Record<string, unknown> => ({
    base_weights: new Float32Array(n),
    id,
    left_children: Array.from({ length: n }, (_, i) => (i === 0 ? 1 : -1)),
    tree_param: { num_deleted: '0', num_feature: String(s.numFeature ?? 3), num_nodes: String(n), size_leaf_vector: '0' },
  });
  const trees = Array.from({ length: s.trees ?? 2 }, (_, i) => tree(i));
  const treeModel = {
    gbtree_model_param: { num_parallel_tree: '1', num_trees: String(s.declaredTrees ?? trees.length), size_leaf_vector: '0' },
    tree_info: trees.map(() => 0),
    trees,
  };
  const booster = s.booster ?? 'gbtree';
  const gradient_booster =
    booster === 'gblinear'
      ? { model: { boosted_rounds: 2, weights: new Float32Array(4) }, name: 'gblinear' }
      : booster === 'dart'
        ? { gbtree: { model: treeModel, name: 'gbtree' }, name: 'dart', weight_drop: [] }
        : { model: treeModel, name: 'gbtree' };
  return {
    learner: {
      attributes: { best_iteration: '1' },
      feature_names: s.featureNames ?? ['a', 'b', 'c'],
      feature_types: [],
      gradient_booster,
      learner_model_param: {
        base_score: '5E-1',
        boost_from_average: '1',
        num_class: String(s.numClass ?? 0),
        num_feature: String(s.numFeature ?? 3),
        num_target: '1',
      },
      objective: { name: s.objective ?? 'binary:logistic', reg_loss_param: { scale_pos_weight: '1' } },
    },
    version: [2, 1, 0],
  };
}

/** The document as JSON text (typed arrays as plain arrays). */
export function xgbJson(doc: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc, (_k, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v)));
}

/** The document as UBJSON. */
export function xgbUbjson(doc: unknown): Uint8Array {
  const out: number[] = [];
  const i64 = (v: number): void => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(v));
    out.push(0x4c, ...b); // 'L'
  };
  const str = (s: string): void => {
    const b = Buffer.from(s, 'utf8');
    i64(b.length);
    out.push(...b);
  };
  const value = (v: unknown): void => {
    if (v === null) out.push(0x5a);
    else if (v === true) out.push(0x54);
    else if (v === false) out.push(0x46);
    else if (typeof v === 'string') {
      out.push(0x53);
      str(v);
    } else if (typeof v === 'number') {
      if (Number.isInteger(v)) i64(v);
      else {
        const b = Buffer.alloc(4);
        b.writeFloatBE(v);
        out.push(0x64, ...b);
      }
    } else if (v instanceof Float32Array) {
      out.push(0x5b, 0x24, 0x64, 0x23); // '[$d#'
      i64(v.length);
      for (const f of v) {
        const b = Buffer.alloc(4);
        b.writeFloatBE(f);
        out.push(...b);
      }
    } else if (Array.isArray(v)) {
      out.push(0x5b);
      for (const x of v) value(x);
      out.push(0x5d);
    } else if (typeof v === 'object') {
      out.push(0x7b);
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        str(k);
        value(x);
      }
      out.push(0x7d);
    }
  };
  value(doc);
  return Uint8Array.from(out);
}
