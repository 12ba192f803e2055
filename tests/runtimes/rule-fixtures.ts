import fs from 'node:fs';
import path from 'node:path';
import type { Rule } from '../../src/runtimes/rule-schema.js';
import { buildDex } from '../builders/dex-builder.js';
import { buildElf, type ElfSpec } from '../builders/elf-builder.js';
import { buildPe } from './pe-builder.js';
import { buildWasm } from './wasm-builder.js';

/**
 * The positive fixture of every built-in rule, as the smallest snippet that carries its evidence: an
 * ELF with the SONAME or symbol a real build has, a dex with one class of the SDK's package, a package
 * manifest, a config naming the endpoint. Rules whose evidence is a manifest, a dex package or a plain
 * host get theirs derived from the rule; the others are listed here by hand, and a rule with none makes
 * the meta-test fail. The negatives sit beside them in `NEGATIVES`.
 */

const enc = new TextEncoder();
type Fixture = [name: string, bytes: Uint8Array];
const elf = (name: string, spec: ElfSpec): Fixture => [name, buildElf(spec)];
const so = (soname: string, extra: ElfSpec = {}): Fixture => elf(soname, { soname, ...extra });
/** A library whose name does not say what it is: only its symbols do. */
const symbols = (...names: string[]): Fixture => elf('libvendor.so', { soname: 'libvendor.so', symbols: names.map((name) => ({ name })) });
const text = (name: string, s: string): Fixture => [name, enc.encode(s)];

