import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentId } from '../../src/inventory/ids.js';
import type { Component, Inventory, ModelComponent } from '../../src/inventory/schema.js';
import { encoderById } from '../../src/report/index.js';
import { esc, html, scriptJson } from '../../src/report/html.js';
import { buildInventory, fakeSha256 } from '../builders/inventory-builder.js';
import { golden } from './golden.js';

const inv = buildInventory();
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) console.warn(`${CHROMIUM} absent (apt-get install chromium): the HTML page tests in a browser are skipped`);

/** Screenshots and pages for a person to look at; kept after the run, path printed. */
const shots = path.join(os.tmpdir(), 'aibom-html-review');

/** The builder inventory with a hostile model name and description, and a problem message that tries to close the JSON script. */
function hostileInventory(): Inventory {
  const comps = inv.components.map((c): Component => {
    if (c.kind !== 'model' || c.name !== 'Golden detector') return c;
    return {
      ...c,
      name: '<img src=x onerror="document.title=1">',
      model: { ...c.model, card: { ...c.model.card, description: '</script><script>document.title="pwned"</script>' } },
    };
  });
  const problems = [...inv.problems, { location: 'x', severity: 'warning' as const, code: '<b>', message: '<!-- </script> \u2028 & "quoted"' }];
  return { ...inv, components: comps, problems };
}

/** The builder inventory plus `n` generated models in four formats: the 10,000-model page. */
function bigInventory(n: number): Inventory {
  const template = inv.components.find((c): c is ModelComponent => c.kind === 'model' && c.name === 'Golden detector')!;
  const formats = ['tflite', 'onnx', 'gguf', 'rknn'];
  const gen: ModelComponent[] = [];
  for (let i = 0; i < n; i++) {
    const format = formats[i % formats.length]!;
    const sha = fakeSha256(`gen-${i}`);
    gen.push({
      ...template,
      id: componentId('model', format, sha),
      name: `generated-model-${String(i).padStart(5, '0')}`,
      sha256: sha,
      locations: [
        {
          path: `firmware.img!/system!/gen/m${i}.${format}`,
          hops: [...template.locations[0]!.hops.slice(0, 2), { path: `gen/m${i}.${format}`, reader: 'ext4' }],
        },
      ],
      model: { ...template.model, format, card: { ...template.model.card, format, license: i % 3 === 0 ? 'MIT' : 'Apache-2.0' } },
    });
  }
  return { ...inv, components: [...inv.components, ...gen] };
}

