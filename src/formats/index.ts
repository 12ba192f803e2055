import { catboost } from './catboost.js';
import { dlib } from './dlib.js';
import { fasttext } from './fasttext.js';
import { ggml } from './ggml.js';
import { gguf } from './gguf.js';
import { kaldi } from './kaldi.js';
import { lightgbm } from './lightgbm.js';
import { mediapipe } from './mediapipe.js';
import { onnx } from './onnx.js';
import { opencv } from './opencv.js';
import { pocketsphinx } from './pocketsphinx.js';
import { safetensors } from './safetensors.js';
import { savedmodel } from './savedmodel.js';
import { tfGraphdef } from './tf-graphdef.js';
import { tfjs } from './tfjs.js';
import { tflite } from './tflite.js';
import type { ModelFormat } from './types.js';
import { xgboost } from './xgboost.js';

/**
 * Model formats in priority order: the first whose `match` accepts an item inspects it. Formats with
 * a real magic come first; ONNX, found by structure only, comes after them. A new format starts as a
 * copy of `_template.ts` (compiled and tested, never registered).
 */
export const formats: readonly ModelFormat[] = [
  tflite,
  mediapipe,
  gguf,
  ggml,
  fasttext,
  catboost,
  lightgbm,
  dlib,
  kaldi,
  pocketsphinx,
  opencv,
  safetensors,
  tfjs,
  xgboost,
  savedmodel,
  tfGraphdef,
  onnx,
];
