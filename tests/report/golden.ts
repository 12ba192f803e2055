import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

// Golden files pin every encoder byte for byte over the builder-made inventory. To accept an intended
// change: AIBOM_UPDATE_GOLDEN=1 npx vitest run tests/report, then review the diff.
const goldenDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden');
const update = process.env.AIBOM_UPDATE_GOLDEN === '1';

/** Compares `actual` with tests/golden/<name>; writes it only when AIBOM_UPDATE_GOLDEN=1. */
export function golden(name: string, actual: string): void {
  const file = path.join(goldenDir, name);
  if (update) {
    fs.mkdirSync(goldenDir, { recursive: true });
    fs.writeFileSync(file, actual);
  }
  if (!fs.existsSync(file)) throw new Error(`golden file ${name} is missing: run with AIBOM_UPDATE_GOLDEN=1 and review it`);
  expect(actual).toBe(fs.readFileSync(file, 'utf8'));
}
