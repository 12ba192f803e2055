import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, it } from 'vitest';
import { buildLarge, writeSegments } from '../tests/builders/onnx-builder.js';
import { TfliteBuilder } from '../tests/builders/tflite-builder.js';

// Generated at run time, never committed: a >= 1 GB ONNX model (large initializers), a TFLite model
// and thousands of small files, packed once as tar and once as zip (models stored, as in APKs).
// For each archive: the scan's wall time and peak RSS (in a process of its own), and in the same
// run `sha256sum` over the same bytes. Target: scan <= 1.5x sha256sum, peak RSS < 300 MB.
const ONNX_BYTES = Number(process.env.AIBOM_BENCH_ONNX_BYTES ?? 1.1e9);
const SMALL_FILES = Number(process.env.AIBOM_BENCH_SMALL_FILES ?? 5000);
const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-bench-'));
// AIBOM_BENCH_KEEP=1 keeps the generated inputs (for profiling a scan of them by hand).
afterAll(() => {
  if (process.env.AIBOM_BENCH_KEEP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
});

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function generate(): string {
  const dir = path.join(tmp, 'in');
  fs.mkdirSync(path.join(dir, 'models'), { recursive: true });
  writeSegments(path.join(dir, 'models', 'big.onnx'), buildLarge({ initializerBytes: ONNX_BYTES, initializers: 8 }).segments());
  const tfl = new TfliteBuilder()
    .description('bench detector')
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('input', 'float32', [1, 64, 64, 3])
        .tensor('w', 'float32', [8, 3, 3, 3], { data: crypto.randomBytes(8 * 27 * 4) })
        .tensor('out', 'float32', [1, 62, 62, 8])
        .operator('CONV_2D', [0, 1], [2])
        .inputs([0])
        .outputs([2]),
    )
    .build();
  fs.writeFileSync(path.join(dir, 'models', 'det.tflite'), tfl);
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < SMALL_FILES; i++) {
    const sub = path.join(dir, 'files', `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(sub, { recursive: true });
    const n = 200 + Math.floor(rnd() * 4000);
    fs.writeFileSync(path.join(sub, `f${i}.${i % 3 === 0 ? 'bin' : 'txt'}`), i % 3 === 0 ? crypto.randomBytes(n) : 'lorem ipsum '.repeat(n / 12));
  }
  return dir;
}

function sha256sumMs(file: string): number {
  execFileSync('sha256sum', [file], { stdio: 'ignore' }); // warm the page cache for both contenders
  return Math.min(
    time(() => execFileSync('sha256sum', [file], { stdio: 'ignore' })),
    time(() => execFileSync('sha256sum', [file], { stdio: 'ignore' })),
  );
}

function scanOnce(file: string, onlyFormats?: string): { ms: number; maxRssMiB: number; models: string[]; files: number } {
  const env = onlyFormats === undefined ? process.env : { ...process.env, AIBOM_BENCH_FORMATS: onlyFormats };
  const r = spawnSync(process.execPath, [path.join(here, 'scan-child.js'), file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env });
  if (r.status !== 0) throw new Error(`scan failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; maxRssMiB: number; models: string[]; files: number };
}

it('scan throughput against sha256sum', () => {
  const t0 = performance.now();
  const dir = generate();
  const tar = path.join(tmp, 'bench.tar');
  const zip = path.join(tmp, 'bench.zip');
  execFileSync('tar', ['-cf', tar, '-C', dir, '.']);
  execFileSync('zip', ['-q', '-r', '-n', '.onnx:.tflite', zip, '.'], { cwd: dir });
  console.log(`generated inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s in ${tmp}`);
  const rows: string[] = ['| input | size | sha256sum | aibom scan | ratio | MB/s | peak RSS | models |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const file of [tar, zip]) {
    const size = fs.statSync(file).size;
    const ref = sha256sumMs(file);
    scanOnce(file); // warm-up (JIT, page cache)
    const runs = [scanOnce(file), scanOnce(file)];
    const best = runs.reduce((a, b) => (a.ms <= b.ms ? a : b));
    const rss = Math.max(...runs.map((r) => r.maxRssMiB));
    rows.push(
      `| ${path.basename(file)} | ${(size / 1e6).toFixed(0)} MB | ${(ref / 1000).toFixed(2)} s | ${(best.ms / 1000).toFixed(2)} s | ${(best.ms / ref).toFixed(2)}x | ${(size / 1e6 / (best.ms / 1000)).toFixed(0)} | ${rss.toFixed(0)} MiB | ${best.models.length} |`,
    );
    if (best.models.length !== 2) throw new Error(`expected 2 models in ${file}, found: ${best.models.join(', ')}`);
  }
  console.log(`\n${rows.join('\n')}\n`);

  // What every registered model format costs a scan, against ONNX and TFLite alone: the tar above and
  // the folder of small files (each item is probed by every detector whose signature is present, plus
  // the structural ones). Alternating runs, best of three each.
  const cost: string[] = ['| input | ONNX + TFLite only | all formats | difference |', '| --- | --- | --- | --- |'];
  for (const input of [tar, path.join(dir, 'files')]) {
    scanOnce(input);
    const few: number[] = [];
    const all: number[] = [];
    for (let i = 0; i < 3; i++) {
      few.push(scanOnce(input, 'onnx,tflite').ms);
      all.push(scanOnce(input).ms);
    }
    const a = Math.min(...few);
    const b = Math.min(...all);
    cost.push(
      `| ${input === tar ? 'bench.tar' : `folder of ${SMALL_FILES} small files`} | ${(a / 1000).toFixed(2)} s | ${(b / 1000).toFixed(2)} s | ${(((b - a) / a) * 100).toFixed(1)} % |`,
    );
  }
  console.log(`\n${cost.join('\n')}\n`);
});
