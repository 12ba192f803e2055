import { describe, expect, it } from 'vitest';
import { formats } from '../../src/formats/index.js';
import { FileSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { corpusFiles } from '../helpers/corpus.js';

/*
 * Formats recognised by structure (MNN, OpenVINO) or by a short magic (ncnn, RKNN...) must not take
 * real models of other formats: every file of the ONNX and TFLite corpora is matched by its own format
 * and by no format registered before it.
 */

function matching(file: string): string[] {
  const src = FileSource.open(file);
  try {
    const probe = createProbe(src, file.slice(file.lastIndexOf('/') + 1));
    return formats.filter((f) => f.match(probe)).map((f) => f.id);
  } finally {
    src.close();
  }
}

describe('no format takes real models of another', () => {
  // The corpus keeps each folder's licence as `LICENSE.<kind>`: not a model.
  const models = (files: string[]): string[] => files.filter((f) => !f.includes('/LICENSE.'));
  const onnx = models(corpusFiles('onnx', '.onnx'));
  const tflite = models(corpusFiles('tflite', '.tflite'));
  // `it.each` over an empty list declares no test at all: without the corpus, one visible skip instead.
  if (onnx.length === 0) it.skip('every ONNX corpus file matches ONNX only (SKIP: ../shared/corpus/onnx is absent)', () => {});
  if (tflite.length === 0) it.skip('every TFLite corpus file matches TFLite only (SKIP: ../shared/corpus/tflite is absent)', () => {});
  it.each(onnx)('%s matches ONNX only', (file) => {
    expect(matching(file)).toEqual(['onnx']);
  });
  it.each(tflite)('%s matches TFLite only', (file) => {
    expect(matching(file)).toEqual(['tflite']);
  });
});
