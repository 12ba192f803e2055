import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { createProbe } from '../../src/probe.js';
import { globToRegExp, RuleEngine, reportsOf } from '../../src/runtimes/engine.js';
import { ruleSchema, rulesFileSchema } from '../../src/runtimes/rule-schema.js';
import { builtinRules, builtinRulesDir, loadRules, RulesError } from '../../src/runtimes/rules.js';
import { testRules } from '../../src/runtimes/rules-test.js';
import { buildElf } from '../builders/elf-builder.js';
import { EXPLICIT, NEGATIVES, positivesOf, writeFixtures } from './rule-fixtures.js';
import { ortBinding, ortLibrary, tesseractLibrary } from './real-binaries.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-rules-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rules = builtinRules();
const engine = new RuleEngine(rules);
function analyze(name: string, bytes: Uint8Array) {
  const src = new BufferSource(bytes);
  const probe = createProbe(src, name);
  const problems: unknown[] = [];
  const r = engine.analyze({ name, size: src.size, source: src, head: probe.head }, (e) => problems.push(e));
  return { ...r, reports: reportsOf(r.hits, r.arch), problems };
}

describe('built-in rules', () => {
  it('load, validate and have unique ids', () => {
    expect(rules.length).toBeGreaterThanOrEqual(90);
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    for (const f of fs.readdirSync(builtinRulesDir())) {
      if (f.endsWith('.json')) expect(rulesFileSchema.safeParse(JSON.parse(fs.readFileSync(path.join(builtinRulesDir(), f), 'utf8'))).success).toBe(true);
    }
  });

  it('cover the runtimes, SDKs and services issue 8 lists', () => {
    const ids = new Set(rules.map((r) => r.id));
    for (const id of [
      'onnxruntime',
      'onnxruntime-jni',
      'onnxruntime-node',
      'onnxruntime-web',
      'tflite',
      'tflite-gpu-delegate',
      'tflite-xnnpack-delegate',
      'tflite-hexagon-delegate',
      'tflite-nnapi-delegate',
      'tflite-flex-delegate',
      'android-nnapi',
      'ncnn',
      'mnn',
      'paddle-lite',
      'tnn',
      'tengine',
      'rknn-runtime',
      'snpe',
      'qnn',
      'neuropilot',
      'huawei-hiai',
      'huawei-cann',
      'mindspore-lite',
      'opencv-dnn',
      'openvino',
      'tensorrt',
      'pytorch-mobile',
      'executorch',
      'libtorch',
      'mediapipe',
      'tesseract',
      'tesseract-js',
      'llama-cpp',
      'ggml',
      'whisper-cpp',
      'sherpa-onnx',
      'vosk',
      'kaldi',
      'arcsoft-face',
      'sensetime-stmobile',
      'megvii-facepp',
      'baidu-ocr',
      'baidu-face',
      'iflytek-msc',
      'google-mlkit',
      'tfjs',
      'openai',
      'azure-openai',
      'anthropic',
      'google-gemini',
      'google-vertex-ai',
      'aws-bedrock',
      'aws-rekognition',
      'baidu-qianfan',
      'alibaba-dashscope',
      'tencent-hunyuan',
      'zhipu',
      'iflytek-spark',
      'moonshot',
      'deepseek',
      'volcengine-ark',
      'minimax',
      'sensetime-sensenova',
      'faceplusplus',
      'huawei-modelarts',
      'langchain',
      'llamaindex',
      'autogen',
      'mcp',
    ]) {
      expect(ids.has(id), id).toBe(true);
    }
  });

  it('every rule has a positive fixture (meta-test), and no hand-made fixture names an unknown rule', () => {
    for (const r of rules) expect(positivesOf(r).length, `rule ${r.id} has no positive fixture`).toBeGreaterThan(0);
    const ids = new Set(rules.map((r) => r.id));
    for (const id of Object.keys(EXPLICIT)) expect(ids.has(id), id).toBe(true);
  });

  it('every rule hits its positives and no rule hits the negatives (through the `rules test` runner)', () => {
    const dir = path.join(tmp, 'fixtures');
    writeFixtures(dir, rules);
    const report = testRules(rules, dir);
    expect(report.rules.filter((r) => r.positives === 0).map((r) => r.id)).toEqual([]);
    expect(report.rules.filter((r) => r.missed.length > 0).map((r) => `${r.id}: ${r.missed.join(', ')}`)).toEqual([]);
    expect(report.falseHits).toEqual([]);
    expect(report.unknownFolders).toEqual([]);
  });

  it.each(NEGATIVES.map(([n, b]) => [n, b] as const))('stays silent on the negative %s', (name, bytes) => {
    expect(analyze(name, bytes).reports).toEqual([]);
  });

  it('a version is read from bytes with its evidence, and purl/CPE are filled from it', () => {
    const [r] = analyze('librknnrt.so', buildElf({ soname: 'librknnrt.so', rodata: 'x\0librknnrt version: 1.5.2 (c6b7b351a@2023-08-23)\0' })).reports;
    expect(r).toMatchObject({ kind: 'runtime', name: 'Rockchip RKNN runtime', version: '1.5.2', evidence: { confidence: 'high' } });
    expect(r!.software.purl).toBe('pkg:generic/rockchip/librknnrt@1.5.2');
    expect(r!.software.properties!.versionEvidence).toBe('content: .rodata: librknnrt version: 1.5.2');
    expect(r!.software.properties!.abi).toBe('arm64-v8a');
  });

  it('an ELF with its section headers stripped: SONAME from PT_DYNAMIC, version strings from the ends of the file', () => {
    const [r] = analyze(
      'librknnrt.so',
      buildElf({ soname: 'librknnrt.so', stripSections: true, rodata: 'x\0librknnrt version: 1.6.0 (9a7b5d24c@2023-12-13)\0' }),
    ).reports;
    expect(r).toMatchObject({ name: 'Rockchip RKNN runtime', version: '1.6.0' });
    expect(r!.evidence.detail).toContain('soname: SONAME librknnrt.so');
    expect(r!.software.properties!.versionEvidence).toBe('content: content: librknnrt version: 1.6.0');
  });

  it('no version without bytes stating it: the purl drops it and the CPE says *', () => {
    const [r] = analyze('libncnn.so', buildElf({ soname: 'libncnn.so' })).reports;
    expect(r!.version).toBeUndefined();
    expect(r!.software.purl).toBe('pkg:github/tencent/ncnn');
    expect(r!.software.cpe).toBe('cpe:2.3:a:tencent:ncnn:*:*:*:*:*:*:*:*');
  });

  it('a name that carries the version (when the rule says so) gives medium confidence', () => {
    const custom = ruleSchema.parse({
      id: 'acme-nn',
      name: 'Acme NN',
      kind: 'runtime',
      matchers: [
        { type: 'filename', glob: 'libacme_nn-*.so', fileType: 'elf', confidence: 'high', versionFromName: 'libacme_nn-(?<version>\\d+\\.\\d+)\\.so' },
      ],
    });
    const e = new RuleEngine([custom]);
    const src = new BufferSource(buildElf({}));
    const hits = e.analyze({ name: 'libacme_nn-2.4.so', size: src.size, source: src, head: src.read(0, 64) }, () => undefined).hits;
    const [r] = reportsOf(hits, undefined);
    expect(r).toMatchObject({ version: '2.4', evidence: { confidence: 'medium', technique: 'filename' } });
  });

  it('a service is keyed by rule and host, with credentials redacted from the matched text', () => {
    const { reports } = analyze(
      'app.env',
      new TextEncoder().encode(
        'OPENAI_URL=https://api.openai.com/v1?api_key=sk-abcdefghijklmnopqrstuvwxyz123456\nAZURE=https://contoso.openai.azure.com/openai\n',
      ),
    );
    expect(reports.map((r) => [r.kind, r.name, r.key, r.software.endpoint])).toEqual([
      ['service', 'Azure OpenAI Service', ['azure-openai', 'contoso.openai.azure.com'], 'contoso.openai.azure.com'],
      ['service', 'OpenAI API', ['openai', 'api.openai.com'], 'api.openai.com'],
    ]);
    const detail = reports[1]!.evidence.detail;
    expect(detail).toContain('https://api.openai.com/v1?api_key=[REDACTED]');
    expect(detail).not.toContain('sk-abc');
  });

  it('a corrupt ELF named like a runtime is a problem, not a crash, and its name alone is not evidence', () => {
    const bad = buildElf({ soname: 'libtensorflowlite_jni.so' }).slice(0, 200);
    const r = analyze('libtensorflowlite_jni.so', bad);
    expect(r.problems).toHaveLength(1);
    expect(String(r.problems[0])).toMatch(/ELF/);
    // The file name still hits (medium): the ELF magic is there, the tables are not readable.
    expect(r.reports.map((x) => [x.name, x.evidence.confidence])).toEqual([['TensorFlow Lite / LiteRT', 'medium']]);
  });

  it("NEEDED and needed symbol versions are evidence of use, never the using library's own version", () => {
    const user = ruleSchema.parse({
      id: 'ort-user',
      name: 'ONNX Runtime consumer',
      kind: 'sdk',
      matchers: [
        { type: 'needed', pattern: '^libonnxruntime\\.so' },
        { type: 'symbol-version', pattern: '^VERS_(?<version>\\d+\\.\\d+\\.\\d+)$', defined: false },
        { type: 'symbol', pattern: '^OrtGetApiBase$', defined: false },
      ],
    });
    const e = new RuleEngine([user]);
    const lib = buildElf({
      soname: 'libapp.so',
      needed: ['libonnxruntime.so.1'],
      symbols: [{ name: 'OrtGetApiBase', defined: false, version: 'VERS_1.20.0' }],
      versionNeeds: [{ file: 'libonnxruntime.so.1', versions: ['VERS_1.20.0'] }],
    });
    const src = new BufferSource(lib);
    const { hits } = e.analyze({ name: 'libapp.so', size: src.size, source: src, head: src.read(0, 64) }, () => undefined);
    const [r] = reportsOf(hits, undefined);
    expect(r!.version).toBeUndefined();
    // Strongest evidence first (high before medium).
    expect(r!.evidence.detail).toBe(
      'symbol: imports symbol OrtGetApiBase@VERS_1.20.0; symbol-version: needs symbol version VERS_1.20.0 from libonnxruntime.so.1; needed: NEEDED libonnxruntime.so.1',
    );
    // The same library exporting the symbol does not match an import matcher.
    const exp = new BufferSource(buildElf({ soname: 'libx.so', symbols: [{ name: 'OrtGetApiBase' }] }));
    expect(e.analyze({ name: 'libx.so', size: exp.size, source: exp, head: exp.read(0, 64) }, () => undefined).hits).toEqual([]);
  });

  it('globs', () => {
    expect(globToRegExp('libonnxruntime.so{,.[0-9]*}').test('libonnxruntime.so.1')).toBe(true);
    expect(globToRegExp('libonnxruntime.so{,.[0-9]*}').test('libonnxruntime.so')).toBe(true);
    expect(globToRegExp('libonnxruntime.so{,.[0-9]*}').test('libonnxruntime.so.txt')).toBe(false);
    expect(globToRegExp('lib?.so').test('liba.so')).toBe(true);
    expect(globToRegExp('[!a]b').test('ab')).toBe(false);
  });
});

