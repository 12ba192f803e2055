import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scan } from '../../src/index.js';
import { listRules, runRulesTest, scanAnalyzers } from '../../src/runtimes/cli-rules.js';
import { builtinRules } from '../../src/runtimes/rules.js';
import { buildElf } from '../builders/elf-builder.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-cli-rules-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const acme = {
  schema: 'aibom/rules@1',
  rules: [{ id: 'acme-npu', name: 'Acme NPU runtime', kind: 'runtime', loads: ['acme'], matchers: [{ type: 'soname', pattern: '^libacme_npu\\.so$' }] }],
};

describe('aibom rules', () => {
  it('list: one line per rule with kind, name and matchers', () => {
    const text = listRules(builtinRules(), false);
    expect(text).toMatch(/^onnxruntime +runtime +ONNX Runtime +\[soname symbol-version symbol filename×2 pe-version package×2\]$/m);
    expect(text).toMatch(new RegExp(`^${builtinRules().length} rules$`, 'm'));
    expect(JSON.parse(listRules(builtinRules(), true))).toHaveLength(builtinRules().length);
  });

  it('test: a rules directory with fixtures passes; a missed positive, a false hit or a missing fixture fails', () => {
    const d = path.join(tmp, 'acme');
    fs.mkdirSync(path.join(d, 'fixtures/acme-npu'), { recursive: true });
    fs.mkdirSync(path.join(d, 'fixtures/negative'), { recursive: true });
    fs.writeFileSync(path.join(d, 'acme.json'), JSON.stringify(acme));
    fs.writeFileSync(path.join(d, 'fixtures/acme-npu/libacme_npu.so'), buildElf({ soname: 'libacme_npu.so' }));
    fs.writeFileSync(path.join(d, 'fixtures/negative/libother.so'), buildElf({ soname: 'libother.so' }));
    const ok = runRulesTest(d);
    expect(ok.ok).toBe(true);
    expect(ok.text).toContain('hit         acme-npu (1 fixture)');

    fs.writeFileSync(path.join(d, 'fixtures/acme-npu/libwrong.so'), buildElf({ soname: 'libwrong.so' }));
    fs.writeFileSync(path.join(d, 'fixtures/negative/libacme_npu.so'), buildElf({ soname: 'libacme_npu.so' }));
    const bad = runRulesTest(d);
    expect(bad.ok).toBe(false);
    expect(bad.text).toContain('MISSED      acme-npu: acme-npu/libwrong.so');
    expect(bad.text).toContain('FALSE HIT   negative/libacme_npu.so: acme-npu');

    const e = path.join(tmp, 'nofix');
    fs.mkdirSync(e);
    fs.writeFileSync(path.join(e, 'acme.json'), JSON.stringify(acme));
    expect(runRulesTest(e)).toEqual({ ok: false, text: 'NO FIXTURE  acme-npu\nFAILED\n' });
  });

  it('--rules: a scan runs the built-in rules extended by the directory', async () => {
    const d = path.join(tmp, 'user-rules');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'acme.json'), JSON.stringify(acme));
    const input = path.join(tmp, 'fw');
    fs.mkdirSync(input);
    fs.writeFileSync(path.join(input, 'libacme_npu.so'), buildElf({ soname: 'libacme_npu.so' }));
    fs.writeFileSync(path.join(input, 'libncnn.so'), buildElf({ soname: 'libncnn.so' }));
    expect(scanAnalyzers([])).toBeUndefined();
    const inv = await scan([input], { analyzers: scanAnalyzers([d])! });
    expect(inv.components.map((c) => c.name).sort()).toEqual(['Acme NPU runtime', 'ncnn']);
    const plain = await scan([input]);
    expect(plain.components.map((c) => c.name)).toEqual(['ncnn']);
  });
});
