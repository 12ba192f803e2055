import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { inventorySchema } from '../src/inventory/index.js';
import { corpusFiles, hasTool } from './helpers/corpus.js';
import { modelsOf } from './helpers/inventory.js';

// These run the built CLI (`npm test` compiles first), exactly as a user does.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'aibom.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-cli-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function aibom(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: tmp });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tflites = corpusFiles('tflite', '.tflite');
const onnxes = corpusFiles('onnx', '.onnx');

describe('aibom CLI', () => {
  it('exits 2 with one line on stderr for a path that does not exist', () => {
    const r = aibom('scan', 'nope.zip');
    expect(r.code).toBe(2);
    expect(r.err).toBe("aibom: cannot read 'nope.zip': no such file or directory\n");
    expect(r.out).toBe('');
  });

  it('exits 2 on bad usage', () => {
    expect(aibom('scan').code).toBe(2);
    expect(aibom('scan', '.', '--format', 'yaml').code).toBe(2);
    expect(aibom('scan', '.', '--max-depth', 'deep').code).toBe(2);
    expect(aibom('frobnicate').code).toBe(2);
  });

  it('prints its version and help with exit 0', () => {
    expect(aibom('--version').out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = aibom('scan', '--help');
    expect(h.code).toBe(0);
    expect(h.out).toContain('--max-decompressed');
  });

  it.skipIf(tflites.length === 0 || onnxes.length === 0)('scans a folder: summary on stdout, JSON to a file, no progress bar off a TTY', () => {
    const d = path.join(tmp, 'fw');
    fs.mkdirSync(d);
    const tfl = tflites.find((f) => f.includes('mobilenet_v1_0.25_224_quant.tflite'))!;
    fs.copyFileSync(tfl, path.join(d, 'cls.tflite'));
    fs.copyFileSync(onnxes.find((f) => f.includes('resnet50'))!, path.join(d, 'res.onnx'));
    const s = aibom('scan', 'fw');
    expect(s.code).toBe(0);
    expect(s.err).toBe('');
    expect(s.out).toMatch(/^aibom \S+: 1 input, 2 models, 0 problems\n/);
    expect(s.out).toContain('  fw/cls.tflite\n    tflite schema 3 · ');
    expect(s.out).toContain('  fw/res.onnx\n    onnx ir 3; opset ai.onnx 9 · ');
    const j = aibom('scan', 'fw', '--format', 'json', '-o', 'inv.json');
    expect(j.code).toBe(0);
    expect(j.out).toBe('');
    const inv = inventorySchema.parse(JSON.parse(fs.readFileSync(path.join(tmp, 'inv.json'), 'utf8')));
    expect(modelsOf(inv).map((m) => m.location)).toEqual(['fw/cls.tflite', 'fw/res.onnx']);
    // Byte-identical on a second run.
    aibom('scan', 'fw', '--format', 'json', '-o', 'inv2.json');
    expect(fs.readFileSync(path.join(tmp, 'inv2.json'))).toEqual(fs.readFileSync(path.join(tmp, 'inv.json')));
  });

  it.skipIf(tflites.length === 0)('inspect prints every metadata field of a model, and exits 2 for a non-model', () => {
    const tfl = tflites.find((f) => f.includes('mobilenet_v1_0.25_224_quant.tflite'))!;
    const r = aibom('inspect', tfl);
    expect(r.code).toBe(0);
    expect(r.out).toContain('format: tflite');
    expect(r.out).toContain('modelMetadata:');
    const j = aibom('inspect', tfl, '--format', 'json');
    const parsed = JSON.parse(j.out) as { models: { model: { format: string } }[] };
    expect(parsed.models[0]!.model.format).toBe('tflite');
    fs.writeFileSync(path.join(tmp, 'notes.txt'), 'hello\n');
    const n = aibom('inspect', 'notes.txt');
    expect(n.code).toBe(2);
    expect(n.err).toBe("aibom: no model found in 'notes.txt'\n");
  });

  it.skipIf(tflites.length === 0 || !hasTool('script'))('draws a progress bar on a terminal (even one that reports no width) and clears it', () => {
    const d = path.join(tmp, 'tty');
    fs.mkdirSync(d);
    for (const f of tflites) fs.copyFileSync(f, path.join(d, path.basename(f)));
    // `script` runs the CLI on a pseudo-terminal; its log holds what the terminal received.
    const log = path.join(tmp, 'tty.log');
    const r = spawnSync('script', ['-qc', `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} scan tty -o tty.txt`, log], {
      cwd: tmp,
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const screen = fs.readFileSync(log, 'utf8');
    expect(screen).toMatch(/\r\[[#.]{20}\] [\d.]+ (B|KiB|MiB)\/8\.\d MiB · \d+ models? · /);
    expect(screen).not.toContain('fatal');
    expect(fs.readFileSync(path.join(tmp, 'tty.txt'), 'utf8')).toContain(`: 1 input, ${tflites.length} models`);
  });
});

describe('aibom CLI interrupted', () => {
  // A scan that spills decoded bytes to its private temp area (a 256 MiB gzip member, a 1 MiB memory
  // budget), stopped by a signal once that area exists: it must exit 130 / 143 and leave no temp files.
  const input = path.join(tmp, 'big.gz');
  const makeInput = async (): Promise<void> => {
    if (fs.existsSync(input)) return;
    const chunk = new Uint8Array(16 * 1024 * 1024);
    for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
    const gz = zlib.createGzip({ level: 0 });
    const out = fs.createWriteStream(input);
    gz.pipe(out);
    for (let i = 0; i < 16; i++) gz.write(chunk);
    gz.end();
    await new Promise<void>((resolve) => out.on('close', () => resolve()));
  };

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s: exit %d, temp area removed', async (signal, code) => {
    await makeInput();
    const scratch = fs.mkdtempSync(path.join(tmp, `sig-${signal}-`));
    const child = spawn(process.execPath, [bin, 'scan', input, '-q', '--memory-budget', '1M', '-o', path.join(tmp, `${signal}.txt`)], {
      env: { ...process.env, TMPDIR: scratch },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    // Wait for the scan's temp area to appear (the spill has started), then interrupt.
    const t0 = Date.now();
    while (fs.readdirSync(scratch).length === 0 && Date.now() - t0 < 20_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    expect(fs.readdirSync(scratch).length, 'the scan spilled to its temp area before the signal').toBe(1);
    child.kill(signal);
    expect(await exited).toBe(code);
    expect(stderr).toContain(`interrupted by ${signal}`);
    expect(fs.readdirSync(scratch)).toEqual([]);
    expect(fs.existsSync(path.join(tmp, `${signal}.txt`))).toBe(false);
  });
});
