import type { Analyzer } from '../scan/analyzer.js';
import { androidAppAnalyzer } from './apps.js';
import { electronAppAnalyzer } from './electron.js';
import { ruleAnalyzer } from './engine.js';
import type { Rule } from './rule-schema.js';

/**
 * The analyzers of runtimes, SDKs, apps, packages and services, in the order they run: the rule engine
 * over every file, then Android apps over APKs, then Electron apps over asar archives and `package.json`. Registered in `scan/analyzers.ts` with one line;
 * `rules` replaces the built-in rules (the CLI's `--rules`).
 */
export function runtimeAnalyzers(rules?: readonly Rule[]): Analyzer[] {
  return [ruleAnalyzer(rules), androidAppAnalyzer(), electronAppAnalyzer()];
}
