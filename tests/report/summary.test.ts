import { describe, expect, it } from 'vitest';
import { summarize, summary } from '../../src/report/summary.js';
import { buildInventory } from '../builders/inventory-builder.js';
import { golden } from './golden.js';

// The scanned-inventory golden (tests/golden/summary.txt, tests/report.test.ts) pins the English text
// byte for byte; these pin the builder inventory in both languages.
const inv = buildInventory();

describe('summary encoder', () => {
  it('matches its golden files in English and Chinese; English is the default', () => {
    const en = summary.encode(inv);
    expect(summary.encode(inv, { lang: 'en' })).toBe(en);
    expect(summarize(inv)).toBe(en);
    golden('summary.en.txt', en);
    golden('summary.zh.txt', summary.encode(inv, { lang: 'zh' }));
  });
  it('Chinese output has no English fixed words left, and keeps what the inventory says', () => {
    const zh = summarize(inv, 'zh');
    expect(zh.split('\n')[0]).toBe('aibom 0.0.0-test：2 个输入，4 个模型，5 个问题（1 个错误）');
    for (const english of [
      'MODELS',
      'WHERE THEY SIT',
      'PROBLEMS',
      'also at',
      'confidence',
      'parameters:',
      'packed file:',
      'part:',
      'holds',
      'scanned',
      ' in: ',
      'ops:',
    ])
      expect(zh, english).not.toContain(english);
    for (const kept of ['Golden detector', 'claimed-model', "Entry '../../etc/passwd' escapes the archive", 'sha256 5a1971025117e894'])
      expect(zh).toContain(kept);
    // Labels line up by terminal cells: '错误' is two characters and four cells wide.
    expect(zh).toContain('\n  错误    extra/fake.tflite\n');
    expect(zh).toContain('\n  归档      firmware.img!/system!/app/Pay/Pay.apk （zip，3.5 KiB，包含 2 项）\n');
  });
});
