import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type TesseractMetadata, tesseract } from '../../src/formats/tesseract.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { traineddataBytes } from '../builders/tesseract-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-tesseract-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ctx = { limits: DEFAULT_LIMITS };
/** Debian packages tesseract-ocr-eng and tesseract-ocr-osd (1:4.1.0-2) install their data here. */
const TESSDATA = '/usr/share/tesseract-ocr/5/tessdata';
const real = (f: string): string | undefined => {
  const p = path.join(TESSDATA, f);
  if (fs.existsSync(p)) return p;
  console.warn(`SKIP: ${p} is absent (Debian package tesseract-ocr-${f.split('.')[0]}); the test over it is skipped.`);
  return undefined;
};
const ENG = real('eng.traineddata');
const OSD = real('osd.traineddata');

async function inspectFile(file: string): Promise<ModelInfo> {
  const src = FileSource.open(file);
  try {
    const probe = createProbe(src, path.basename(file));
    expect(tesseract.match(probe)).toBe(true);
    const info = await tesseract.inspect(src, probe, ctx);
    expectConforms(tesseract, info.metadata);
    return info;
  } finally {
    src.close();
  }
}

async function inspect(bytes: Uint8Array, name = 'deu.traineddata'): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await tesseract.inspect(src, createProbe(src, name), ctx);
  expectConforms(tesseract, info.metadata);
  return info;
}

describe('tesseract: real data from Debian', () => {
  it.skipIf(ENG === undefined)('reads eng.traineddata (LSTM only)', async () => {
    const info = await inspectFile(ENG!);
    expect(info.metadata).toEqual({
      language: 'eng',
      entries: 24,
      bigEndian: false,
      components: {
        lstm: 401636,
        'lstm-punc-dawg': 4322,
        'lstm-word-dawg': 3694794,
        'lstm-number-dawg': 4738,
        'lstm-unicharset': 6360,
        'lstm-recoder': 1012,
        version: 30,
      },
      engine: 'lstm',
      version: '4.00.00alpha:eng:synth20170629',
    } satisfies TesseractMetadata);
    expect(tesseract.card(info.metadata)).toEqual({
      name: 'eng',
      producer: 'Tesseract',
      producerVersion: '4.00.00alpha',
      task: 'ocr',
      format: 'tesseract',
      inputs: [],
      outputs: [],
      weightTypes: [],
      operators: [],
      customOperators: false,
    });
  });

  it.skipIf(OSD === undefined)('reads osd.traineddata (legacy, 11 entries, no version)', async () => {
    const info = await inspectFile(OSD!);
    expect(info.metadata).toMatchObject({ language: 'osd', entries: 11, engine: 'legacy' });
    expect(Object.keys((info.metadata as TesseractMetadata).components)).toEqual(['unicharset', 'inttemp', 'pffmtable', 'normproto']);
    expect(info.metadata).not.toHaveProperty('version');
  });
});

describe('tesseract: built data', () => {
  it('reads LSTM+legacy data with a VGSL spec, and a byte-swapped file', async () => {
    const data = traineddataBytes({
      1: 'unicharset',
      3: 'inttemp-bytes',
      17: new Uint8Array(100),
      23: '4.1.0:deu:best:[1,36,0,1Ct3,3,16Mp3,3Lfys64Lfx96Lrx96Lfx512O1c1]',
    });
    const info = await inspect(data, 'deu.traineddata');
    expect(info.metadata).toMatchObject({ language: 'deu', engine: 'lstm+legacy', components: { unicharset: 10, inttemp: 13, lstm: 100 } });
    expect(tesseract.card(info.metadata)).toMatchObject({ producerVersion: '4.1.0', architecture: '[1,36,0,1Ct3,3,16Mp3,3Lfys64Lfx96Lrx96Lfx512O1c1]' });
    const be = await inspect(traineddataBytes({ 0: 'config', 1: 'unicharset' }, 16, true), 'chi_sim.traineddata');
    expect(be.metadata).toMatchObject({ language: 'chi_sim', entries: 16, bigEndian: true, engine: 'none', components: { config: 6, unicharset: 10 } });
  });

  it.each([
    ['another name', traineddataBytes({ 17: 'x' }), 'eng.bin'],
    ['an absurd entry count', Uint8Array.from([0, 1, 0, 0, ...new Uint8Array(64)]), 'x.traineddata'],
    ['no component present', traineddataBytes({}), 'x.traineddata'],
    [
      'offsets that go backwards',
      (() => {
        const b = traineddataBytes({ 1: 'a', 2: 'b' });
        new DataView(b.buffer).setBigInt64(4 + 16, 10n, true);
        return b;
      })(),
      'x.traineddata',
    ],
  ])('does not match %s', (_what, bytes, name) => {
    expect(tesseract.match(createProbe(new BufferSource(bytes), name))).toBe(false);
  });

  it('fails a claimed file whose offsets run past its end, naming the component, and a cut table as truncated', async () => {
    const b = traineddataBytes({ 17: 'lstm' });
    new DataView(b.buffer).setBigInt64(4 + 8 * 17, 5000n, true);
    const src = new BufferSource(b);
    const err = await tesseract.inspect(src, createProbe(src, 'x.traineddata'), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe('Invalid Tesseract traineddata: component 17 offset 5000 at offset 140 is not between 196 and the 200-byte file end.');
    const cut = new BufferSource(b.subarray(0, 150));
    const err2 = await tesseract.inspect(cut, createProbe(cut, 'x.traineddata'), ctx).catch((e: unknown) => e);
    expect({ message: (err2 as FormatError).message, code: (err2 as FormatError).code }).toEqual({
      message: 'Invalid Tesseract traineddata: the 24-entry offset table runs past the 150 bytes read.',
      code: 'truncated',
    });
  });
});

describe('tesseract: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds .traineddata and .traineddata.gz in a tar', async () => {
    const d = path.join(tmp, 'tree/usr/share/tessdata');
    fs.mkdirSync(d, { recursive: true });
    const deu = traineddataBytes({ 17: new Uint8Array(64), 23: '4.1.0:deu:best' });
    fs.writeFileSync(path.join(d, 'deu.traineddata'), deu);
    fs.writeFileSync(path.join(d, 'fra.traineddata.gz'), zlib.gzipSync(traineddataBytes({ 17: new Uint8Array(80), 23: '4.1.0:fra:fast' })));
    const archive = path.join(tmp, 'ocr.tar');
    run('tar', ['-cf', archive, '-C', path.join(tmp, 'tree'), 'usr']);
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path).sort()).toEqual([
      `${archive}!/usr/share/tessdata/deu.traineddata`,
      `${archive}!/usr/share/tessdata/fra.traineddata.gz!/fra.traineddata`,
    ]);
    expect(models.map((m) => m.kind === 'model' && m.model.card.name).sort()).toEqual(['deu', 'fra']);
    expect(inv.problems).toEqual([]);
  });
});
