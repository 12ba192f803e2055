import fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { LIMIT_SPECS, type Limits } from './io/limits.js';
import type { Inventory, ModelComponent } from './inventory/schema.js';
import { upgradeV1, type CardOf } from './inventory/upgrade.js';
import { formats } from './formats/index.js';
import { formatsText, listFormats } from './formats/list.js';
import { modelDetail } from './report/detail.js';
import { planOutputs, readInventory, type ReportFlags, ReportUsageError, reportFlags, writeReports } from './report/outputs.js';
import { bytes } from './report/text.js';
import { collect as collectRules, registerRulesCommands, scanAnalyzers } from './runtimes/cli-rules.js';
import { scan, type ScanProgress } from './scan/index.js';
import { toolVersion } from './version.js';

/** Exit codes: 0 the scan ran (problems are in the report), 1 a policy failed (later issues), 2 usage or fatal error. */
const EXIT_USAGE = 2;

class UsageError extends Error {}

function parseCount(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number.');
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('number too large.');
  return n;
}

/** `512M`, `64G`, `1048576`: binary units. */
function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a size such as 4096, 512M or 64G.');
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  const n = Math.floor(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('size too large.');
  return n;
}

function checkInputs(inputs: string[]): void {
  for (const input of inputs) {
    try {
      fs.statSync(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code;
      throw new UsageError(`cannot read '${input}': ${why}`);
    }
  }
}

/** A one-line progress bar on stderr, redrawn at most ten times a second; only on a TTY. */
function progressBar(enabled: boolean): { update: (p: ScanProgress) => void; clear: () => void } {
  if (!enabled) return { update: () => undefined, clear: () => undefined };
  let drawn = false;
  // A pseudo-terminal may report 0 columns: fall back to 80.
  const columns = (): number => (process.stderr.columns !== undefined && process.stderr.columns >= 40 ? process.stderr.columns : 80);
  return {
    update(p) {
      const width = columns();
      const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
      const bar = `${'#'.repeat(Math.round(frac * 20)).padEnd(20, '.')}`;
      const head = `[${bar}] ${bytes(p.bytesDone)}/${bytes(p.bytesTotal)} · ${p.models} model${p.models === 1 ? '' : 's'} · `;
      const room = Math.max(10, width - head.length - 1);
      const loc = p.location.length > room ? `…${p.location.slice(-(room - 1))}` : p.location;
      process.stderr.write(`\r${`${head}${loc}`.padEnd(width - 1).slice(0, width - 1)}`);
      drawn = true;
    },
    clear() {
      if (drawn) process.stderr.write(`\r${' '.repeat(columns() - 1)}\r`);
    },
  };
}

function write(text: string, output: string | undefined): void {
  if (output === undefined) process.stdout.write(text);
  else fs.writeFileSync(output, text);
}

/** Adds one option per row of the limits table, with its default in the help text. */
function limitOptions(cmd: Command): Command {
  for (const spec of LIMIT_SPECS) {
    const shown = spec.unit === 'size' ? bytes(spec.default) : String(spec.default);
    cmd.option(`--${spec.flag} <${spec.unit === 'size' ? 'size' : 'n'}>`, `${spec.help} (default ${shown})`, spec.unit === 'size' ? parseSize : parseCount);
  }
  return cmd;
}

type LimitFlags = Record<string, unknown>;

/** commander's camel-cased option name of a flag: `max-entries-per-container` -> `maxEntriesPerContainer`. */
const optionKey = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function limitsFrom(o: LimitFlags): Partial<Limits> {
  const l: Partial<Limits> = {};
  for (const spec of LIMIT_SPECS) {
    const v = o[optionKey(spec.flag)];
    if (typeof v === 'number') l[spec.key] = v;
  }
  return l;
}

async function runScan(inputs: string[], limits: Partial<Limits>, quiet: boolean, timestamp: boolean, ruleDirs?: string[]): Promise<Inventory> {
  checkInputs(inputs);
  const analyzers = scanAnalyzers(ruleDirs);
  const bar = progressBar(!quiet && process.stderr.isTTY === true);
  try {
    return await scan(inputs, { limits, onProgress: bar.update, timestamp, ...(analyzers !== undefined ? { analyzers } : {}) });
  } finally {
    bar.clear();
  }
}

const program = new Command()
  .name('aibom')
  .description('Finds the AI inside firmware images and app bundles and writes an AI bill of materials.')
  .version(toolVersion())
  .exitOverride()
  .configureOutput({ outputError: (s, w) => w(s) });

limitOptions(
  reportFlags(
    program.command('scan').description('scan files and directories, recursively through archives and images').argument('<inputs...>', 'files or directories'),
  )
    .option('-q, --quiet', 'no progress bar')
    .option('--timestamp', 'record the scan time in the report (makes it non-reproducible)')
    .option('--rules <dir>', 'rules directory extending or overriding the built-in rules by id (repeatable)', collectRules, []),
).action(async (inputs: string[], o: LimitFlags & ReportFlags & { quiet?: boolean; timestamp?: boolean; rules: string[] }) => {
  // Usage errors in the report flags are found before a long scan, not after it.
  planOutputs(o);
  const inv = await runScan(inputs, limitsFrom(o), o.quiet === true, o.timestamp === true, o.rules);
  writeReports(inv, o);
});

reportFlags(
  program
    .command('report')
    .description('convert a saved inventory (aibom scan -f json) into other formats without scanning again')
    .argument('<inventory>', 'an aibom/inventory@2 JSON file'),
).action((file: string, o: ReportFlags) => {
  planOutputs(o);
  // A saved inventory@1 is upgraded on the way in; its cards are rebuilt by the formats' own `card`.
  const cardOf: CardOf = (format, metadata) => formats.find((f) => f.id === format)?.card(metadata);
  writeReports(
    readInventory(file, (v1) => upgradeV1(v1, cardOf)),
    o,
  );
});

limitOptions(
  program
    .command('inspect')
    .description('everything aibom knows about the model(s) in one file')
    .argument('<file>', 'a model file, or any file holding models')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-o, --output <file>', 'write to a file instead of stdout'),
).action(async (file: string, o: LimitFlags & { format: string; output?: string }) => {
  const inv = await runScan([file], limitsFrom(o), true, false);
  const models = inv.components.filter((c): c is ModelComponent => c.kind === 'model');
  if (o.format === 'json') {
    write(`${JSON.stringify({ models, problems: inv.problems }, null, 2)}\n`, o.output);
  } else {
    const parts = models.map(modelDetail);
    if (inv.problems.length > 0) parts.push(`problems:\n${inv.problems.map((p) => `  ${p.severity} ${p.location}: ${p.code}: ${p.message}`).join('\n')}\n`);
    write(parts.join('\n'), o.output);
  }
  if (models.length === 0) {
    process.stderr.write(`aibom: no model found in '${file}'\n`);
    process.exitCode = EXIT_USAGE;
  }
});

program
  .command('formats')
  .description('list every model format aibom recognises: id, description, extensions, signatures, metadata fields')
  .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
  .action((o: { format: string }) => {
    const listing = listFormats();
    write(o.format === 'json' ? `${JSON.stringify(listing, null, 2)}\n` : formatsText(listing), undefined);
  });

registerRulesCommands(program);

// Ctrl-C and `kill` stop a scan cleanly: without a handler Node dies without running its 'exit'
// hooks, which is where a scan's private temp area is removed. Exit codes follow the shell's 128 + n.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    process.stderr.write(`\naibom: interrupted by ${signal}; temporary files removed, no report written\n`);
    process.exit(code);
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof UsageError || err instanceof ReportUsageError) {
    process.stderr.write(`aibom: ${err.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`aibom: fatal: ${msg}\n`);
    process.exitCode = EXIT_USAGE;
  }
}
