import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { mediapipe, type MediapipeMetadata } from '../../src/formats/mediapipe.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { buildZip, tinyTflite } from '../builders/tflite-builder.js';
import { expectConforms } from '../helpers/conformance.js';
import { corpusFiles } from '../helpers/corpus.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-mediapipe-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

const matches = (bytes: Uint8Array, name = 'face_landmarker.task'): boolean => mediapipe.match(createProbe(new BufferSource(bytes), name));
async function inspect(bytes: Uint8Array, name = 'face_landmarker.task'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await mediapipe.inspect(src, createProbe(src, name), ctx);
  expectConforms(mediapipe, info.metadata);
  return info;
}

const detector = tinyTflite('face detector');
const landmarks = tinyTflite('face landmarks');
const geometry = new Uint8Array([0x0a, 0x02, 0x08, 0x01]);
const faceLandmarker = (): Uint8Array =>
  buildZip(
    [
      ['face_detector.tflite', detector],
      ['face_landmarks_detector.tflite', landmarks],
      ['geometry_pipeline_metadata_landmarks.binarypb', geometry],
    ],
    0,
  );

describe('mediapipe', () => {
  it('lists and hashes the members and describes each TFLite model with the tflite reader', async () => {
    const bytes = faceLandmarker();
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes);
    expect(info.confidence).toBe('high');
    const md = info.metadata as MediapipeMetadata;
    expect(md.tfliteModels).toBe(2);
    expect(md.llm).toBe(false);
    expect(md.members.map((m) => [m.name, m.kind, m.size])).toEqual([
      ['face_detector.tflite', 'tflite', detector.length],
      ['face_landmarks_detector.tflite', 'tflite', landmarks.length],
      ['geometry_pipeline_metadata_landmarks.binarypb', 'binarypb', 4],
    ]);
    expect(md.members[0]!.tflite).toEqual({
      description: 'face detector',
      inputs: ['in:float32[1,4]'],
      outputs: ['out:float32[1,4]'],
      parameters: 16,
      parameterBytes: 64,
      weightTypes: ['float32'],
      quantized: false,
      operators: { FULLY_CONNECTED: 1 },
    });
    expect(info.associatedFiles).toEqual([
      { name: 'face_detector.tflite', size: detector.length, sha256: sha(detector), type: 'tflite' },
      { name: 'face_landmarks_detector.tflite', size: landmarks.length, sha256: sha(landmarks), type: 'tflite' },
      { name: 'geometry_pipeline_metadata_landmarks.binarypb', size: 4, sha256: sha(geometry), type: 'binarypb' },
    ]);
    expect(mediapipe.card(md)).toMatchObject({
      format: 'mediapipe',
      parameters: 32,
      parameterBytes: 128,
      weightTypes: ['float32'],
      operators: [{ name: 'FULLY_CONNECTED', count: 2 }],
    });
  });

  it('recognises LLM bundles and nested bundles; deflated members are hashed, not described', async () => {
    const llm = await inspect(
      buildZip(
        [
          ['TF_LITE_PREFILL_DECODE', detector],
          ['TOKENIZER_MODEL', new Uint8Array(10)],
          ['METADATA', new Uint8Array(3)],
        ],
        0,
      ),
      'gemma.task',
    );
    expect(llm.metadata).toMatchObject({ llm: true, tfliteModels: 1 });
    const nested = await inspect(
      buildZip(
        [
          ['hand_landmarker.task', faceLandmarker()],
          ['hand_gesture_recognizer.task', faceLandmarker()],
        ],
        0,
      ),
      'gesture_recognizer.task',
    );
    expect(nested).toMatchObject({ confidence: 'medium', metadata: { tfliteModels: 0 } });
    const deflated = await inspect(buildZip([['a.tflite', detector]], 0, { deflate: true }));
    expect((deflated.metadata as MediapipeMetadata).members[0]).toEqual({ name: 'a.tflite', size: detector.length, kind: 'tflite', compressed: true });
    expect(deflated.associatedFiles?.[0]?.sha256).toBe(sha(detector));
  });

  it('reports a member named .tflite that is not one, and a TFLite member that is broken', async () => {
    const info = await inspect(
      buildZip(
        [
          ['a.tflite', detector],
          ['b.tflite', new Uint8Array(20)],
        ],
        0,
      ),
    );
    expect((info.metadata as MediapipeMetadata).members.map((m) => m.kind)).toEqual(['tflite', 'other']);
    const broken = detector.slice();
    broken.fill(0xff, 8, 40);
    const bad = await inspect(buildZip([['a.tflite', broken]], 0));
    expect(bad.warnings?.map((w) => w.message)).toEqual([expect.stringMatching(/^Bundle member "a.tflite" is not a valid TFLite model: /)]);
  });

  const real = corpusFiles('tflite', '.tflite').find((f) => path.basename(f) === 'mobilenet_v1_0.25_224_quant.tflite');
  it.runIf(real !== undefined)('describes a real TFLite model with metadata inside a bundle (shared corpus)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(real!));
    const info = await inspect(buildZip([['classifier.tflite', bytes]], 0), 'image_classifier.task');
    const t = (info.metadata as MediapipeMetadata).members[0]!.tflite!;
    expect(t).toMatchObject({ quantized: true, weightTypes: ['int32', 'uint8'] });
    expect(t.name).toMatch(/MobileNet/i);
    expect(t.inputs).toEqual(['input:uint8[1,224,224,3]']);
  });

  it('takes only .task zips whose first member is a bundle member', () => {
    expect(matches(faceLandmarker(), 'face_landmarker.zip')).toBe(false);
    expect(
      matches(
        buildZip(
          [
            ['readme.txt', new Uint8Array(3)],
            ['a.tflite', detector],
          ],
          0,
        ),
      ),
    ).toBe(false);
    expect(matches(new Uint8Array([0x50, 0x4b, 0x03, 0x04]))).toBe(false);
    expect(matches(new TextEncoder().encode('<task/>'))).toBe(false);
  });

  it('fails a zip without TFLite members, a truncated bundle, a prefixed zip', async () => {
    await expect(inspect(buildZip([['x.binarypb', geometry]], 0))).rejects.toThrow(/no member is a TFLite model/);
    const bytes = faceLandmarker();
    await expect(inspect(bytes.subarray(0, bytes.length - 10))).rejects.toThrow(FormatError);
    const prefixed = buildZip([['a.tflite', detector]], 16);
    const withPrefix = new Uint8Array(16 + prefixed.length);
    withPrefix.set(prefixed, 16);
    await expect(inspect(withPrefix)).rejects.toThrow(FormatError);
  });

  it('is one model in a scan: its members are not reported as models of their own', async () => {
    const d = path.join(tmp, 'app', 'assets');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'face_landmarker.task'), faceLandmarker());
    fs.writeFileSync(path.join(d, 'broken.task'), new TextEncoder().encode('not a zip'));
    const inv = inventorySchema.parse(await scan([path.join(tmp, 'app')])) as Inventory;
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.kind === 'model' && [path.basename(m.locations[0]!.path), m.model.format])).toEqual([['face_landmarker.task', 'mediapipe']]);
    expect(models[0]!.kind === 'model' && models[0]!.model.associatedFiles?.length).toBe(3);
    expect(inv.problems.filter((p) => p.code === 'claimed-model').map((p) => path.basename(p.location))).toEqual(['broken.task']);
  });
});