/** Rules whose evidence is written by hand (ELF names and symbols, wasm names, bundle text, hosts behind patterns). */
export const EXPLICIT: Record<string, Fixture[]> = {
  onnxruntime: [
    so('libonnxruntime.so.1', { versionDefs: ['VERS_1.17.3'], symbols: [{ name: 'OrtGetApiBase', version: 'VERS_1.17.3' }] }),
    ['ort.dll', buildPe({ strings: { FileDescription: 'ONNX Runtime', ProductVersion: '1.17.3.0' } })],
  ],
  'onnxruntime-jni': [so('libonnxruntime4j_jni.so'), symbols('Java_ai_onnxruntime_OrtEnvironment_createHandle')],
  directml: [['DirectML.dll', buildPe({ strings: { FileDescription: 'DirectML Library', ProductVersion: '1.15.4+241025' } })]],
  'onnxruntime-web': [
    ['ort-wasm-simd-threaded.wasm', buildWasm()],
    ['app.wasm', buildWasm({ exports: ['_OrtInit', '_OrtCreateSession'] })],
  ],
  tflite: [so('libtensorflowlite_jni.so'), symbols('TfLiteInterpreterCreate')],
  'tflite-gpu-delegate': [elf('libtensorflowlite_gpu_jni.so', {}), symbols('TfLiteGpuDelegateV2Create')],
  'tflite-xnnpack-delegate': [symbols('TfLiteXNNPackDelegateCreate')],
  'tflite-hexagon-delegate': [elf('libhexagon_interface.so', {}), symbols('TfLiteHexagonDelegateCreate')],
  'tflite-nnapi-delegate': [symbols('_ZN6tflite22StatefulNnApiDelegateC1Ev')],
  'tflite-flex-delegate': [elf('libtensorflowlite_flex_jni.so', {})],
  'android-nnapi': [so('libneuralnetworks.so')],
  ncnn: [so('libncnn.so.1'), symbols('_ZN4ncnn3Net10load_paramEPKc')],
  mnn: [so('libMNN.so'), symbols('_ZN3MNN11Interpreter21createFromFileEPKc')],
  'paddle-lite': [elf('libpaddle_lite_jni.so', {}), symbols('_ZN6paddle8lite_api22CreatePaddlePredictor')],
  'paddle-inference': [so('libpaddle_inference.so')],
  tnn: [so('libTNN.so')],
  tengine: [so('libtengine-lite.so'), symbols('get_tengine_version')],
  'rknn-runtime': [so('librknnrt.so', { rodata: '\0librknnrt version: 1.5.2 (c6b7b351a@2023-08-23T15:28:22)\0' }), so('librknn_api.so')],
  snpe: [so('libSNPE.so'), symbols('Snpe_SNPE_Execute')],
  qnn: [elf('libQnnHtp.so', {}), symbols('QnnInterface_getProviders')],
  neuropilot: [elf('libneuron_adapter.so', {}), symbols('NeuronModel_create')],
  'huawei-hiai': [elf('libhiai.so', {})],
  'huawei-cann': [so('libascendcl.so'), symbols('aclInit')],
  'mindspore-lite': [so('libmindspore-lite.so')],
  'opencv-dnn': [so('libopencv_dnn.so.406'), symbols('_ZN2cv3dnn14dnn4_v202205243Net7forwardEv')],
  openvino: [so('libopenvino.so.2430')],
  tensorrt: [so('libnvinfer.so.8'), symbols('createInferRuntime_INTERNAL')],
  'pytorch-mobile': [elf('libpytorch_jni_lite.so', {})],
  executorch: [elf('libexecutorch_jni.so', {})],
  libtorch: [so('libtorch_cpu.so')],
  tensorflow: [so('libtensorflow_framework.so.2')],
  mediapipe: [elf('libmediapipe_tasks_vision_jni.so', {}), ['vision_wasm_internal.wasm', buildWasm()]],
  tesseract: [so('libtesseract.so.5', { rodata: "<meta name='ocr-system' content='tesseract 5.3.0' />" }), symbols('TessBaseAPICreate')],
  'tesseract-js': [
    ['tesseract-core-simd.wasm', buildWasm()],
    ['core.wasm', buildWasm({ exports: ['_emscripten_bind_TessBaseAPI_TessBaseAPI_0'] })],
  ],
  'llama-cpp': [so('libllama.so'), symbols('llama_model_load_from_file')],
  ggml: [so('libggml-base.so'), symbols('ggml_init')],
  'whisper-cpp': [so('libwhisper.so.1'), symbols('whisper_init_from_file_with_params')],
  'sherpa-onnx': [elf('libsherpa-onnx-jni.so', {}), symbols('SherpaOnnxCreateOfflineRecognizer')],
  vosk: [so('libvosk.so'), symbols('vosk_model_new')],
  kaldi: [so('libkaldi-decoder.so')],
  tfjs: [text('main.bundle.js', 'var e={"tfjs-core":"4.22.0","tfjs-backend-cpu":"4.22.0"};')],
  'arcsoft-face': [elf('libarcsoft_face_engine.so', {}), symbols('ASFInitEngine')],
  'sensetime-stmobile': [elf('libst_mobile.so', {}), symbols('st_mobile_human_action_create')],
  'megvii-facepp': [elf('libMegviiFacepp-0.5.2.so', {})],
  'iflytek-msc': [symbols('QTTSSessionBegin')],
  mcp: [text('claude_desktop_config.json', '{\n  "mcpServers": {\n    "files": { "command": "npx" }\n  }\n}\n')],
  'aws-bedrock': [text('config.json', '{"endpoint": "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke"}')],
  'aws-rekognition': [text('aws.ini', 'endpoint = https://rekognition.eu-west-1.amazonaws.com\n')],
  'aws-textract': [text('aws.ini', 'url=https://textract.us-west-2.amazonaws.com\n')],
  'aws-transcribe': [text('aws.ini', 'url=wss://transcribestreaming.us-east-1.amazonaws.com:8443\n')],
  'aws-polly': [text('aws.ini', 'url=https://polly.ap-northeast-1.amazonaws.com\n')],
  'volcengine-ark': [text('llm.yaml', 'base_url: https://ark.cn-beijing.volces.com/api/v3\n')],
  'huawei-modelarts': [text('cfg.properties', 'infer=https://modelarts.cn-north-4.myhuaweicloud.com/v1/infers/abc\n')],
};

