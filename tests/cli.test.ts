import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
