import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, it } from 'vitest';
import { buildLarge, writeSegments } from '../tests/builders/onnx-builder.js';
import { TfliteBuilder } from '../tests/builders/tflite-builder.js';

// Generated at run time, never committed: an ext4 image of at least 2 GB and a squashfs-xz image,
// each holding models and many small files. For each: the scan's wall time and peak RSS (in a process
// of its own) and, in the same run, the reference pipeline: extract everything with the Debian tool
// (debugfs rdump / unsquashfs) into a temp folder, then sha256sum over the model files.
// Target: faster than the pipeline, peak RSS under 300 MB.
const EXT4_SIZE_MB = Number(process.env.AIBOM_BENCH_EXT4_MB ?? 2300);
const SMALL_FILES = Number(process.env.AIBOM_BENCH_SMALL_FILES ?? 10000);
const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-bench-img-'));
afterAll(() => {
  if (process.env.AIBOM_BENCH_KEEP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
});

const have = (t: string): boolean => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;

function tree(dir: string, onnxBytes: number, randomBytes: number): string[] {
  fs.mkdirSync(path.join(dir, 'system/app/Pay/assets'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'vendor/etc/models'), { recursive: true });
  const models = ['system/app/Pay/assets/det.onnx', 'vendor/etc/models/ocr.tflite'];
  writeSegments(path.join(dir, models[0]!), buildLarge({ initializerBytes: onnxBytes, initializers: 4 }).segments());
  const w = crypto.randomBytes(64 * 1024);
  const tfl = new TfliteBuilder()
    .subgraph((sg) =>
      sg
        .name('main')
        .tensor('in', 'float32', [1, 64])
        .tensor('w', 'int8', [1024, 64], { data: w })
        .tensor('out', 'float32', [1, 1024])
        .operator('FULLY_CONNECTED', [0, 1], [2])
        .inputs([0])
        .outputs([2]),
    )
    .build();
  fs.writeFileSync(path.join(dir, models[1]!), tfl);
  // An incompressible blob (a firmware blob, a media file): the pipeline extracts it, we only probe it.
  const fd = fs.openSync(path.join(dir, 'vendor/firmware.bin'), 'w');
  for (let left = randomBytes; left > 0; left -= 8 << 20) fs.writeSync(fd, crypto.randomBytes(Math.min(left, 8 << 20)));
  fs.closeSync(fd);
  let seed = 11;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < SMALL_FILES; i++) {
    const sub = path.join(dir, 'system/lib', `d${Math.floor(i / 200)}`);
    if (i % 200 === 0) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}.so`), i % 2 === 0 ? crypto.randomBytes(100 + Math.floor(rnd() * 6000)) : 'x'.repeat(100 + Math.floor(rnd() * 6000)));
  }
  return models;
}

function scanOnce(file: string): { ms: number; maxRssMiB: number; models: string[]; files: number } {
  const r = spawnSync(process.execPath, [path.join(here, 'scan-child.js'), file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`scan failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; maxRssMiB: number; models: string[]; files: number };
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function row(name: string, img: string, pipelineMs: number, scan: { ms: number; maxRssMiB: number; models: string[] }): string {
  const mb = fs.statSync(img).size / 1e6;
  return `| ${name} | ${mb.toFixed(0)} MB | ${(pipelineMs / 1000).toFixed(2)} s | ${(scan.ms / 1000).toFixed(2)} s | ${(scan.ms / pipelineMs).toFixed(2)}x | ${(mb / (scan.ms / 1000)).toFixed(0)} | ${scan.maxRssMiB.toFixed(0)} MiB | ${scan.models.length} |`;
}

it('image scan throughput against the extract-then-hash pipeline', () => {
  const rows = ['| image | size | extract + sha256sum | aibom scan | ratio | MB/s | peak RSS | models |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  if (have('mke2fs') && have('debugfs')) {
    const src = path.join(tmp, 'ext4-src');
    const models = tree(src, 1.1e9, 600e6);
    const img = path.join(tmp, 'system.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, img, `${EXT4_SIZE_MB}M`]);
    fs.rmSync(src, { recursive: true, force: true });
    const out = path.join(tmp, 'ext4-out');
    const pipeline = (): number =>
      timed(() => {
        fs.rmSync(out, { recursive: true, force: true });
        fs.mkdirSync(out);
        execFileSync('debugfs', ['-R', `rdump / ${out}`, img], { stdio: 'ignore' });
        execFileSync(
          'sha256sum',
          models.map((m) => path.join(out, m)),
          { stdio: 'ignore' },
        );
      });
    pipeline(); // warm the page cache for both contenders
    const ref = Math.min(pipeline(), pipeline());
    fs.rmSync(out, { recursive: true, force: true });
    scanOnce(img);
    const best = [scanOnce(img), scanOnce(img)].reduce((a, b) => (a.ms <= b.ms ? a : b));
    rows.push(row('ext4 (mke2fs -d)', img, ref, best));
    fs.rmSync(img);
  } else console.log('SKIP: mke2fs/debugfs absent: no ext4 figures');
  if (have('mksquashfs') && have('unsquashfs')) {
    const src = path.join(tmp, 'sq-src');
    const models = tree(src, 200e6, 100e6);
    const img = path.join(tmp, 'rootfs.squashfs');
    execFileSync('mksquashfs', [src, img, '-comp', 'xz', '-noappend', '-quiet'], { stdio: 'ignore' });
    fs.rmSync(src, { recursive: true, force: true });
    const out = path.join(tmp, 'sq-out');
    const pipeline = (): number =>
      timed(() => {
        fs.rmSync(out, { recursive: true, force: true });
        execFileSync('unsquashfs', ['-q', '-n', '-d', out, img], { stdio: 'ignore' });
        execFileSync(
          'sha256sum',
          models.map((m) => path.join(out, m)),
          { stdio: 'ignore' },
        );
      });
    pipeline();
    const ref = Math.min(pipeline(), pipeline());
    fs.rmSync(out, { recursive: true, force: true });
    scanOnce(img);
    const best = [scanOnce(img), scanOnce(img)].reduce((a, b) => (a.ms <= b.ms ? a : b));
    rows.push(row('squashfs xz (mksquashfs)', img, ref, best));
  } else console.log('SKIP: mksquashfs/unsquashfs absent: no squashfs figures');
  console.log(`\n${rows.join('\n')}\n`);
});
