import fs from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { inventorySchema, type Inventory } from '../inventory/schema.js';
import { inventorySchema as inventoryV1Schema, INVENTORY_SCHEMA as INVENTORY_V1_SCHEMA, type Inventory as InventoryV1 } from '../inventory/v1.js';
import { CYCLONEDX_SPEC_VERSIONS } from './cyclonedx.js';
import { LANGS } from './i18n.js';
import { encoderById, encoders } from './index.js';
import type { ReportEncoder, ReportLang, ReportOptions } from './types.js';

/**
 * The CLI's report options and output writing, shared by `scan` and `report`, kept here so that the
 * command file only wires them:
 *   -f, --format F        repeatable; default summary
 *   -o, --output PATH     one format: its file (as before); or FORMAT=PATH, repeatable (implies -f FORMAT)
 *   --output-dir DIR      every format without its own -o goes to DIR/aibom.<extension>
 *   --spec-version V      CycloneDX 1.6 (default) or 1.7
 *   --lang en|zh          language of the human-readable reports (summary, markdown, html)
 * Several formats need -o FORMAT=PATH or --output-dir; at most one report goes to stdout. A
 * multi-file format (csv) written to PATH gives `<PATH without .csv>.models.csv`, `.components.csv`,
 * `.problems.csv`; on stdout it gives models.csv alone.
 */
export class ReportUsageError extends Error {}

/** Options commander parses for the report flags. */
export interface ReportFlags {
  format: string[];
  output: string[];
  outputDir?: string;
  specVersion?: string;
  lang?: string;
}

/** Extensions of encoders that declare none (summary is plain text). */
const DEFAULT_EXTENSION: Record<string, string> = { summary: 'txt' };

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Adds the report flags to a command. */
export function reportFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('-f, --format <format>', `report format, repeatable: ${encoders.map((e) => e.id).join(', ')}`).argParser(collect).default([], 'summary'),
    )
    .addOption(
      new Option('-o, --output <file>', 'write the report to a file; FORMAT=PATH for one of several formats (repeatable)')
        .argParser(collect)
        .default([], 'stdout'),
    )
    .option('--output-dir <dir>', 'write every requested format into this folder as aibom.<extension>')
    .addOption(new Option('--spec-version <version>', 'CycloneDX spec version').choices([...CYCLONEDX_SPEC_VERSIONS]).default('1.6'))
    .addOption(new Option('--lang <lang>', 'language of human-readable reports').choices([...LANGS]).default('en'));
}

/** One report to write: the encoder and its path, or undefined for stdout. */
export interface PlannedOutput {
  encoder: ReportEncoder;
  path: string | undefined;
}

function encoderOrThrow(id: string): ReportEncoder {
  const e = encoderById(id);
  if (e === undefined) throw new ReportUsageError(`unknown format '${id}': use one of ${encoders.map((x) => x.id).join(', ')}`);
  return e;
}

/** Decides where each requested report goes; throws ReportUsageError on contradictions. */
export function planOutputs(flags: ReportFlags): PlannedOutput[] {
  const explicit = new Map<string, string>();
  const plain: string[] = [];
  for (const o of flags.output) {
    const eq = o.indexOf('=');
    const id = eq > 0 ? o.slice(0, eq) : '';
    if (eq > 0 && encoderById(id) !== undefined) {
      if (explicit.has(id)) throw new ReportUsageError(`format '${id}' is given two output paths`);
      if (o.slice(eq + 1) === '') throw new ReportUsageError(`-o ${o} names no path`);
      explicit.set(id, o.slice(eq + 1));
    } else plain.push(o);
  }
  const formats: string[] = [];
  for (const f of [...flags.format, ...explicit.keys()]) if (!formats.includes(f)) formats.push(f);
  if (formats.length === 0) formats.push('summary');
  for (const f of formats) encoderOrThrow(f);
  if (plain.length > 1) throw new ReportUsageError('-o PATH may be given once; use -o FORMAT=PATH for several formats');
  const rest = formats.filter((f) => !explicit.has(f));
  if (plain.length === 1) {
    if (rest.length !== 1)
      throw new ReportUsageError(`-o ${plain[0]} is ambiguous with ${rest.length} formats without a path: use -o FORMAT=PATH or --output-dir`);
    explicit.set(rest[0]!, plain[0]!);
  }
  const plan: PlannedOutput[] = [];
  let stdout = 0;
  for (const f of formats) {
    const encoder = encoderOrThrow(f);
    let p = explicit.get(f);
    if (p === undefined && flags.outputDir !== undefined)
      p = path.join(flags.outputDir, `aibom.${encoder.extension ?? DEFAULT_EXTENSION[encoder.id] ?? encoder.id}`);
    if (p === undefined) stdout++;
    plan.push({ encoder, path: p });
  }
  if (stdout > 1) throw new ReportUsageError(`${stdout} formats would go to stdout: use -o FORMAT=PATH or --output-dir`);
  return plan;
}

