import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { paddleLite } from '../../src/formats/paddle-lite.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { nbBytes } from '../builders/paddle-builder.js';
import { expectConforms } from '../helpers/conformance.js';

const ctx = { limits: DEFAULT_LIMITS };

describe('paddle-lite', () => {
  it('reads the header of an optimized model', async () => {
    const bytes = nbBytes(0, 'v2.12', 300, 1000);
    const src = new BufferSource(bytes);
    const probe = createProbe(src, 'ch_PP-OCRv3_det_slim_opt.nb');
    expect(paddleLite.match(probe)).toBe(true);
    const info = await paddleLite.inspect(src, probe, ctx);
    expect(info).toEqual({ confidence: 'medium', metadata: { metaVersion: 0, optVersion: 'v2.12', topologyBytes: 300, paramsBytes: 1000 } });
    expect(expectConforms(paddleLite, info.metadata)).toEqual({
      producer: 'Paddle Lite opt',
      producerVersion: 'v2.12',
      format: 'paddle-lite',
      formatVersion: '0',
      inputs: [],
      outputs: [],
      weightTypes: [],
      operators: [],
      customOperators: false,
      parameterBytes: 1000,
    });
  });

  it.each([
    ['another name', nbBytes(0, 'v2.12', 10, 10), 'model.bin'],
    ['a meta version of 7', nbBytes(7, 'v2.12', 10, 10), 'm.nb'],
    ['an empty version string', nbBytes(0, '', 10, 10), 'm.nb'],
    ['a version string without digits', nbBytes(1, 'develop', 10, 10), 'm.nb'],
    [
      'a topology larger than the file',
      (() => {
        const b = nbBytes(0, 'v2.9', 10, 0);
        new DataView(b.buffer).setUint32(18, 1000, true);
        return b;
      })(),
      'm.nb',
    ],
    ['binary bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff), 'm.nb'],
  ])('does not match %s', (_what, bytes, name) => {
    expect(paddleLite.match(createProbe(new BufferSource(bytes), name))).toBe(false);
  });

  it('fails a claimed .nb that is not one, naming the field', async () => {
    const src = new BufferSource(nbBytes(9, 'v2.12', 10, 10));
    const err = await paddleLite.inspect(src, createProbe(src, 'm.nb'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe('Invalid Paddle Lite model: meta_version 9 at offset 0 is not 0 to 2.');
    const short = new BufferSource(new Uint8Array(10));
    const err2 = await paddleLite.inspect(short, createProbe(short, 'm.nb'), ctx).catch((e: unknown) => e);
    expect((err2 as FormatError).code).toBe('truncated');
  });
});
