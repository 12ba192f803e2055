import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROBLEM_CODES } from '../../src/report/problem-codes.js';

// The encoders keep their own copy of the problem codes (they import no scan code): this keeps the copy
// complete, so no report shows the generic text for a code aibom itself emits.
describe('problem code help', () => {
  it('has a title and help text for every ProblemCode in src/errors.ts', () => {
    const src = fs.readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8');
    const union = src.split('export type ProblemCode')[1]?.split(';')[0] ?? '';
    const codes = [...union.matchAll(/\|\s*'([a-z-]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(10);
    expect(codes.filter((c) => PROBLEM_CODES[c] === undefined)).toEqual([]);
    for (const c of codes) expect(PROBLEM_CODES[c]!.help.length).toBeGreaterThan(40);
  });
});