function writePage(name: string, text: string): string {
  fs.mkdirSync(shots, { recursive: true });
  const file = path.join(shots, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('html encoder (text)', () => {
  it('is registered and matches its golden files in English and Chinese', () => {
    expect(encoderById('html')).toBe(html);
    const en = html.encode(inv);
    expect(html.encode(inv, { lang: 'en' })).toBe(en);
    golden('report.en.html', en);
    golden('report.zh.html', html.encode(inv, { lang: 'zh' }));
  });
  it('is self-contained: no external reference of any kind, a CSP that forbids the network', () => {
    const page = html.encode(inv);
    expect(page).not.toMatch(/<link|<img|<iframe|@import|url\(|\bsrc=/i);
    expect(page).not.toMatch(/(href|src)="(https?:|\/\/)/i);
    expect(page).toMatch(
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-[^"]+; script-src &#39;sha256-/,
    );
  });
  it('is deterministic and uses the inventory timestamp only', () => {
    expect(html.encode(inv)).toBe(html.encode(buildInventory()));
    expect(html.encode(inv)).not.toContain('2025-01-02T03:04:05Z');
    expect(html.encode(buildInventory({ timestamp: '2025-01-02T03:04:05Z' }))).toContain('2025-01-02T03:04:05Z');
  });
  it('escapes inventory text in HTML and in the embedded JSON', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(scriptJson({ a: '</script><!--\u2028&' })).toBe('{"a":"\\u003c/script\\u003e\\u003c!--\\u2028\\u0026"}');
    expect(JSON.parse(scriptJson({ a: '</script><!--\u2028&' }))).toEqual({ a: '</script><!--\u2028&' });
    const page = html.encode(hostileInventory());
    // One JSON script element and one code script element, whatever the inventory says.
    expect(page.match(/<script/g)).toHaveLength(2);
    expect(page.match(/<\/script>/g)).toHaveLength(2);
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;img src=x onerror=&quot;document.title=1&quot;&gt;');
  });
});

describe.skipIf(!haveChromium)('html page in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  /** Opens a page file, recording console errors, page errors and every request. */
  async function open(file: string, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; errors: string[]; requests: string[]; ms: number }> {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    const t0 = performance.now();
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('html[data-ready="1"]', { timeout: 30_000 });
    return { page, errors, requests, ms: performance.now() - t0 };
  }
  const status = (page: Page, list: string): Promise<string | null> => page.getAttribute(`[data-list="${list}"] .status`, 'data-total');
  /** Types into a list's filter and presses Enter (which filters at once); returns the count the list shows. */
  async function filter(page: Page, list: string, text: string): Promise<number> {
    await page.fill(`[data-list="${list}"] .filter`, text);
    await page.press(`[data-list="${list}"] .filter`, 'Enter');
    return Number(await status(page, list));
  }

  it('loads with no console error and no request but the page; counts equal the inventory', async () => {
    const file = writePage('report.en.html', html.encode(inv));
    const { page, errors, requests } = await open(file);
    expect(errors).toEqual([]);
    expect(requests).toEqual([pathToFileURL(file).href]);
    const shown = Object.fromEntries(
      await page.$$eval('[data-count]', (els) => els.map((e) => [e.getAttribute('data-count'), Number(e.textContent)] as const)),
    );
    const kind = (k: string): number => inv.components.filter((c) => c.kind === k).length;
    expect(shown).toEqual({
      inputs: inv.subjects.length,
      models: kind('model'),
      runtimes: kind('runtime') + kind('sdk'),
      apps: kind('app'),
      services: kind('service'),
      problems: inv.problems.length,
      errors: inv.problems.filter((p) => p.severity === 'error').length,
    });
    expect(Number(await status(page, 'models'))).toBe(kind('model'));
    expect(await page.locator('article.card').count()).toBe(kind('model'));
    expect(Number(await status(page, 'problems'))).toBe(inv.problems.length);
    expect(await page.locator('[data-list="problems"] tbody tr').count()).toBe(inv.problems.length);
    // Per input: the firmware image holds three of the four models (seg.onnx is in both inputs).
    expect(await page.locator('#input-1 [data-subject-count="models"]').textContent()).toBe('4');
    expect(await page.locator('#input-0 [data-subject-count="models"]').textContent()).toBe('1');
    // The app table: what com.example.pay ships and uses.
    const app = await page.locator('section.app').first().innerText();
    expect(app).toContain('com.example.pay');
    expect(app).toMatch(/ships\s+model\s+Golden detector/);
    expect(app).toMatch(/depends on\s+runtime\s+TensorFlow Lite\s+2\.14\.0/);
    expect(app).toMatch(/depends on\s+service\s+OpenAI API/);
    await page.screenshot({ path: path.join(shots, 'report.en.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('the filter and the format facet narrow the models; a model link from an app table shows its card', async () => {
    const { page, errors } = await open(writePage('filter.en.html', html.encode(inv)));
    expect(await filter(page, 'models', 'onnx')).toBe(2);
    expect(await page.locator('article.card').count()).toBe(2);
    expect(await filter(page, 'models', 'golden apache')).toBe(1);
    expect(await page.locator('article.card h3').allTextContents()).toEqual(['Golden detector']);
    expect(await filter(page, 'models', 'no such model anywhere')).toBe(0);
    expect(await page.locator('[data-list="models"] .empty').isVisible()).toBe(true);
    await filter(page, 'models', '');
    await page.selectOption('[data-list="models"] .facet', 'tflite');
    expect(Number(await status(page, 'models'))).toBe(2);
    expect(await filter(page, 'problems', 'unsupported')).toBe(2);
    await page.click('section.app a[data-model]');
    expect(await page.locator('article.card h3').allTextContents()).toEqual(['Golden detector']);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('hostile names render as text and run nothing', async () => {
    const { page, errors } = await open(writePage('hostile.html', html.encode(hostileInventory())));
    expect(errors).toEqual([]);
    expect(await page.title()).not.toMatch(/^(1|pwned)$/);
    expect(await page.locator('article.card h3').allTextContents()).toContain('<img src=x onerror="document.title=1">');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(2);
    expect(await page.locator('[data-list="problems"] tbody').innerText()).toContain('<!-- </script>');
    await page.close();
  }, 60_000);

  it('Chinese renders with the Chinese strings', async () => {
    const { page, errors } = await open(writePage('report.zh.html', html.encode(inv, { lang: 'zh' })));
    expect(errors).toEqual([]);
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await page.locator('h1').textContent()).toBe('AI 物料清单');
    expect(await page.locator('[data-list="models"] .status').textContent()).toBe('第 1–4 项，共 4 项');
    expect(await page.locator('[data-list="models"] .pageno').textContent()).toBe('第 1 / 1 页');
    const text = await page.locator('main').innerText();
    for (const english of ['Summary per input', 'Previous', 'Models by format', 'Problems']) expect(text).not.toContain(english);
    await page.screenshot({ path: path.join(shots, 'report.zh.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('prints: controls hidden, a PDF is made', async () => {
    const { page } = await open(writePage('print.html', html.encode(inv)));
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('[data-list="models"] .controls').isVisible()).toBe(false);
    expect(await page.locator('.print-note').isVisible()).toBe(true);
    const pdf = await page.pdf({ format: 'A4' });
    fs.writeFileSync(path.join(shots, 'report.en.pdf'), pdf);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    await page.close();
  }, 60_000);

  it('10,000 models: a bounded DOM, pages, filter, reasonable load time', async () => {
    const big = bigInventory(10_000);
    const text = html.encode(big);
    const file = writePage('big.html', text);
    const { page, errors, requests, ms } = await open(file);
    expect(errors).toEqual([]);
    expect(requests).toHaveLength(1);
    const total = big.components.filter((c) => c.kind === 'model').length;
    expect(Number(await status(page, 'models'))).toBe(total);
    expect(await page.locator('article.card').count()).toBe(25);
    const nodes = Number(await page.evaluate('document.getElementsByTagName("*").length'));
    expect(nodes).toBeLessThan(4000);
    expect(ms).toBeLessThan(15_000); // on a 2-core machine shared with other work; typically well under 2 s
    await page.click('[data-list="models"] .next');
    expect(await page.locator('[data-list="models"] .status').textContent()).toBe(`26–50 of ${total}`);
    expect(await page.locator('article.card h3').first().textContent()).toBe('generated-model-00021');
    expect(await page.locator('[data-list="models"] .pageno').textContent()).toBe(`Page 2 of ${Math.ceil(total / 25)}`);
    expect(await filter(page, 'models', 'generated-model-09999')).toBe(1);
    await filter(page, 'models', '');
    await page.selectOption('[data-list="models"] .facet', 'gguf');
    expect(Number(await status(page, 'models'))).toBe(2500);
    await page.screenshot({ path: path.join(shots, 'big.png') });
    console.log(`html 10k: ${(text.length / 1e6).toFixed(1)} MB, loaded in ${Math.round(ms)} ms, ${nodes} elements; review ${shots}`);
    await page.close();
  }, 120_000);
});
