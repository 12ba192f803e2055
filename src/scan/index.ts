import fs from 'node:fs';
import path from 'node:path';
import { containers as defaultContainers } from '../containers/index.js';
import type { ContainerKind, ContainerReader } from '../containers/types.js';
import { formats as defaultFormats } from '../formats/index.js';
import type { ModelFormat } from '../formats/types.js';
import { INVENTORY_SCHEMA, type Inventory, type Stats, type Subject } from '../inventory/schema.js';
import { DecodeBudget } from '../io/decode-budget.js';
import { ScanResources } from '../io/scan-resources.js';
import { TempArea } from '../io/temp-area.js';
import { DEFAULT_LIMITS, type Limits } from '../io/limits.js';
import { toolVersion } from '../version.js';
import type { Analyzer } from './analyzer.js';
import { analyzers as defaultAnalyzers } from './analyzers.js';
import { newFindings, type Findings } from './findings.js';
import { link } from './link.js';
import { ProgressTicker, type ScanProgress } from './progress.js';
import { Walker } from './walker.js';

export type { ScanProgress } from './progress.js';
export type { Analyzer, AnalyzedItem, AnalyzerOutput, Listing } from './analyzer.js';

/** Options of one scan. Everything has a default; `limits` merges over DEFAULT_LIMITS. */
export interface ScanOptions {
  limits?: Partial<Limits>;
  /** Adds the scan's time to the inventory: `true` for now, or a fixed ISO string. Off by default so reports are reproducible. */
  timestamp?: boolean | string;
  /** Called as the scan goes; the CLI throttles it into a progress bar. */
  onProgress?: (p: ScanProgress) => void;
  /** Replace the registries (tests, embedders). */
  formats?: readonly ModelFormat[];
  containers?: readonly ContainerReader[];
  analyzers?: readonly Analyzer[];
  /** The tool version written into the inventory (default: aibom's own); golden tests pin it. */
  toolVersion?: string;
}

/**
 * The scan pipeline: walk (inputs, directories, containers, siblings, dedupe) -> identify (exclusive:
 * which model format or container an item is) -> analyzers (non-exclusive passes over every item and
 * listing) -> link (components with content-derived ids, relationships). Resources that live for one
 * scan (the temp area, the decode budget, the block cache) are created here and released when it
 * returns; nothing is shared between concurrent scans.
 */
async function run(inputs: readonly string[], options: ScanOptions): Promise<Inventory> {
  const limits: Readonly<Limits> = { ...DEFAULT_LIMITS, ...options.limits };
  const temp = new TempArea();
  const budget = new DecodeBudget(limits, temp);
  // The block cache (sized from the memory budget) and the decode charge live for this scan only,
  // handed to every reader through its context; cleared when the scan returns.
  const resources = ScanResources.forLimits(limits, budget);
  const ticker = new ProgressTicker(options.onProgress);
  const containers = options.containers ?? defaultContainers;
  const walker = new Walker({
    limits,
    formats: options.formats ?? defaultFormats,
    containers,
    analyzers: options.analyzers ?? defaultAnalyzers,
    budget,
    resources,
    ticker,
  });
  const subjects: Subject[] = [];
  const found: Findings[] = [];
  // The total is only for the progress bar: a directory tree is not stat'ed twice when nobody watches.
  if (options.onProgress !== undefined) ticker.state.bytesTotal = inputs.reduce((n, i) => n + sizeOnDisk(i), 0);
  try {
    for (const input of inputs) {
      const f = newFindings();
      subjects.push(await walker.scanInput(input, f));
      found.push(f);
    }
  } finally {
    resources.dispose();
    temp.cleanup();
  }
  const kinds = new Map<string, ContainerKind | undefined>(containers.map((c) => [c.id, c.kind]));
  const linked = link(found, kinds);
  const stats: Stats = { ...walker.stats, decompressedBytes: budget.decompressedBytes };
  const inv: Inventory = {
    schema: INVENTORY_SCHEMA,
    tool: { name: 'aibom', version: options.toolVersion ?? toolVersion() },
    subjects,
    components: linked.components,
    relationships: linked.relationships,
    problems: linked.problems,
    stats,
  };
  const ts = options.timestamp;
  if (ts !== undefined && ts !== false) inv.timestamp = ts === true ? new Date().toISOString() : ts;
  return inv;
}

/** Size of a file, or of the regular files below a directory, for progress; 0 when unreadable. */
function sizeOnDisk(p: string): number {
  try {
    const st = fs.lstatSync(p);
    if (st.isFile()) return st.size;
    if (!st.isDirectory()) return 0;
    let total = 0;
    for (const e of fs.readdirSync(p, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) {
        try {
          total += fs.lstatSync(path.join(e.parentPath, e.name)).size;
        } catch {
          /* vanished: ignore */
        }
      }
    }
    return total;
  } catch {
    return 0;
  }
}

/**
 * Scans files and directories for AI models, recursively through containers, and returns the
 * inventory. Never throws for bad input: each failure is a Problem at its location.
 */
export function scan(inputs: readonly string[], options: ScanOptions = {}): Promise<Inventory> {
  return run(inputs, options);
}