/** The encoder options from the flags. */
export function encoderOptions(flags: ReportFlags): ReportOptions {
  const o: ReportOptions = {};
  if (flags.specVersion !== undefined) o.specVersion = flags.specVersion;
  if (flags.lang !== undefined) o.lang = flags.lang as ReportLang;
  return o;
}

/** The files a planned report becomes: one, or one per part for a multi-file format. */
export function outputFiles(inv: Inventory, out: PlannedOutput, options: ReportOptions): Array<[string | undefined, string]> {
  const { encoder, path: p } = out;
  if (p === undefined || encoder.encodeFiles === undefined) return [[p, encoder.encode(inv, options)]];
  const stem = p.replace(new RegExp(`\\.${encoder.extension ?? encoder.id}$`), '');
  return [...encoder.encodeFiles(inv, options)].map(([suffix, text]) => [`${stem}.${suffix}`, text]);
}

/** Encodes every planned report (all before writing any, so an encoder error leaves no half set). */
export function writeReports(inv: Inventory, flags: ReportFlags): void {
  const options = encoderOptions(flags);
  const files = planOutputs(flags).flatMap((o) => outputFiles(inv, o, options));
  for (const [p, text] of files) {
    if (p === undefined) process.stdout.write(text);
    else {
      fs.mkdirSync(path.dirname(path.resolve(p)), { recursive: true });
      fs.writeFileSync(p, text);
    }
  }
}

/**
 * Reads a saved inventory for `aibom report`: JSON, then the exported zod schema. Refuses anything
 * else with one message naming the file and the first fields that are wrong.
 */
export function readInventory(file: string, upgrade?: (v1: InventoryV1) => Inventory): Inventory {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ReportUsageError(`cannot read '${file}': ${code === 'ENOENT' ? 'no such file or directory' : code === 'EISDIR' ? 'is a directory' : code}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ReportUsageError(`'${file}' is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const schema = data !== null && typeof data === 'object' ? (data as { schema?: unknown }).schema : undefined;
  if (schema === INVENTORY_V1_SCHEMA && upgrade !== undefined) {
    const v1 = inventoryV1Schema.safeParse(data);
    if (!v1.success) {
      const issues = v1.error.issues.slice(0, 3).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top)'}: ${i.message}`);
      throw new ReportUsageError(`'${file}' is not a valid aibom/inventory@1: ${issues.join('; ')}`);
    }
    return upgrade(v1.data);
  }
  if (typeof schema === 'string' && schema !== 'aibom/inventory@2' && schema.startsWith('aibom/inventory@')) {
    throw new ReportUsageError(`'${file}' is ${schema}; this version reads aibom/inventory@2: scan again`);
  }
  const r = inventorySchema.safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top)'}: ${i.message}`);
    const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : '';
    throw new ReportUsageError(`'${file}' is not a valid aibom/inventory@2: ${issues.join('; ')}${more}`);
  }
  return r.data;
}
