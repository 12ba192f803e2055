import { describe, expect, it } from 'vitest';
import { markdown, mdText } from '../../src/report/markdown.js';
import { buildInventory, inventoryWithUnknownKind } from '../builders/inventory-builder.js';
import { validateReport } from '../helpers/validate-report.js';
import { golden } from './golden.js';

const inv = buildInventory();

describe('markdown encoder', () => {
  it('matches its golden files in English and Chinese', async () => {
    const en = markdown.encode(inv);
    const zh = markdown.encode(inv, { lang: 'zh' });
    await validateReport('markdown', en);
    golden('report.en.md', en);
    golden('report.zh.md', zh);
    expect(markdown.encode(inv, { lang: 'en' })).toBe(en);
  });
  it('has a section per model and every problem, with the headline counts', () => {
    const md = markdown.encode(inv);
    for (const m of inv.components.filter((c) => c.kind === 'model')) expect(md).toContain(`### ${mdText(m.name)}`);
    expect(md).toContain('2 inputs, 4 models, 5 problems (1 error)');
    expect(md.match(/^\| (error|warning|info) \|/gm)).toHaveLength(inv.problems.length);
  });
  it('Chinese output uses the Chinese strings throughout', () => {
    const zh = markdown.encode(inv, { lang: 'zh' });
    expect(zh).toContain('# AI 物料清单');
    expect(zh).toContain('2 个输入，4 个模型，5 个问题（1 个错误）');
    for (const english of ['## Models', '## Problems', 'Licence', 'Where they sit']) expect(zh).not.toContain(english);
  });
  it('escapes inventory text: no HTML, no table break, no emphasis', () => {
    expect(mdText('a|b <script>*x*_y_ [l](u)\nz')).toBe('a\\|b &lt;script&gt;\\*x\\*\\_y\\_ \\[l\\](u)<br>z');
    const md = markdown.encode(inv);
    expect(md).toContain('cannot read, &lt;yet&gt;.');
    expect(md).not.toContain('<yet>');
  });
  it('a component of a kind added later is listed under other components', () => {
    const md = markdown.encode(inventoryWithUnknownKind());
    expect(md).toMatch(/## Other components[\s\S]*\| accelerator \| librknnrt\.so \|/);
  });
});
