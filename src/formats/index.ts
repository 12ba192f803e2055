import { caffe } from './caffe.js';
import { catboost } from './catboost.js';
import { coreml } from './coreml.js';
import { darknet } from './darknet.js';
import { dlib } from './dlib.js';
import { executorch } from './executorch.js';
import { fasttext } from './fasttext.js';
import { ggml } from './ggml.js';
import { gguf } from './gguf.js';
import { kaldi } from './kaldi.js';
import { keras } from './keras.js';
import { lightgbm } from './lightgbm.js';
import { mediapipe } from './mediapipe.js';
import { mnn } from './mnn.js';
import { ncnn } from './ncnn.js';
import { onnx } from './onnx.js';
import { opencv } from './opencv.js';
import { openvino } from './openvino.js';
import { ort } from './ort.js';
import { paddleLite } from './paddle-lite.js';
import { paddle } from './paddle.js';
import { pocketsphinx } from './pocketsphinx.js';
import { pytorch } from './pytorch.js';
import { rknn } from './rknn.js';
import { safetensors } from './safetensors.js';
import { savedmodel } from './savedmodel.js';
import { sklearn } from './sklearn.js';
import { tfGraphdef } from './tf-graphdef.js';
import { tfjs } from './tfjs.js';
import { sentencepiece } from './sentencepiece.js';
import { tesseract } from './tesseract.js';
import { tflite } from './tflite.js';
import { tnn } from './tnn.js';
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
  ort,
  gguf,
  ggml,
  pytorch,
  executorch,
  sklearn,
  keras,
  fasttext,
  catboost,
  lightgbm,
  dlib,
  kaldi,
  pocketsphinx,
  opencv,
  ncnn,
  rknn,
  paddle,
  safetensors,
  tfjs,
  xgboost,
  savedmodel,
  tfGraphdef,
  openvino,
  mnn,
  paddleLite,
  caffe,
  darknet,
  tesseract,
  sentencepiece,
  coreml,
  tnn,
  onnx,
];
