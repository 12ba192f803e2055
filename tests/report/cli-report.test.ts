import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scan, type Inventory } from '../../src/index.js';
import { encoders } from '../../src/report/index.js';
import { planOutputs } from '../../src/report/outputs.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { buildZip, TfliteBuilder } from '../builders/tflite-builder.js';
import { validateReport } from '../helpers/validate-report.js';

// A real scan of a small builder-made folder through every encoder, and the CLI surface of issue 9
// (`scan -f ... -o FORMAT=PATH --output-dir`, `report inventory.json`), run as a user runs it: the
// built CLI (`npm test` compiles first).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'aibom.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-report-cli-'));
let inv: Inventory;

function aibom(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: tmp });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  const d = path.join(tmp, 'input');
  fs.mkdirSync(path.join(d, 'vendor'), { recursive: true });
  const onnx = new OnnxBuilder()
    .producer('aibom-test', '1.0')
    .opset('', 17)
    .opset('com.microsoft', 1)
    .input('image', 'float32', [1, 3, 'H', 'W'])
    .initializer('w', 'float32', [8, 3, 3, 3])
    .node('Conv', ['image', 'w'], ['c'])
    .node('FusedGelu', ['c'], ['y'], { domain: 'com.microsoft' })
    .output('y', 'float32', [1, 8, null, null])
    .build();
  const tfl = new TfliteBuilder()
    .subgraph((sg) => sg.name('main').tensor('input', 'float32', [1, 4]).tensor('out', 'float32', [1, 4]).operator('RELU', [0], [1]).inputs([0]).outputs([1]))
    .modelMetadata({ name: 'tiny', license: 'MIT' })
    .build();
  fs.writeFileSync(path.join(d, 'vendor', 'seg.onnx'), onnx);
  fs.writeFileSync(path.join(d, 'vendor', 'fake.tflite'), 'not a model\n');
  fs.writeFileSync(
    path.join(d, 'app.apk'),
    buildZip(
      [
        ['assets/m.tflite', tfl],
        ['assets/seg.onnx', onnx],
      ],
      0,
    ),
  );
  inv = await scan([d], { toolVersion: '0.0.0-test' });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('reports of a real scan', () => {
  it('every encoder encodes it, and the standard formats validate', async () => {
    expect(inv.components.filter((c) => c.kind === 'model').length).toBeGreaterThanOrEqual(2);
    expect(inv.problems.length).toBeGreaterThan(0);
    for (const e of encoders) {
      const out = e.encode(inv, {});
      expect(out.length, e.id).toBeGreaterThan(0);
      await validateReport(e.id, out);
    }
  });
});

describe('planning outputs', () => {
  const plan = (format: string[], output: string[], outputDir?: string) =>
    planOutputs({ format, output, ...(outputDir !== undefined ? { outputDir } : {}) }).map((p) => [p.encoder.id, p.path]);
  it('keeps `-f F -o PATH`, defaults to summary on stdout', () => {
    expect(plan([], [])).toEqual([['summary', undefined]]);
    expect(plan(['json'], ['inv.json'])).toEqual([['json', 'inv.json']]);
  });
  it('FORMAT=PATH implies the format; --output-dir takes the rest', () => {
    expect(plan(['json'], ['sarif=x.sarif'], 'out')).toEqual([
      ['json', path.join('out', 'aibom.json')],
      ['sarif', 'x.sarif'],
    ]);
  });
  it('refuses ambiguity and unknown formats', () => {
    expect(() => plan(['json', 'sarif'], [])).toThrow(/stdout/);
    expect(() => plan(['json', 'sarif'], ['x'])).toThrow(/ambiguous/);
    expect(() => plan(['yaml'], [])).toThrow(/unknown format 'yaml'/);
    expect(() => plan([], ['sarif=a', 'sarif=b'])).toThrow(/two output paths/);
  });
});

describe('aibom scan and report on the command line', () => {
  it('one scan writes several formats; report converts the saved inventory to the same bytes', () => {
    const r = aibom(
      'scan',
      'input',
      '-q',
      '-f',
      'json',
      '-o',
      'json=inv.json',
      '-f',
      'cyclonedx',
      '-f',
      'sarif',
      '-f',
      'csv',
      '-f',
      'spdx',
      '-f',
      'markdown',
      '--lang',
      'zh',
      '--output-dir',
      'a',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(path.join(tmp, 'a')).sort()).toEqual([
      'aibom.cdx.json',
      'aibom.components.csv',
      'aibom.md',
      'aibom.models.csv',
      'aibom.problems.csv',
      'aibom.sarif',
      'aibom.spdx.json',
    ]);
    const r2 = aibom('report', 'inv.json', '-f', 'cyclonedx', '-f', 'sarif', '-f', 'csv', '-f', 'spdx', '-f', 'markdown', '--lang', 'zh', '--output-dir', 'b');
    expect(r2.code).toBe(0);
    for (const f of fs.readdirSync(path.join(tmp, 'a')))
      expect(fs.readFileSync(path.join(tmp, 'b', f), 'utf8'), f).toBe(fs.readFileSync(path.join(tmp, 'a', f), 'utf8'));
    expect(fs.readFileSync(path.join(tmp, 'a', 'aibom.md'), 'utf8')).toContain('AI 物料清单');
  });
  it('--spec-version 1.7 and a single report to stdout', async () => {
    const r = aibom('report', 'inv.json', '-f', 'cyclonedx', '--spec-version', '1.7');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).specVersion).toBe('1.7');
    await validateReport('cyclonedx', r.out);
  });
  it('refuses a bad inventory with one clear line and exit 2', () => {
    fs.writeFileSync(path.join(tmp, 'bad.json'), JSON.stringify({ schema: 'aibom/inventory@2', tool: { name: 'aibom', version: '1' } }));
    const r = aibom('report', 'bad.json', '-f', 'cyclonedx');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^aibom: 'bad\.json' is not a valid aibom\/inventory@2: subjects: .*\n$/);
    fs.writeFileSync(path.join(tmp, 'old.json'), JSON.stringify({ schema: 'aibom/inventory@1' }));
    expect(aibom('report', 'old.json').err).toMatch(/^aibom: 'old\.json' is not a valid aibom\/inventory@1: /);
    fs.writeFileSync(path.join(tmp, 'future.json'), JSON.stringify({ schema: 'aibom/inventory@9' }));
    expect(aibom('report', 'future.json').err).toBe("aibom: 'future.json' is aibom/inventory@9; this version reads aibom/inventory@2: scan again\n");
    fs.writeFileSync(path.join(tmp, 'notjson.json'), '{');
    expect(aibom('report', 'notjson.json').err).toMatch(/^aibom: 'notjson\.json' is not JSON: /);
    expect(aibom('report', 'missing.json').code).toBe(2);
  });
  it('reads a saved inventory@1: upgraded, its cards rebuilt by the formats', () => {
    const v1 = fileURLToPath(new URL('../golden/inventory-v1.json', import.meta.url));
    const r = aibom('report', v1, '-f', 'json');
    expect(r.code).toBe(0);
    const inv = JSON.parse(r.out) as { schema: string; components: { model?: { card: { name?: string } } }[] };
    expect(inv.schema).toBe('aibom/inventory@2');
    expect(inv.components.map((c) => c.model?.card.name)).toEqual(['Golden detector', 'graph']);
  });
  it('refuses two formats on stdout before scanning', () => {
    const r = aibom('scan', 'input', '-q', '-f', 'json', '-f', 'sarif');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/2 formats would go to stdout/);
  });
});
