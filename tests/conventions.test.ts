import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { containers } from '../src/containers/index.js';
import { formats } from '../src/formats/index.js';
import { withLimitsTable, withRegistryTable } from '../src/registry-table.js';
import { encoders } from '../src/report/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exists = (p: string): boolean => fs.existsSync(path.join(root, p));

// The house rules, enforced: a format or container is one file, one registry line, one fixture
// folder with its provenance, one test file; ids are unique; the README's table is generated.
describe('conventions', () => {
  it('registries are not empty and ids are unique', () => {
    expect(formats.length).toBeGreaterThan(0);
    expect(containers.length).toBeGreaterThan(0);
    const ids = [...formats.map((f) => f.id), ...containers.map((c) => c.id), ...encoders.map((e) => e.id)];
    expect(new Set(ids).size).toBe(ids.length);
  });
  it.each(formats.map((f) => f.id))('model format %s has its module, test file and fixture README', (id) => {
    expect(exists(`src/formats/${id}.ts`)).toBe(true);
    expect(exists(`tests/formats/${id}.test.ts`)).toBe(true);
    expect(exists(`fixtures/${id}/README.md`)).toBe(true);
  });
  it.each(containers.map((c) => c.id))('container %s has its module, test file and fixture README', (id) => {
    // One file, or a folder whose index.ts exports the reader when the format needs several modules.
    expect(exists(`src/containers/${id}.ts`) || exists(`src/containers/${id}/index.ts`)).toBe(true);
    expect(exists(`tests/containers/${id}.test.ts`)).toBe(true);
    expect(exists(`fixtures/${id}/README.md`)).toBe(true);
  });
  it('every format and container has a one-line description, and formats list their extensions', () => {
    for (const x of [...formats, ...containers, ...encoders]) expect(x.description).toMatch(/^[^\n]{10,200}$/);
    for (const f of formats) for (const e of f.extensions) expect(e).toMatch(/^\.[a-z0-9]+$/);
  });
  it('README.md carries the table generated from the registries (npm run readme)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toBe(withRegistryTable(readme));
  });
  it('README.md carries the limits table generated from LIMIT_SPECS (npm run readme)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toBe(withLimitsTable(readme));
  });
});