describe('real binaries (read from node_modules in place)', () => {
  it('onnxruntime-node libonnxruntime.so.1: ONNX Runtime with the version of its VERS_ symbols', (ctx) => {
    const lib = ortLibrary();
    if (lib === undefined) return ctx.skip();
    const src = FileSource.open(lib.path);
    try {
      const probe = createProbe(src, 'libonnxruntime.so.1');
      const r = engine.analyze({ name: probe.name, size: src.size, source: src, head: probe.head }, () => undefined);
      const [rep] = reportsOf(r.hits, r.arch);
      expect(rep).toMatchObject({
        kind: 'runtime',
        name: 'ONNX Runtime',
        version: lib.version,
        evidence: { confidence: 'high', technique: 'binary-analysis' },
      });
      expect(rep!.software.purl).toBe(`pkg:github/microsoft/onnxruntime@${lib.version}`);
      expect(rep!.software.properties!.versionEvidence).toBe(`symbol-version: defines symbol version VERS_${lib.version}`);
    } finally {
      src.close();
    }
  });
  it('onnxruntime-node onnxruntime_binding.node: the Node binding, without claiming the runtime version as its own', (ctx) => {
    const b = ortBinding();
    if (b === undefined) return ctx.skip();
    const src = FileSource.open(b.path);
    try {
      const probe = createProbe(src, 'onnxruntime_binding.node');
      const r = engine.analyze({ name: probe.name, size: src.size, source: src, head: probe.head }, () => undefined);
      const reps = reportsOf(r.hits, r.arch);
      expect(reps.map((x) => [x.name, x.version])).toEqual([['ONNX Runtime Node.js binding', undefined]]);
    } finally {
      src.close();
    }
  });
});

