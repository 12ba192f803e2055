import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rulesFileSchema, type Rule } from './rule-schema.js';

/**
 * Loads rules: the built-in directory shipped with the package (`rules/` beside `dist/` or `src/`,
 * resolved from this module so it works from a checkout, from `dist/` and from an installed package),
 * then user directories whose rules extend the built-in ones or replace them by id. Every `*.json`
 * file of a directory (not its sub-directories) is read, in name order. Does not fetch anything.
 */

/** The built-in rules directory. */
export function builtinRulesDir(): string {
  return fileURLToPath(new URL('../../rules/', import.meta.url));
}

/** A rules file or directory that cannot be used; the message names the file and the field. */
export class RulesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RulesError';
  }
}

/** Largest rules file read (a rules file is hand-written data, not a database). */
const MAX_RULES_FILE = 4 * 1024 * 1024;

/** Reads and validates every rules file of one directory; ids must be unique within it. */
export function readRulesDir(dir: string): Rule[] {
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch (err) {
    throw new RulesError(`Cannot read rules directory '${dir}': ${(err as NodeJS.ErrnoException).code ?? String(err)}.`);
  }
  const out: Rule[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const file = path.join(dir, name);
    const st = fs.statSync(file);
    if (!st.isFile()) continue;
    if (st.size > MAX_RULES_FILE) throw new RulesError(`Rules file '${file}' is ${st.size} bytes, over the ${MAX_RULES_FILE}-byte limit.`);
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new RulesError(`Rules file '${file}' is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = rulesFileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new RulesError(`Rules file '${file}': ${issue.path.join('.') || '(root)'}: ${issue.message}.`);
    }
    for (const r of parsed.data.rules) {
      const other = seen.get(r.id);
      if (other !== undefined) throw new RulesError(`Rule id '${r.id}' appears twice: in '${other}' and '${file}'.`);
      seen.set(r.id, file);
      out.push(r);
    }
  }
  return out;
}

/**
 * The built-in rules, then each user directory in order: a rule whose id is already known replaces it
 * in place, a new id is appended. The result is sorted by id so that output does not depend on files.
 */
export function loadRules(userDirs: readonly string[] = [], builtin: string = builtinRulesDir()): Rule[] {
  const byId = new Map<string, Rule>();
  for (const r of readRulesDir(builtin)) byId.set(r.id, r);
  for (const d of userDirs) for (const r of readRulesDir(d)) byId.set(r.id, r);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

let builtinCache: Rule[] | undefined;

/** The built-in rules, loaded once per process. */
export function builtinRules(): Rule[] {
  builtinCache ??= loadRules();
  return builtinCache;
}
