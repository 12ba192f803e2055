import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, it } from 'vitest';
import type { ModelFormat } from '../src/formats/types.js';
import { onnx } from '../src/formats/onnx.js';
import { tflite } from '../src/formats/tflite.js';
import { BufferSource, FileSource, type ByteSource } from '../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../src/io/limits.js';
import { createProbe } from '../src/probe.js';
import { OnnxBuilder, SegmentSource, buildLarge } from '../tests/builders/onnx-builder.js';
import { TfliteBuilder } from '../tests/builders/tflite-builder.js';
import { corpusFiles } from '../tests/helpers/corpus.js';
import { measure, printTable } from './measure.js';

// Model readers: time to match and inspect, and how much of a large model is read (the readers are
// meant to read headers and tables, never the weights). Figures only; the bounds themselves are
// asserted in tests/formats.
const ctx = { limits: DEFAULT_LIMITS };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-bench-formats-'));
const rows: string[][] = [];
afterAll(() => {
  printTable(['format', 'input', 'size', 'bytes read', 'reads', 'match + inspect'], rows);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Counts the bytes and calls that go through a source. */
function counting(inner: ByteSource): ByteSource & { bytesRead: number; reads: number } {
  const c = {
    size: inner.size,
    bytesRead: 0,
    reads: 0,
    read(offset: number, length: number): Uint8Array {
      const b = inner.read(offset, length);
      c.bytesRead += b.length;
      c.reads++;
      return b;
    },
  };
  return c;
}

/** Matches and inspects `inner` three times and adds a row: the reads of one run, the best time. */
async function inspectRow(format: ModelFormat, input: string, inner: ByteSource, name: string): Promise<void> {
  let best = Infinity;
  let src = counting(inner);
  for (let i = 0; i < 3; i++) {
    const s = (src = counting(inner));
    const m = await measure(async () => {
      const probe = createProbe(s, name);
      if (!format.match(probe)) throw new Error(`${format.id} does not match ${input}`);
      return format.inspect(s, probe, ctx);
    });
    best = Math.min(best, m.ms);
  }
  rows.push([format.id, input, `${(inner.size / 1e6).toFixed(1)} MB`, `${(src.bytesRead / 1024).toFixed(0)} KiB`, String(src.reads), `${best.toFixed(1)} ms`]);
}

it('onnx: a graph of 100k nodes', async () => {
  const b = new OnnxBuilder().opset('', 17).input('x0', 'float32', [1]);
  for (let i = 0; i < 100_000; i++) b.node(i % 2 ? 'Relu' : 'Sigmoid', [`x${i}`], [`x${i + 1}`], { name: `n${i}` });
  const bytes = b.output('x100000', 'float32', [1]).build();
  await inspectRow(onnx, '100k nodes', new BufferSource(bytes), 'model.onnx');
});

it('onnx: large initializers (200 MB in one, 1.2 GB in 12)', async () => {
  await inspectRow(
    onnx,
    '1 initializer of 200 MB',
    new SegmentSource(buildLarge({ initializerBytes: 200 * 1024 * 1024, initializers: 1 }).segments()),
    'model.onnx',
  );
  await inspectRow(
    onnx,
    '12 initializers, 1.2 GB',
    new SegmentSource(buildLarge({ initializerBytes: 1200 * 1024 * 1024, initializers: 12 }).segments()),
    'model.onnx',
  );
});

it('tflite: a 200 MB weight buffer at the end, inline and as Buffer.offset/size', async () => {
  for (const external of [false, true]) {
    const file = path.join(tmp, `large-${external}.tflite`);
    TfliteBuilder.buildLarge(file, { bufferBytes: 200 * 1024 * 1024, external });
    const src = FileSource.open(file);
    try {
      await inspectRow(tflite, external ? '200 MB buffer (Buffer.offset/size)' : '200 MB buffer (inline [ubyte])', src, 'large.tflite');
    } finally {
      src.close();
      fs.rmSync(file);
    }
  }
});

for (const [format, files] of [
  [onnx, corpusFiles('onnx', '.onnx').filter((f) => path.basename(f) !== 'LICENSE.onnx')],
  [tflite, corpusFiles('tflite', '.tflite')],
] as const) {
  it.skipIf(files.length === 0)(`${format.id}: every model of the real corpus (SKIP when ../shared/corpus is absent)`, async () => {
    const m = await measure(async () => {
      let bytes = 0;
      for (const f of files) {
        const src = FileSource.open(f);
        try {
          const probe = createProbe(src, path.basename(f));
          if (!format.match(probe)) throw new Error(`${format.id} does not match ${f}`);
          await format.inspect(src, probe, ctx);
          bytes += src.size;
        } finally {
          src.close();
        }
      }
      return bytes;
    });
    rows.push([format.id, `corpus, ${files.length} files`, `${(m.value / 1e6).toFixed(1)} MB`, '', '', `${m.ms.toFixed(1)} ms`]);
  });
}
