import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { csv, csvTable } from '../../src/report/csv.js';
import { buildInventory, inventoryWithUnknownKind } from '../builders/inventory-builder.js';
import { validateReport } from '../helpers/validate-report.js';
import { golden } from './golden.js';

const inv = buildInventory();
const files = csv.encodeFiles!(inv);

/** Python's csv module as an independent RFC 4180 reader: rows as arrays of strings. */
function pyParse(text: string): string[][] {
  const out = execFileSync('python3', ['-c', 'import csv,sys,json; print(json.dumps(list(csv.reader(sys.stdin.read().splitlines(True)))))'], { input: text });
  return JSON.parse(out.toString()) as string[][];
}

describe('csv encoder', () => {
  it('writes three files, each matching its golden file; encode alone is models.csv', async () => {
    expect([...files.keys()]).toEqual(['models.csv', 'components.csv', 'problems.csv']);
    for (const [name, text] of files) {
      await validateReport('csv', text);
      golden(`report.${name}`, text);
    }
    expect(csv.encode(inv)).toBe(files.get('models.csv'));
  });
  it('one row per model, component and problem, read back by an independent CSV reader', () => {
    const models = pyParse(files.get('models.csv')!);
    expect(models.length - 1).toBe(inv.components.filter((c) => c.kind === 'model').length);
    expect(pyParse(files.get('components.csv')!).length - 1).toBe(inv.components.length);
    const problems = pyParse(files.get('problems.csv')!);
    expect(problems.slice(1)).toEqual(inv.problems.map((p) => [p.severity, p.code, p.location, p.message]));
    // Quotes, commas and a newline survive the round trip.
    const header = models[0]!;
    const tfl = models.find((r) => r[1] === 'Golden detector')!;
    expect(tfl[header.indexOf('description')]).toBe('Detects "cats", dogs; and\nmore');
    const seg = models.find((r) => r[1] === 'seg.onnx')!;
    expect(seg[header.indexOf('locations')]!.split('\n')).toHaveLength(2);
    expect(seg[header.indexOf('custom_operators')]).toBe('com.microsoft:FusedGelu');
  });
  it('quotes by RFC 4180, ends lines with CRLF and defuses formulas', () => {
    expect(
      csvTable(
        ['a', 'b'],
        [
          ['x,y', 'say "hi"'],
          ['=HYPERLINK("http://x")', 3],
          [undefined, true],
        ],
      ),
    ).toBe('a,b\r\n"x,y","say ""hi"""\r\n"\'=HYPERLINK(""http://x"")",3\r\n,true\r\n');
  });
  it('a kind added later is listed in components.csv with its kind', () => {
    const u = inventoryWithUnknownKind();
    const rows = pyParse(csv.encodeFiles!(u).get('components.csv')!);
    expect(rows.at(-1)!.slice(0, 3)).toEqual([u.components.at(-1)!.id, 'accelerator', 'librknnrt.so']);
  });
});
