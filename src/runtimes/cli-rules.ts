import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Analyzer } from '../scan/analyzer.js';
import { analyzers as defaultAnalyzers } from '../scan/analyzers.js';
import { ruleAnalyzer } from './engine.js';
import type { Rule } from './rule-schema.js';
import { builtinRulesDir, loadRules, readRulesDir } from './rules.js';
import { testRules } from './rules-test.js';

/**
 * The CLI's rules commands, kept out of `cli.ts`: `aibom rules list`, `aibom rules test DIR`, and the
 * analyzers a scan runs with `--rules DIR` (the built-in rules extended or overridden by DIR's).
 */

/** commander's collector for a repeatable option. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** The scan's analyzers with user rule directories, or undefined for the defaults. */
export function scanAnalyzers(ruleDirs: readonly string[] | undefined): readonly Analyzer[] | undefined {
  if (ruleDirs === undefined || ruleDirs.length === 0) return undefined;
  const rules = loadRules(ruleDirs);
  return defaultAnalyzers.map((a) => (a.id === 'rules' ? ruleAnalyzer(rules) : a));
}

const matcherSummary = (r: Rule): string => {
  const counts = new Map<string, number>();
  for (const m of r.matchers) counts.set(m.type, (counts.get(m.type) ?? 0) + 1);
  return [...counts].map(([t, n]) => (n > 1 ? `${t}×${n}` : t)).join(' ');
};

/** `aibom rules list`: one line per rule (id, kind, name, matchers), or the rules as JSON. */
export function listRules(rules: readonly Rule[], json: boolean): string {
  if (json) return `${JSON.stringify(rules, null, 2)}\n`;
  const w = Math.max(...rules.map((r) => r.id.length), 2);
  const k = Math.max(...rules.map((r) => r.kind.length), 4);
  const lines = rules.map((r) => `${r.id.padEnd(w)}  ${r.kind.padEnd(k)}  ${r.name}  [${matcherSummary(r)}]`);
  return `${'id'.padEnd(w)}  ${'kind'.padEnd(k)}  name  [matchers]\n${lines.join('\n')}\n${rules.length} rules\n`;
}

/**
 * `aibom rules test DIR`: DIR's rules (over the built-in ones) against DIR's fixtures (`DIR/fixtures`
 * when it exists, else DIR): `<rule-id>/` positives, `negative/` files no rule may hit. Returns the
 * report and whether it passed: every rule defined in DIR has a positive fixture and hits all of them,
 * every rule with a fixture folder hits its fixtures, and the negatives stay silent.
 */
export function runRulesTest(dir: string): { text: string; ok: boolean } {
  const own = fs.readdirSync(dir).some((n) => n.endsWith('.json')) ? readRulesDir(dir) : [];
  const rules = loadRules(own.length > 0 ? [dir] : []);
  const fixtures = fs.existsSync(path.join(dir, 'fixtures')) ? path.join(dir, 'fixtures') : dir;
  const report = testRules(rules, fixtures);
  const ownIds = new Set(own.map((r) => r.id));
  const lines: string[] = [];
  let ok = true;
  for (const r of report.rules) {
    if (r.positives === 0) {
      if (ownIds.has(r.id)) {
        lines.push(`NO FIXTURE  ${r.id}`);
        ok = false;
      }
      continue;
    }
    if (r.missed.length === 0) lines.push(`hit         ${r.id} (${r.positives} fixture${r.positives === 1 ? '' : 's'})`);
    else {
      ok = false;
      for (const f of r.missed) lines.push(`MISSED      ${r.id}: ${path.relative(fixtures, f)}`);
    }
  }
  for (const f of report.falseHits) {
    ok = false;
    lines.push(`FALSE HIT   ${f}`);
  }
  for (const u of report.unknownFolders) lines.push(`unknown     ${u}/ names no rule`);
  lines.push(ok ? 'ok' : 'FAILED');
  return { text: `${lines.join('\n')}\n`, ok };
}

/** Adds `rules list` and `rules test` to the program. */
export function registerRulesCommands(program: Command): void {
  const rules = program.command('rules').description('the runtime, SDK and cloud AI service rules (built-in: rules/)');
  rules
    .command('list')
    .description('list the rules: id, kind, name, matchers')
    .option('--rules <dir>', 'also load the rules of a directory (repeatable; same id overrides)', collect, [])
    .option('--json', 'the rules as JSON')
    .action((o: { rules: string[]; json?: boolean }) => {
      process.stdout.write(listRules(loadRules(o.rules), o.json === true));
    });
  rules
    .command('test')
    .description('run a rules directory against its fixtures: <rule-id>/ must hit, negative/ must stay silent')
    .argument('<dir>', `a directory of rules and fixtures (the built-in rules are in ${builtinRulesDir()})`)
    .action((dir: string) => {
      const { text, ok } = runRulesTest(dir);
      process.stdout.write(text);
      if (!ok) process.exitCode = 1;
    });
}