/** A fixture derived from the first matcher of a kind that needs no hand-made bytes. */
function derived(rule: Rule): Fixture | undefined {
  for (const m of rule.matchers) {
    if (m.type === 'package') {
      switch (m.ecosystem) {
        case 'npm':
          return text('package.json', JSON.stringify({ name: m.name, version: '1.2.3' }));
        case 'pypi':
          return text('METADATA', `Metadata-Version: 2.1\nName: ${m.name}\nVersion: 1.2.3\n\n`);
        case 'maven': {
          const [g, a] = m.name.split(':');
          return text('pom.properties', `groupId=${g}\nartifactId=${a}\nversion=1.2.3\n`);
        }
        case 'deb':
          return text('status', `Package: ${m.name}\nStatus: install ok installed\nVersion: 1.2.3\nMaintainer: x\n\n`);
      }
    }
    if (m.type === 'dex-package') return ['classes.dex', buildDex([`${m.prefix}.Main`, 'androidx.core.App'])];
    if (m.type === 'endpoint' && m.host !== undefined) {
      const host = /^[.-]/.test(m.host) ? `tenant${m.host}` : m.host;
      return text('settings.json', `{"baseUrl": "https://${host}/v1", "timeout": 30}`);
    }
  }
  return undefined;
}

/** Every positive of a rule: its hand-made fixtures, or one derived from it. */
export function positivesOf(rule: Rule): Fixture[] {
  const d = derived(rule);
  return [...(EXPLICIT[rule.id] ?? []), ...(EXPLICIT[rule.id] === undefined && d !== undefined ? [d] : [])];
}

/** Files that look like runtimes or name endpoints and must not be reported as anything. */
export const NEGATIVES: Fixture[] = [
  text('libonnxruntime.so.txt', 'libonnxruntime.so.1 is the ONNX Runtime library; see VERS_1.30.0'),
  ['libtensorflowlite.so', new Uint8Array(0)],
  ['libtensorflowlite_jni.so', enc.encode('not an ELF, just a stub named like one')],
  // An unrelated library that mentions runtimes in its strings, links nothing of theirs and exports nothing of theirs.
  elf('libcamera_hal.so', {
    soname: 'libcamera_hal.so',
    needed: ['libc.so'],
    symbols: [{ name: 'camera_open' }, { name: 'dlopen', defined: false }],
    rodata: 'try dlopen("libonnxruntime.so") then libtensorflowlite_jni.so, ncnn::Net and librknnrt',
  }),
  text('README.md', 'This app calls https://api.openai.com/v1/chat/completions and https://dashscope.aliyuncs.com.'),
  text('README', 'Endpoint: https://api.anthropic.com'),
  // Hosts glued into longer names are other hosts.
  text('hosts.json', '{"a": "https://myapi.openai.com.evil.test", "b": "https://xapi.deepseek.com"}'),
  text('package.json', JSON.stringify({ name: 'my-onnxruntime-wrapper', version: '1.0.0' })),
  // A wasm module whose data mentions runtimes and whose exports are its own.
  ['filters.wasm', buildWasm({ exports: ['_blur', 'OrtCreateSessionX'], data: ['uses onnxruntime-web when available, or ort-wasm.wasm'] })],
  // A Windows DLL that imports nothing of a runtime and describes itself as something else.
  ['helper.dll', buildPe({ imports: ['KERNEL32.dll'], strings: { FileDescription: 'Uses ONNX Runtime when present', ProductVersion: '2.0' } })],
  ['classes.dex', buildDex(['com.example.tensorflow.lite.Fake', 'org.tensorflowx.lite.Other'])],
];

/** Writes the fixtures of `rules` in the layout `aibom rules test` reads. */
export function writeFixtures(dir: string, rules: readonly Rule[]): void {
  for (const r of rules) {
    const d = path.join(dir, r.id);
    fs.mkdirSync(d, { recursive: true });
    positivesOf(r).forEach(([name, bytes], i) => {
      fs.mkdirSync(path.join(d, String(i)), { recursive: true });
      fs.writeFileSync(path.join(d, String(i), name), bytes);
    });
  }
  const n = path.join(dir, 'negative');
  NEGATIVES.forEach(([name, bytes], i) => {
    fs.mkdirSync(path.join(n, String(i)), { recursive: true });
    fs.writeFileSync(path.join(n, String(i), name), bytes);
  });
}
