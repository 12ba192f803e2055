import crypto from 'node:crypto';
import { componentId } from '../../src/inventory/ids.js';
import { makeLocation } from '../../src/inventory/location.js';
import {
  INVENTORY_SCHEMA,
  inventorySchema,
  type Component,
  type ContainerComponent,
  type DataComponent,
  type Hop,
  type Inventory,
  type ModelComponent,
  type Problem,
  type Relationship,
  type SoftwareComponent,
} from '../../src/inventory/schema.js';
import type { ModelCard } from '../../src/inventory/card.js';

/**
 * A deterministic `aibom/inventory@2` with every kind of item the encoders must express, written by hand
 * rather than scanned so that encoder tests do not move when detection changes:
 *
 *   firmware.img (subject, file)            image, reader gpt
 *   └ system                                partition, reader ext4
 *     ├ app/Pay/Pay.apk                     archive, reader zip
 *     │ └ assets/det.tflite                 model (TFLite, licence Apache-2.0, associated labels.txt)
 *     ├ vendor/seg.onnx                     model (ONNX, custom operator com.microsoft:FusedGelu),
 *     │                                     also at extra/seg.onnx (second subject, a directory)
 *     ├ vendor/llm.onnx  + llm.onnx.data    model with a part (`data`, role external-data, part-of)
 *     └ lib/libpacked.so @4096+1126         carved TFLite model (offset and length, medium confidence)
 *
 * and the software around the models, as runtime rules record it:
 *
 *   com.example.pay (app, at Pay.apk)        ships det.tflite; depends-on the runtime and the service
 *   Pay.apk!/lib/arm64-v8a/libtensorflowlite_jni.so
 *                                            runtime TensorFlow Lite 2.14.0 (purl, CPE, licence), can-load det.tflite
 *   OpenAI API (service, found in classes.dex) endpoint api.openai.com
 *
 * plus problems of every severity (two with the same code) and non-zero stats. Hashes are sha256 of
 * a label, so every run gives the same bytes. `timestamp` is left out unless asked for.
 */
export interface InventoryBuilderOptions {
  timestamp?: string;
  toolVersion?: string;
}

/** sha256 of a label: a stand-in for content that keeps the inventory stable. */
export function fakeSha256(label: string): string {
  return crypto.createHash('sha256').update(label).digest('hex');
}

const hop = (path: string, reader: string): Hop => ({ path, reader });
const IMG = hop('firmware.img', 'file');
const SYSTEM = hop('system', 'gpt');

function card(partial: Partial<ModelCard> & { format: string }): ModelCard {
  return { inputs: [], outputs: [], weightTypes: [], operators: [], customOperators: false, ...partial };
}

