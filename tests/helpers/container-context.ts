import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containers } from '../../src/containers/index.js';
import type { ContainerContext, ContainerReader, EntryProblem } from '../../src/containers/types.js';
import { describeError } from '../../src/errors.js';
import { FileSource, chunks, type ByteSource } from '../../src/io/byte-source.js';
import { DecodeBudget } from '../../src/io/decode-budget.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/io/limits.js';
import { ScanResources } from '../../src/io/scan-resources.js';
import { TempArea } from '../../src/io/temp-area.js';
import { createProbe } from '../../src/probe.js';

/** A ContainerContext for tests, with what it is built from. */
export interface TestContext {
  readonly ctx: ContainerContext;
  readonly problems: EntryProblem[];
  readonly budget: DecodeBudget;
  readonly temp: TempArea;
  /** Fresh per context: its own block cache, charging `budget` as a scan does. */
  readonly resources: ScanResources;
  readonly limits: Readonly<Limits>;
  /** A context for a nested container sharing the budget, problems and limits. */
  child(name: string): ContainerContext;
  /** Disposes the resources and removes the temp area. */
  cleanup(): void;
}

/**
 * Builds a context over a fresh DecodeBudget, TempArea and ScanResources (decoded blocks charge the
 * budget, as in a scan); problems are collected in order.
 * `siblings` answers `ctx.sibling(name)` (none by default).
 */
export function makeContext(name: string, limits: Partial<Limits> = {}, siblings: Readonly<Record<string, ByteSource>> = {}): TestContext {
  const all: Readonly<Limits> = { ...DEFAULT_LIMITS, ...limits };
  const temp = new TempArea();
  const budget = new DecodeBudget(all, temp);
  const resources = ScanResources.forLimits(all, budget);
  const problems: EntryProblem[] = [];
  const make = (n: string): ContainerContext => ({
    limits: all,
    resources,
    name: n,
    problem: (p) => problems.push(p),
    decode: (stream, info) => budget.decode(stream, info),
    sibling: (s) => Promise.resolve(Object.hasOwn(siblings, s) ? siblings[s] : undefined),
  });
  const cleanup = (): void => {
    resources.dispose();
    temp.cleanup();
  };
  return { ctx: make(name), problems, budget, temp, resources, limits: all, child: make, cleanup };
}

/** sha256 of a whole source. */
export function sha256Source(src: ByteSource): string {
  const h = crypto.createHash('sha256');
  for (const c of chunks(src)) h.update(c);
  return h.digest('hex');
}

export function sha256Bytes(b: Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** One member as listed by a reader (or by a real tool, for comparison). */
export interface Listed {
  path: string;
  type: string;
  size?: number;
  sha256?: string;
  linkTarget?: string;
}

export interface ListOptions {
  /** Recurse into members that a registered container reader matches; paths become `a!/b`. */
  recurse?: boolean;
  /** Called with each opened source before it is released. */
  onSource?: (path: string, src: ByteSource) => void;
  /** Open and hash file members (default true). */
  hash?: boolean;
}

/**
 * Lists a reader's entries with the sha256 of each file's content (opened, hashed, released), sorted
 * by path. Errors on open are recorded as `error:<code>` in `sha256` (the code the scan would report)
 * so tests can assert them.
 */
export async function listEntries(
  reader: ContainerReader,
  src: ByteSource,
  t: TestContext,
  name = t.ctx.name,
  opts: ListOptions = {},
  prefix = '',
): Promise<Listed[]> {
  const out: Listed[] = [];
  const ctx = name === t.ctx.name ? t.ctx : t.child(name);
  for await (const e of reader.entries(src, ctx)) {
    const item: Listed = { path: prefix + e.path, type: e.type };
    if (e.size !== undefined) item.size = e.size;
    if (e.linkTarget !== undefined) item.linkTarget = e.linkTarget;
    if (e.type === 'file' && opts.hash !== false) {
      let s: ByteSource | undefined;
      try {
        s = await e.open();
        item.sha256 = sha256Source(s);
        item.size = s.size;
        opts.onSource?.(item.path, s);
        if (opts.recurse) {
          const probe = createProbe(s, e.path.slice(e.path.lastIndexOf('/') + 1));
          const inner = containers.find((c) => c.match(probe));
          if (inner !== undefined) out.push(...(await listEntries(inner, s, t, probe.name, opts, `${item.path}!/`)));
        }
      } catch (err) {
        // describeError, as the scan does: an untyped error is `internal` (a bug), never blamed on the input.
        item.sha256 = `error:${describeError(err).code}`;
      } finally {
        if (s !== undefined) t.budget.release(s);
      }
    }
    out.push(item);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Opens a file as a ByteSource; the caller closes it. */
export function openFile(file: string): FileSource {
  return FileSource.open(file);
}

/** A fresh directory under the OS temp folder, removed by the returned function. */
export function tempDir(prefix = 'aibom-test-'): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a tool and returns its stdout (stderr is ignored unless it fails). */
export function run(cmd: string, args: string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], ...options }) as string;
}

/** Runs a tool with binary stdin and returns its binary stdout. */
export function runBuffer(cmd: string, args: string[], input?: Uint8Array): Buffer {
  return execFileSync(cmd, args, {
    maxBuffer: 1024 * 1024 * 1024,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(input === undefined ? {} : { input }),
  });
}

/** Runs a python3 script (argv after the script as given). */
export function python(script: string, args: string[] = [], cwd?: string): string {
  return run('python3', ['-c', script, ...args], cwd === undefined ? {} : { cwd });
}

/**
 * What extraction by a real tool produced: every regular file, directory and symlink under `dir`,
 * relative paths '/'-separated, with size and sha256 of files; sorted like `listEntries`.
 */
export function listTree(dir: string): Listed[] {
  const out: Listed[] = [];
  const walk = (rel: string): void => {
    for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      const full = path.join(dir, r);
      if (d.isSymbolicLink()) out.push({ path: r, type: 'symlink', linkTarget: fs.readlinkSync(full) });
      else if (d.isDirectory()) {
        out.push({ path: r, type: 'directory' });
        walk(r);
      } else if (d.isFile()) {
        const bytes = fs.readFileSync(full);
        out.push({ path: r, type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) });
      }
    }
  };
  walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Peak resident set size of this process so far, in MiB (Linux: VmHWM). */
export function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss / 1024 / 1024;
}

/** Current resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}
