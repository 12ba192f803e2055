import fs from 'node:fs';
import path from 'node:path';
import { FileSource } from '../io/byte-source.js';
import { createProbe } from '../probe.js';
import { RuleEngine } from './engine.js';
import type { Rule } from './rule-schema.js';

/**
 * Runs rules against a fixtures folder, the way `aibom rules test DIR` does: `<fixtures>/<rule-id>/`
 * holds files that rule must hit (its positives), `<fixtures>/negative/` files no rule may hit
 * (look-alike names, stubs, a README naming an endpoint). Files are read directly, not walked as
 * containers: a fixture is one file.
 */

export interface RuleTestResult {
  id: string;
  /** Positive fixtures found for the rule. */
  positives: number;
  /** Positive fixtures the rule missed. */
  missed: string[];
}

export interface RulesTestReport {
  rules: RuleTestResult[];
  /** Negative fixtures that some rule hit: `file: rule-id`. */
  falseHits: string[];
  /** Folders of `<fixtures>` that name no rule. */
  unknownFolders: string[];
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

function ruleIdsHitting(engine: RuleEngine, file: string): string[] {
  const src = FileSource.open(file);
  try {
    const probe = createProbe(src, path.basename(file));
    const { hits } = engine.analyze({ name: probe.name, size: src.size, source: src, head: probe.head }, () => undefined);
    return [...new Set(hits.map((h) => h.rule.id))];
  } finally {
    src.close();
  }
}

/** Runs every rule over its positives and every negative; see the module comment for the layout. */
export function testRules(rules: readonly Rule[], fixtures: string): RulesTestReport {
  const engine = new RuleEngine(rules);
  const ids = new Set(rules.map((r) => r.id));
  const results: RuleTestResult[] = rules.map((r) => {
    const files = filesUnder(path.join(fixtures, r.id));
    return { id: r.id, positives: files.length, missed: files.filter((f) => !ruleIdsHitting(engine, f).includes(r.id)) };
  });
  const falseHits: string[] = [];
  for (const f of filesUnder(path.join(fixtures, 'negative')))
    for (const id of ruleIdsHitting(engine, f)) falseHits.push(`${path.relative(fixtures, f)}: ${id}`);
  const unknownFolders = fs.existsSync(fixtures)
    ? fs
        .readdirSync(fixtures, { withFileTypes: true })
        .filter((e) => e.isDirectory() && e.name !== 'negative' && !ids.has(e.name))
        .map((e) => e.name)
        .sort()
    : [];
  return { rules: results, falseHits, unknownFolders };
}
