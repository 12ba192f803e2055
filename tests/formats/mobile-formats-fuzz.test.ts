import { describe, it } from 'vitest';
import { caffe } from '../../src/formats/caffe.js';
import { coreml } from '../../src/formats/coreml.js';
import { darknet } from '../../src/formats/darknet.js';
import { mnn } from '../../src/formats/mnn.js';
import { ncnn } from '../../src/formats/ncnn.js';
import { openvino } from '../../src/formats/openvino.js';
import { ort } from '../../src/formats/ort.js';
import { paddle } from '../../src/formats/paddle.js';
import { paddleLite } from '../../src/formats/paddle-lite.js';
import { rknn } from '../../src/formats/rknn.js';
import { sentencepiece } from '../../src/formats/sentencepiece.js';
import { tesseract } from '../../src/formats/tesseract.js';
import { tnn } from '../../src/formats/tnn.js';
import type { ModelFormat } from '../../src/formats/types.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { caffemodelBytes, lenet, prototxt } from '../builders/caffe-builder.js';
import { imageClassifier, mlmodelBytes } from '../builders/coreml-builder.js';
import { tinyYolo } from '../builders/darknet-builder.js';
import { mnnBytes, smallMnn } from '../builders/mnn-builder.js';
import { ncnnBinary, ncnnText, smallNet } from '../builders/ncnn-builder.js';
import { irBytes, smallClassifier } from '../builders/openvino-builder.js';
import { ortBytes, smallOrt } from '../builders/ort-builder.js';
import { nbBytes, programBytes, smallProgram } from '../builders/paddle-builder.js';
import { rknnBytes, toolkit2Json } from '../builders/rknn-builder.js';
import { smallSpm } from '../builders/sentencepiece-builder.js';
import { traineddataBytes } from '../builders/tesseract-builder.js';
import { smallTnn, tnnproto } from '../builders/tnn-builder.js';
import { expectConforms } from '../helpers/conformance.js';
import { expectTyped } from '../helpers/hostile.js';

/*
 * Hostile bytes for the mobile and NPU formats: every builder-made model, cut at many points and with
 * bytes overwritten, must either still inspect (and then conform to its schema and card) or fail with
 * one of aibom's typed errors. A RangeError or TypeError here is a missing bounds check.
 */

/** Deterministic PRNG (mulberry32) so that a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const cases: [ModelFormat, string, Uint8Array][] = [
  [openvino, 'm.xml', irBytes(smallClassifier())],
  [ncnn, 'm.param', enc(ncnnText(smallNet()))],
  [
    ncnn,
    'm.param.bin',
    ncnnBinary(
      [
        { typeIndex: 16, bottoms: [], tops: [0], params: { 0: 3 } },
        { typeIndex: 6, bottoms: [0], tops: [1], params: { 4: [1, 1] } },
      ],
      2,
    ),
  ],
  [mnn, 'm.mnn', mnnBytes(smallMnn())],
  [rknn, 'm.rknn', rknnBytes({ data: new Uint8Array(32), json: toolkit2Json() })],
  [paddle, 'm.pdmodel', programBytes(smallProgram(), 2005001)],
  [paddleLite, 'm.nb', nbBytes(0, 'v2.12', 40, 40)],
  [caffe, 'm.caffemodel', caffemodelBytes('LeNet', lenet())],
  [caffe, 'deploy.prototxt', enc(prototxt('LeNet', lenet()))],
  [darknet, 'm.cfg', enc(tinyYolo())],
  [tesseract, 'eng.traineddata', traineddataBytes({ 1: 'unicharset', 17: new Uint8Array(40), 23: '4.1.0:eng:best' })],
  [sentencepiece, 'tokenizer.model', smallSpm()],
  [ort, 'm.ort', ortBytes(smallOrt())],
  [coreml, 'm.mlmodel', mlmodelBytes(imageClassifier())],
  [tnn, 'm.tnnproto', enc(tnnproto(smallTnn('4206624772')))],
];

async function attempt(format: ModelFormat, name: string, bytes: Uint8Array, label: string): Promise<void> {
  const src = new BufferSource(bytes);
  const probe = createProbe(src, name);
  // `match` must never throw, whatever the bytes.
  format.match(probe);
  try {
    const info = await format.inspect(src, probe, { limits: DEFAULT_LIMITS, sibling: async () => undefined });
    expectConforms(format, info.metadata, label);
  } catch (err) {
    expectTyped(err, label);
  }
}

describe('mobile and NPU formats under hostile bytes', () => {
  it.each(cases.map(([f, name, bytes]) => [`${f.id} ${name}`, f, name, bytes] as const))(
    '%s: cut and overwritten copies fail typed or conform',
    async (_label, format, name, bytes) => {
      const rand = prng(bytes.length * 31 + name.length);
      // Every cut in the first 256 bytes, then 64 random cuts.
      for (let n = 0; n < Math.min(bytes.length, 256); n++) await attempt(format, name, bytes.subarray(0, n), `${format.id} cut at ${n}`);
      for (let i = 0; i < 64; i++) {
        const n = Math.floor(rand() * bytes.length);
        await attempt(format, name, bytes.subarray(0, n), `${format.id} cut at ${n}`);
      }
      // 300 copies with 1 to 8 bytes overwritten (the high byte of a length or count, most often).
      for (let i = 0; i < 300; i++) {
        const b = bytes.slice();
        const flips = 1 + Math.floor(rand() * 8);
        for (let k = 0; k < flips; k++) b[Math.floor(rand() * b.length)] = rand() < 0.5 ? 0xff : Math.floor(rand() * 256);
        await attempt(format, name, b, `${format.id} mutation ${i}`);
      }
    },
  );
});