export function buildInventory(opts: InventoryBuilderOptions = {}): Inventory {
  const image: ContainerComponent = {
    id: componentId('image', 'gpt', fakeSha256('firmware.img')),
    kind: 'image',
    name: 'firmware.img',
    locations: [makeLocation([IMG])],
    sha256: fakeSha256('firmware.img'),
    size: 67108864,
    confidence: 'high',
    evidence: [{ technique: 'magic', detail: "gpt image: 'EFI PART' at offset 512", confidence: 'high' }],
    container: { reader: 'gpt' },
  };
  const partition: ContainerComponent = {
    id: componentId('partition', 'ext4', fakeSha256('system')),
    kind: 'partition',
    name: 'system',
    locations: [makeLocation([IMG, SYSTEM])],
    sha256: fakeSha256('system'),
    size: 50331648,
    confidence: 'high',
    evidence: [{ technique: 'magic', detail: 'ext4 image: 0xEF53 at offset 1080', confidence: 'high' }],
    container: { reader: 'ext4' },
  };
  const apkHops = [IMG, SYSTEM, hop('app/Pay/Pay.apk', 'ext4')];
  const archive: ContainerComponent = {
    id: componentId('archive', 'zip', fakeSha256('Pay.apk')),
    kind: 'archive',
    name: 'Pay.apk',
    locations: [makeLocation(apkHops)],
    sha256: fakeSha256('Pay.apk'),
    size: 3612,
    confidence: 'high',
    evidence: [{ technique: 'magic', detail: "zip archive: 'PK\\x03\\x04' at offset 0", confidence: 'high' }],
    container: { reader: 'zip' },
  };
  const tflite: ModelComponent = {
    id: componentId('model', 'tflite', fakeSha256('det.tflite')),
    kind: 'model',
    name: 'Golden detector',
    version: 'v2',
    locations: [makeLocation([...apkHops, hop('assets/det.tflite', 'zip')])],
    sha256: fakeSha256('det.tflite'),
    size: 1126,
    confidence: 'high',
    evidence: [{ technique: 'magic', detail: "tflite model: 'TFL3' at offset 4", confidence: 'high' }],
    model: {
      format: 'tflite',
      card: card({
        name: 'Golden detector',
        version: 'v2',
        description: 'Detects "cats", dogs; and\nmore',
        author: 'aibom',
        license: 'Apache-2.0',
        task: 'object-detection',
        architecture: 'SSD MobileNetV2',
        producer: 'TOCO',
        format: 'tflite',
        formatVersion: '3',
        inputs: [{ name: 'input', type: 'uint8', shape: [1, 96, 96, 3] }],
        outputs: [{ name: 'out', type: 'uint8', shape: [1, 94, 94, 4] }],
        parameters: 108,
        parameterBytes: 108,
        weightTypes: ['int8'],
        quantized: true,
        operators: [
          { name: 'CONV_2D', count: 1, custom: false },
          { name: 'TFLite_Detection_PostProcess', domain: 'custom', count: 1, custom: true },
        ],
        customOperators: true,
      }),
      metadata: { schemaVersion: 3, description: 'golden', minRuntimeVersion: '2.3.0', subgraphs: [{ name: 'main', tensorCount: 3 }] },
      associatedFiles: [{ name: 'labels.txt', size: 8, sha256: fakeSha256('labels.txt'), type: 'TENSOR_AXIS_LABELS', description: 'COCO labels' }],
    },
  };
  const onnx: ModelComponent = {
    id: componentId('model', 'onnx', fakeSha256('seg.onnx')),
    kind: 'model',
    name: 'seg.onnx',
    locations: [makeLocation([hop('extra/seg.onnx', 'directory')]), makeLocation([IMG, SYSTEM, hop('vendor/seg.onnx', 'ext4')])],
    sha256: fakeSha256('seg.onnx'),
    size: 1065,
    confidence: 'high',
    evidence: [{ technique: 'structure', detail: 'onnx model: recognised by structure', confidence: 'high' }],
    model: {
      format: 'onnx',
      card: card({
        producer: 'pytorch',
        producerVersion: '2.1.0',
        format: 'onnx',
        formatVersion: '8',
        inputs: [{ name: 'image', type: 'float32', shape: [1, 3, 'H', 'W'] }],
        outputs: [
          { name: 'y', type: 'float32', shape: [1, 8, null, null] },
          { name: 'aux', type: 'float32', shape: null },
        ],
        parameters: 216,
        parameterBytes: 864,
        weightTypes: ['float32'],
        operators: [
          { name: 'Conv', domain: 'ai.onnx', count: 1, custom: false },
          { name: 'FusedGelu', domain: 'com.microsoft', count: 1, custom: true },
        ],
        customOperators: true,
      }),
      metadata: {
        irVersion: 8,
        producerName: 'pytorch',
        opsetImports: [
          { domain: 'ai.onnx', version: 17 },
          { domain: 'com.microsoft', version: 1 },
        ],
        customDomains: ['com.microsoft'],
      },
    },
  };
  const llmHops = [IMG, SYSTEM, hop('vendor/llm.onnx', 'ext4')];
  const llm: ModelComponent = {
    id: componentId('model', 'onnx', fakeSha256('llm.onnx')),
    kind: 'model',
    name: 'tiny-llm',
    locations: [makeLocation(llmHops)],
    sha256: fakeSha256('llm.onnx'),
    size: 20480,
    confidence: 'high',
    evidence: [{ technique: 'structure', detail: 'onnx model: recognised by structure', confidence: 'high' }],
    model: {
      format: 'onnx',
      card: card({
        name: 'tiny-llm',
        license: 'Vendor licence, see LICENSE.txt',
        architecture: 'llama',
        task: 'text-generation',
        format: 'onnx',
        formatVersion: '9',
        inputs: [{ name: 'input_ids', type: 'int64', shape: ['batch', 'seq'] }],
        outputs: [{ name: 'logits', type: 'float16', shape: ['batch', 'seq', 32000] }],
        parameters: 1_100_000_000,
        parameterBytes: 2_200_000_000,
        weightTypes: ['float16', 'int4'],
        quantized: true,
        quantization: 'int4-block32',
        operators: [{ name: 'MatMulNBits', domain: 'com.microsoft', count: 22, custom: true }],
        customOperators: true,
      }),
      metadata: { irVersion: 9, opsetImports: [{ domain: 'ai.onnx', version: 21 }], externalData: [{ location: 'llm.onnx.data', tensors: 44 }] },
    },
  };
  const llmData: DataComponent = {
    id: componentId('data', 'external-data', fakeSha256('llm.onnx.data')),
    kind: 'data',
    name: 'llm.onnx.data',
    locations: [makeLocation([IMG, SYSTEM, hop('vendor/llm.onnx.data', 'ext4')])],
    sha256: fakeSha256('llm.onnx.data'),
    size: 2_200_000_000,
    confidence: 'high',
    evidence: [{ technique: 'reference', detail: 'named as external data by vendor/llm.onnx', confidence: 'high' }],
    data: { role: 'external-data' },
  };
  const carved: ModelComponent = {
    id: componentId('model', 'tflite', fakeSha256('carved.tflite')),
    kind: 'model',
    name: 'libpacked.so@4096',
    locations: [makeLocation([IMG, SYSTEM, hop('lib/libpacked.so', 'ext4')], { offset: 4096, length: 1126 })],
    sha256: fakeSha256('carved.tflite'),
    size: 1126,
    confidence: 'medium',
    evidence: [{ technique: 'magic', detail: "tflite model carved: 'TFL3' at offset 4100", confidence: 'medium' }],
    model: {
      format: 'tflite',
      card: card({
        format: 'tflite',
        formatVersion: '3',
        inputs: [{ name: 'x', type: 'float32', shape: [1, 16] }],
        outputs: [{ name: 'y', type: 'float32', shape: [1, 2] }],
      }),
      metadata: { schemaVersion: 3 },
    },
  };
  const app: SoftwareComponent = {
    id: componentId('app', 'android-app', fakeSha256('Pay.apk')),
    kind: 'app',
    name: 'com.example.pay',
    version: '3.1.0',
    locations: [makeLocation(apkHops)],
    sha256: fakeSha256('Pay.apk'),
    size: 3612,
    confidence: 'high',
    evidence: [{ technique: 'manifest-analysis', detail: 'AndroidManifest.xml package com.example.pay versionName 3.1.0', confidence: 'high' }],
    software: { rule: 'android-app', vendor: 'Example Pay Ltd', properties: { androidPackage: 'com.example.pay', minSdk: '24' } },
  };
  const runtime: SoftwareComponent = {
    id: componentId('runtime', 'tflite', fakeSha256('libtensorflowlite_jni.so')),
    kind: 'runtime',
    name: 'TensorFlow Lite',
    version: '2.14.0',
    locations: [makeLocation([...apkHops, hop('lib/arm64-v8a/libtensorflowlite_jni.so', 'zip')])],
    sha256: fakeSha256('libtensorflowlite_jni.so'),
    size: 4194304,
    confidence: 'high',
    evidence: [{ technique: 'binary-analysis', detail: 'SONAME libtensorflowlite_jni.so; version string 2.14.0', confidence: 'high' }],
    software: {
      rule: 'tflite',
      vendor: 'Google',
      license: 'Apache-2.0',
      purl: 'pkg:maven/org.tensorflow/tensorflow-lite@2.14.0',
      cpe: 'cpe:2.3:a:google:tensorflow:2.14.0:*:*:*:*:*:*:*',
      loads: ['tflite'],
      properties: { elfMachine: 'aarch64' },
    },
  };
  const service: SoftwareComponent = {
    id: componentId('service', 'openai', 'api.openai.com'),
    kind: 'service',
    name: 'OpenAI API',
    locations: [makeLocation([...apkHops, hop('classes.dex', 'zip')])],
    confidence: 'medium',
    evidence: [{ technique: 'binary-analysis', detail: "string 'https://api.openai.com/v1/chat/completions'", confidence: 'medium' }],
    software: { rule: 'openai', vendor: 'OpenAI', endpoint: 'api.openai.com' },
  };
  const components: Component[] = [image, partition, archive, tflite, onnx, llm, llmData, carved, app, runtime, service];
  components.sort((a, b) => cmp(a.kind, b.kind) || cmp(a.locations[0]!.path, b.locations[0]!.path) || cmp(a.id, b.id));
  const relationships: Relationship[] = [
    { from: image.id, type: 'contains', to: partition.id },
    { from: partition.id, type: 'contains', to: archive.id },
    { from: partition.id, type: 'contains', to: onnx.id },
    { from: partition.id, type: 'contains', to: llm.id },
    { from: partition.id, type: 'contains', to: llmData.id },
    { from: partition.id, type: 'contains', to: carved.id },
    { from: archive.id, type: 'contains', to: tflite.id },
    { from: llmData.id, type: 'part-of', to: llm.id },
    { from: archive.id, type: 'contains', to: runtime.id },
    { from: app.id, type: 'ships', to: tflite.id },
    { from: app.id, type: 'depends-on', to: runtime.id },
    { from: app.id, type: 'depends-on', to: service.id },
    { from: runtime.id, type: 'can-load', to: tflite.id },
  ];
  relationships.sort((a, b) => cmp(a.from, b.from) || cmp(a.type, b.type) || cmp(a.to, b.to));
  const problems: Problem[] = [
    {
      location: 'extra/fake.tflite',
      severity: 'error',
      code: 'claimed-model',
      message: 'Claimed tflite model is not valid: Invalid TFLite: file identifier "a mo" is not "TFL3".',
    },
    {
      location: 'firmware.img!/system!/app/Pay/Pay.apk',
      severity: 'warning',
      code: 'hostile-path',
      message: "Entry '../../etc/passwd' escapes the archive; read as 'etc/passwd'.",
    },
    {
      location: 'firmware.img!/system!/app/Pay/Pay.apk',
      severity: 'info',
      code: 'duplicate-entry',
      message: "Entry 'assets/det.tflite' appears twice; the last one was read.",
    },
    {
      location: 'firmware.img!/vendor',
      severity: 'warning',
      code: 'unsupported',
      message: 'Partition vendor is an f2fs image, which aibom cannot read, <yet>.',
    },
    { location: 'firmware.img!/vendor_b', severity: 'warning', code: 'unsupported', message: 'Partition vendor_b is an f2fs image, which aibom cannot read.' },
  ];
  problems.sort((a, b) => cmp(a.location, b.location) || cmp(a.code, b.code) || cmp(a.message, b.message));
  const inv: Inventory = {
    schema: INVENTORY_SCHEMA,
    tool: { name: 'aibom', version: opts.toolVersion ?? '0.0.0-test' },
    ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}),
    subjects: [
      { location: 'extra', kind: 'directory', size: 1077 },
      { location: 'firmware.img', kind: 'file', size: 67108864, sha256: fakeSha256('firmware.img') },
    ],
    components,
    relationships,
    problems,
    stats: { containers: 3, entries: 42, files: 37, duplicates: 1, decompressedBytes: 1048576 },
  };
  // The builder's own check: what it makes is a valid inventory@2, or the tests stop here.
  return inventorySchema.parse(inv);
}

/** An inventory with a component of a kind this version does not know (`accelerator`, an NPU driver), as a
 * later scan may write: encoders must keep it, not crash. Not valid against today's schema, hence the cast. */
export function inventoryWithUnknownKind(): Inventory {
  const inv = buildInventory();
  const npu = {
    id: componentId('accelerator', 'rknpu', fakeSha256('librknnrt.so')),
    kind: 'accelerator',
    name: 'librknnrt.so',
    version: '1.6.0',
    locations: [makeLocation([IMG, SYSTEM, hop('lib/librknnrt.so', 'ext4')])],
    sha256: fakeSha256('librknnrt.so'),
    size: 4096,
    confidence: 'high',
    evidence: [{ technique: 'binary-analysis', detail: 'version string librknnrt version: 1.6.0', confidence: 'high' }],
    accelerator: { name: 'rknpu2' },
  };
  const comps = [...inv.components, npu as unknown as Component];
  const rels: Relationship[] = [...inv.relationships, { from: npu.id, type: 'can-load', to: inv.components.find((c) => c.kind === 'model')!.id }];
  return { ...inv, components: comps, relationships: rels };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