describe('real Debian binaries (installed by .ci/run, read in place)', () => {
  it('libtesseract5: Tesseract with the version its hOCR template states', (ctx) => {
    const lib = tesseractLibrary();
    if (lib === undefined) return ctx.skip();
    const src = FileSource.open(lib.path);
    try {
      const probe = createProbe(src, path.basename(lib.path));
      const r = engine.analyze({ name: probe.name, size: src.size, source: src, head: probe.head }, () => undefined);
      const reps = reportsOf(r.hits, r.arch);
      expect(reps.map((x) => [x.name, x.version, x.evidence.confidence])).toEqual([['Tesseract OCR', lib.version, 'high']]);
      expect(reps[0]!.software.properties!.versionEvidence).toBe(`content: .rodata: content='tesseract ${lib.version}'`);
    } finally {
      src.close();
    }
  });
});

describe('real Windows binaries (read from node_modules in place)', () => {
  it('onnxruntime-node win32 onnxruntime.dll and onnxruntime_binding.node: version resource and imports', (ctx) => {
    const lib = ortLibrary();
    const dir = lib && path.resolve(path.dirname(lib.path), '../../win32/x64');
    if (lib === undefined || dir === undefined || !fs.existsSync(path.join(dir, 'onnxruntime.dll'))) return ctx.skip();
    const run = (name: string) => {
      const src = FileSource.open(path.join(dir, name));
      try {
        const probe = createProbe(src, name);
        const r = engine.analyze({ name, size: src.size, source: src, head: probe.head }, () => undefined);
        return reportsOf(r.hits, r.arch);
      } finally {
        src.close();
      }
    };
    const [ort] = run('onnxruntime.dll');
    expect(ort).toMatchObject({ name: 'ONNX Runtime', version: lib.version, evidence: { confidence: 'high' } });
    expect(ort!.software.properties!.abi).toBe('x86_64');
    expect(run('onnxruntime_binding.node').map((r) => r.name)).toEqual(['ONNX Runtime Node.js binding']);
    expect(run('DirectML.dll').map((r) => [r.name, r.version])).toEqual([['DirectML', '1.15.4']]);
  });
});

describe('user rules', () => {
  const write = (dir: string, name: string, body: unknown): void => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, name), JSON.stringify(body));
  };
  it('extend the built-in rules and override them by id', () => {
    const dir = path.join(tmp, 'user');
    write(dir, 'mine.json', {
      schema: 'aibom/rules@1',
      rules: [
        { id: 'ncnn', name: 'ncnn (vendor fork)', kind: 'runtime', matchers: [{ type: 'soname', pattern: '^libncnn_vendor\\.so$' }] },
        { id: 'acme-npu', name: 'Acme NPU', kind: 'runtime', matchers: [{ type: 'soname', pattern: '^libacme_npu\\.so$' }] },
      ],
    });
    const all = loadRules([dir]);
    expect(all.length).toBe(rules.length + 1);
    expect(all.find((r) => r.id === 'ncnn')!.name).toBe('ncnn (vendor fork)');
    expect(all.find((r) => r.id === 'acme-npu')).toBeDefined();
  });
  it('invalid rules are refused with the file and field named', () => {
    const dir = path.join(tmp, 'bad');
    write(dir, 'bad.json', { schema: 'aibom/rules@1', rules: [{ id: 'x', name: 'X', kind: 'runtime', matchers: [{ type: 'soname', pattern: '([' }] }] });
    expect(() => loadRules([dir])).toThrow(RulesError);
    expect(() => loadRules([dir])).toThrow(/bad\.json': rules\.0\.matchers\.0\.pattern: not a valid regular expression/);
    const dup = path.join(tmp, 'dup');
    const r = { id: 'y', name: 'Y', kind: 'runtime', matchers: [{ type: 'soname', pattern: 'y' }] };
    write(dup, 'a.json', { schema: 'aibom/rules@1', rules: [r] });
    write(dup, 'b.json', { schema: 'aibom/rules@1', rules: [r] });
    expect(() => loadRules([dup])).toThrow(/appears twice/);
    const ep = path.join(tmp, 'ep');
    write(ep, 'a.json', { schema: 'aibom/rules@1', rules: [{ id: 'z', name: 'Z', kind: 'runtime', matchers: [{ type: 'endpoint', host: 'api.z.test' }] }] });
    expect(() => loadRules([ep])).toThrow(/endpoint matchers belong to cloud-service rules/);
  });
});
