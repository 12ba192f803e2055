import fs from 'node:fs';
import path from 'node:path';
import { containers as defaultContainers } from './containers/index.js';
import type { ContainerContext, ContainerEntry, ContainerReader, EntryProblem } from './containers/types.js';
import { describeError, FormatError, LimitError, type ProblemCode } from './errors.js';
import { formats as defaultFormats } from './formats/index.js';
import type { ModelFormat, ModelInfo } from './formats/types.js';
import { FileSource, type ByteSource } from './io/byte-source.js';
import { DecodeBudget } from './io/decode-budget.js';
import { sha256Of } from './io/hash.js';
import { hashFileInWorker, WORKER_HASH_MIN_SIZE } from './io/hash-worker.js';
import { DEFAULT_LIMITS, type Limits } from './io/limits.js';
import { ScanResources } from './io/scan-resources.js';
import { TempArea } from './io/temp-area.js';
import { INVENTORY_SCHEMA, type Inventory, type Model, type Problem, type Stats, type Subject } from './inventory.js';
import { createProbe, extensionOf } from './probe.js';
import { toolVersion } from './version.js';

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
}

/** A progress report: bytes read from the inputs so far, of their total size. */
export interface ScanProgress {
  location: string;
  bytesDone: number;
  bytesTotal: number;
  models: number;
}

type ModelBody = Omit<Model, 'location'>;
type ProblemBody = Omit<Problem, 'location'>;

/**
 * What one item yielded, with locations relative to the item (`suffix` is appended to the item's own
 * location: '' for the item itself, `!/member` and deeper for what it contains). Relative results are
 * what makes deduplication cheap: content met again at another location replays the same record
 * under the new prefix instead of being parsed again.
 */
interface Findings {
  models: {
    suffix: string;
    body: ModelBody;
    /** External data paths the model names, relative to its folder. */
    externalData?: string[];
    /** Set while the model's container is still being listed: its external data is checked at the end. */
    pendingCheck?: boolean;
    memberPath?: string;
  }[];
  problems: { suffix: string; body: ProblemBody }[];
  /** False when a result depends on where the item was met (a limit was reached): never replayed. */
  cacheable: boolean;
}

const newFindings = (): Findings => ({ models: [], problems: [], cacheable: true });

/** Opens a sibling of an item by name (see ContainerContext.sibling); sources it opens are closed by its owner. */
type SiblingResolver = (name: string) => Promise<ByteSource | undefined>;

/**
 * Thrown through a reader when it asks for a sibling its container has not listed yet: the item is
 * processed again once the whole container is listed. Never reaches a report.
 */
class SiblingPending extends Error {}

/** The dedupe key of findings that depend on the item's name as well as on its content. */
function nameKey(sha: string, name: string): string {
  return `${sha}\u0000${name}`;
}

const noSiblings: SiblingResolver = () => Promise.resolve(undefined);

/** Only plain names: a reader cannot reach outside the item's own folder through `sibling`. */
function plainName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !name.includes('/') && !name.includes('\\') && name !== '.' && name !== '..';
}

/** A resolver over a folder on disk; returns the files it opened so the caller can close them. */
function diskSiblings(dirAbs: string, opened: FileSource[]): SiblingResolver {
  return (name) => {
    if (!plainName(name)) return Promise.resolve(undefined);
    const p = path.join(dirAbs, name);
    if (!isFile(p)) return Promise.resolve(undefined);
    const f = FileSource.open(p);
    opened.push(f);
    return Promise.resolve(f);
  };
}

function addProblem(f: Findings, suffix: string, severity: Problem['severity'], code: ProblemCode, message: string): void {
  f.problems.push({ suffix, body: { severity, code, message } });
  if (code === 'limit') f.cacheable = false;
}

function addError(f: Findings, suffix: string, err: unknown, prefix = ''): void {
  const { code, message } = describeError(err);
  addProblem(f, suffix, code === 'limit' || code === 'unsupported' ? 'warning' : 'error', code, prefix + message);
}

/** Copies a child's findings into its parent under `prefix`. */
function adopt(parent: Findings, child: Findings, prefix: string): void {
  for (const m of child.models) parent.models.push({ ...m, suffix: prefix + m.suffix });
  for (const p of child.problems) parent.problems.push({ suffix: prefix + p.suffix, body: p.body });
  if (!child.cacheable) parent.cacheable = false;
}

/** True when a recorded relative path climbs out of its root or is absolute. */
function escapesRoot(rel: string): boolean {
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel) || rel.includes('\\')) return true;
  const norm = path.posix.normalize(rel);
  return norm === '..' || norm.startsWith('../');
}

/** Counts the bytes read through a top-level source, for progress. */
class CountingSource implements ByteSource {
  read_ = 0;
  constructor(private readonly inner: FileSource) {}
  get size(): number {
    return this.inner.size;
  }
  get identity(): string {
    return this.inner.identity;
  }
  read(offset: number, length: number): Uint8Array {
    const b = this.inner.read(offset, length);
    this.read_ += b.length;
    return b;
  }
  readInto(offset: number, target: Uint8Array): number {
    const n = this.inner.readInto(offset, target);
    this.read_ += n;
    return n;
  }
}

class Scanner {
  readonly limits: Readonly<Limits>;
  private readonly formats: readonly ModelFormat[];
  private readonly containers: readonly ContainerReader[];
  private readonly temp = new TempArea();
  private readonly budget: DecodeBudget;
  /** This scan's block cache and decode charge, handed to readers in their ContainerContext. */
  private readonly resources: ScanResources;
  /** sha256 -> findings of that content, relative to it. */
  private readonly byHash = new Map<string, Findings>();
  /** Identity of a view (file + range) -> its sha256, so two views of the same bytes are hashed once. */
  private readonly hashByIdentity = new Map<string, string>();
  private readonly claims = new Map<string, ModelFormat[]>();
  private entriesStopped = false;
  readonly stats: Stats = { containers: 0, entries: 0, files: 0, duplicates: 0, decompressedBytes: 0 };
  private progress: ScanProgress = { location: '', bytesDone: 0, bytesTotal: 0, models: 0 };
  private current: CountingSource | undefined;
  private doneBefore = 0;
  private lastTick = 0;

  constructor(private readonly options: ScanOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.formats = options.formats ?? defaultFormats;
    this.containers = options.containers ?? defaultContainers;
    this.budget = new DecodeBudget(this.limits, this.temp);
    this.resources = ScanResources.forLimits(this.limits, this.budget);
    for (const f of this.formats) {
      for (const ext of f.extensions) this.claims.set(ext, [...(this.claims.get(ext) ?? []), f]);
    }
  }

  async run(inputs: readonly string[]): Promise<Inventory> {
    const subjects: Subject[] = [];
    const models: Model[] = [];
    const problems: Problem[] = [];
    this.progress.bytesTotal = inputs.reduce((n, i) => n + sizeOnDisk(i), 0);
    try {
      for (const input of inputs) {
        const found = newFindings();
        const subject = await this.scanInput(input, found);
        subjects.push(subject);
        for (const m of found.models) models.push({ location: input + m.suffix, ...m.body });
        for (const p of found.problems) problems.push({ location: input + p.suffix, ...p.body });
      }
    } finally {
      this.resources.dispose();
      this.temp.cleanup();
    }
    this.stats.decompressedBytes = this.budget.decompressedBytes;
    models.sort((a, b) => cmp(a.location, b.location) || (a.offset ?? 0) - (b.offset ?? 0) || cmp(a.format, b.format));
    problems.sort((a, b) => cmp(a.location, b.location) || cmp(a.code, b.code) || cmp(a.message, b.message));
    const inv: Inventory = {
      schema: INVENTORY_SCHEMA,
      tool: { name: 'aibom', version: toolVersion() },
      subjects,
      models,
      runtimes: [],
      problems,
      stats: this.stats,
    };
    const ts = this.options.timestamp;
    if (ts !== undefined && ts !== false) inv.timestamp = ts === true ? new Date().toISOString() : ts;
    return inv;
  }

  private async scanInput(input: string, found: Findings): Promise<Subject> {
    let st: fs.Stats;
    try {
      st = fs.statSync(input);
    } catch (err) {
      addError(found, '', err, 'cannot read input: ');
      return { location: input, kind: 'file', size: 0 };
    }
    if (st.isDirectory()) {
      const size = await this.walkDirectory(input, found);
      return { location: input, kind: 'directory', size };
    }
    if (!st.isFile()) {
      addProblem(found, '', 'error', 'unsupported', 'Input is neither a regular file nor a directory; it was not read.');
      return { location: input, kind: 'file', size: 0 };
    }
    const subject: Subject = { location: input, kind: 'file', size: st.size };
    const src = FileSource.open(input);
    const counted = new CountingSource(src);
    this.current = counted;
    // A large input's own hash runs on a worker thread while this thread walks its contents.
    const background = st.size >= WORKER_HASH_MIN_SIZE ? hashFileInWorker(input).catch(() => undefined) : undefined;
    const opened: FileSource[] = [];
    try {
      const child = await this.processItem(counted, path.basename(input), input, 0, diskSiblings(path.dirname(input), opened));
      adopt(found, child, '');
      this.checkExternalOnDisk(found, '', path.dirname(input), path.dirname(input));
      const fromWorker = await background;
      if (fromWorker !== undefined && fromWorker.size !== counted.size) {
        addProblem(found, '', 'error', 'io', `The file changed while it was scanned (${counted.size} bytes at open, ${fromWorker.size} when hashed).`);
      }
      subject.sha256 = fromWorker?.sha256 ?? this.hashOf(counted);
    } catch (err) {
      addError(found, '', err);
    } finally {
      this.doneBefore += st.size;
      this.current = undefined;
      src.close();
      for (const f of opened) f.close();
    }
    return subject;
  }

  /**
   * Walks a directory input: regular files are scanned, symlinks are never followed (one pointing
   * outside the input is reported), other special files (FIFOs, devices) are never opened.
   */
  private async walkDirectory(root: string, found: Findings): Promise<number> {
    const rootAbs = path.resolve(root);
    const base = root.replace(/\/+$/, '');
    let total = 0;
    const stack: string[] = [''];
    while (stack.length > 0) {
      const rel = stack.pop()!;
      const abs = path.join(rootAbs, rel);
      let names: string[];
      try {
        names = fs.readdirSync(abs).sort();
      } catch (err) {
        addError(found, rel === '' ? '' : `/${rel}`, err, 'cannot list directory: ');
        continue;
      }
      const subdirs: string[] = [];
      for (const name of names) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const childAbs = path.join(abs, name);
        const suffix = `/${childRel}`;
        this.stats.entries++;
        let st: fs.Stats;
        try {
          st = fs.lstatSync(childAbs);
        } catch (err) {
          addError(found, suffix, err);
          continue;
        }
        if (st.isDirectory()) {
          subdirs.push(childRel);
        } else if (st.isSymbolicLink()) {
          const target = safeReadlink(childAbs);
          const resolved = path.resolve(path.dirname(childAbs), target);
          if (resolved !== rootAbs && !resolved.startsWith(rootAbs + path.sep)) {
            addProblem(found, suffix, 'info', 'symlink', `Symlink to '${target}' points outside the input; it was not followed.`);
          }
        } else if (st.isFile()) {
          total += st.size;
          let src: FileSource;
          try {
            src = FileSource.open(childAbs);
          } catch (err) {
            addError(found, suffix, err);
            continue;
          }
          const counted = new CountingSource(src);
          this.current = counted;
          const opened: FileSource[] = [];
          try {
            const child = await this.processItem(counted, name, base + suffix, 0, diskSiblings(abs, opened));
            const before = found.models.length;
            adopt(found, child, suffix);
            this.checkExternalOnDisk(found, suffix, abs, rootAbs, before);
          } catch (err) {
            addError(found, suffix, err);
          } finally {
            this.doneBefore += counted.read_;
            this.current = undefined;
            src.close();
            for (const f of opened) f.close();
          }
        }
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
    return total;
  }

  /** Checks external data of the model found at `suffix` (a file on disk in `dirAbs`). */
  private checkExternalOnDisk(found: Findings, suffix: string, dirAbs: string, rootAbs: string, from = 0): void {
    for (let i = from; i < found.models.length; i++) {
      const m = found.models[i]!;
      if (m.suffix !== suffix || !m.externalData) continue;
      for (const ref of m.externalData) {
        if (escapesRoot(ref)) {
          addProblem(found, suffix, 'error', 'external-data', `External data '${ref}' points outside the model's folder; it was not read.`);
          continue;
        }
        const target = path.resolve(dirAbs, ref);
        if (!target.startsWith(path.resolve(rootAbs) + path.sep) || !isFile(target)) {
          addProblem(found, suffix, 'error', 'external-data', `External data file '${ref}' is missing beside the model.`);
        }
      }
    }
  }

  /** sha256 of a source, once per identity (views of the same bytes are not hashed twice). */
  private hashOf(src: ByteSource): string {
    const id = src.identity;
    if (id !== undefined) {
      const known = this.hashByIdentity.get(id);
      if (known !== undefined) return known;
    }
    const h = sha256Of(src, () => this.tick());
    if (id !== undefined) this.hashByIdentity.set(id, h);
    return h;
  }

  /**
   * Identifies one item and returns what it holds. Models are tried first (a TFLite model with an
   * appended zip is a model, not a zip), then names that claim a model format, then containers.
   * Identical content met before is not parsed again: its findings are replayed.
   */
  private async processItem(src: ByteSource, name: string, location: string, depth: number, siblings: SiblingResolver = noSiblings): Promise<Findings> {
    this.stats.files++;
    this.progress.location = location;
    this.tick();
    const found = newFindings();
    // A nested item's size comes from metadata (a partition table, a payload manifest): one that claims
    // more than the whole scan may decompress is refused, or hashing its zeros would never end.
    if (depth > 0 && src.size > this.limits.maxDecompressedBytes) {
      addProblem(found, '', 'warning', 'limit', `This item declares ${src.size} bytes, more than maxDecompressedBytes ${this.limits.maxDecompressedBytes}; it was not read.`);
      return found;
    }
    const probe = createProbe(src, name);
    const claimed = this.claims.get(extensionOf(name)) ?? [];

    for (const format of this.formats) {
      if (!format.match(probe)) continue;
      const sha = this.hashOf(src);
        const seen = this.byHash.get(sha) ?? this.byHash.get(nameKey(sha, name));
      if (seen) {
        this.stats.duplicates++;
        return seen;
      }
      try {
        const info = await format.inspect(src, probe, { limits: this.limits });
        this.addModel(found, format, src, sha, info, info.confidence);
        this.remember(sha, found);
        return found;
      } catch (err) {
        if (!(err instanceof FormatError)) {
          addError(found, '', err, `${format.id}: `);
          return found;
        }
        if (format.hasMagic === true || claimed.includes(format)) {
          const code: ProblemCode = claimed.includes(format) ? 'claimed-model' : err.code;
          addProblem(found, '', 'error', code, `Not a valid ${format.id} model: ${err.message}`);
          // A claim depends on the name, not only on the content.
          this.remember(claimed.length > 0 ? nameKey(sha, name) : sha, found);
          return found;
        }
      }
    }

    // A name that claims a model format the content did not match: validate anyway, so the user
    // learns why (or learns it is a model after all, found by structure rather than by its head).
    for (const format of claimed) {
      if (format.match(probe)) continue;
      try {
        const info = await format.inspect(src, probe, { limits: this.limits });
        const sha = this.hashOf(src);
        this.addModel(found, format, src, sha, info, info.confidence === 'high' ? 'medium' : 'low');
        return found;
      } catch (err) {
        const { message } = describeError(err);
        addProblem(found, '', 'error', 'claimed-model', `Claimed ${format.id} model is not valid: ${message}`);
      }
    }

    const reader = this.containers.find((c) => c.match(probe));
    if (reader === undefined) return found;
    if (depth >= this.limits.maxDepth) {
      addProblem(found, '', 'warning', 'limit', `A ${reader.id} container at nesting depth ${depth} exceeds the depth limit of ${this.limits.maxDepth}; it was not opened.`);
      return found;
    }
    const sha = this.hashOf(src);
    const seen = this.byHash.get(sha) ?? this.byHash.get(nameKey(sha, name));
    if (seen) {
      this.stats.duplicates++;
      adopt(found, seen, '');
      return found;
    }
    const usedName = await this.walkContainer(reader, src, name, location, depth, found, siblings);
    this.remember(usedName ? nameKey(sha, name) : sha, found);
    return found;
  }

  private remember(sha: string, f: Findings): void {
    if (f.cacheable) this.byHash.set(sha, f);
  }

  private addModel(found: Findings, format: ModelFormat, src: ByteSource, sha: string, info: ModelInfo, confidence: ModelInfo['confidence']): void {
    const body: ModelBody = { format: format.id, size: src.size, sha256: sha, confidence, metadata: info.metadata };
    if (info.associatedFiles && info.associatedFiles.length > 0) {
      body.associatedFiles = [...info.associatedFiles].sort((a, b) => cmp(a.name, b.name));
    }
    const entry: Findings['models'][number] = { suffix: '', body };
    if (info.externalData && info.externalData.length > 0) entry.externalData = [...info.externalData];
    found.models.push(entry);
    this.progress.models++;
    for (const w of info.warnings ?? []) addProblem(found, '', w.severity, w.code, w.message);
  }

  /** Opens every member of a container and processes it; member failures become problems. */
  private async walkContainer(
    reader: ContainerReader,
    src: ByteSource,
    name: string,
    location: string,
    depth: number,
    found: Findings,
    siblings: SiblingResolver,
  ): Promise<boolean> {
    this.stats.containers++;
    const paths = new Set<string>();
    // Readers that name members or word messages after their container (`system.img` -> `system.raw`)
    // make their findings depend on that name: noticed here, so dedupe keys them by name as well.
    let usedName = false;
    const ctx: ContainerContext = {
      limits: this.limits,
      resources: this.resources,
      get name() {
        usedName = true;
        return name;
      },
      problem: (p: EntryProblem) => addProblem(found, p.path === undefined ? '' : `!/${p.path}`, p.severity, p.code, p.message),
      decode: (stream, info) => this.budget.decode(stream, info),
      sibling: siblings,
    };
    // Members listed so far, for siblings; members whose reader asked for one not listed yet.
    const listed = new Map<string, ContainerEntry>();
    const deferred: ContainerEntry[] = [];
    let complete = false;
    const siblingsOf = (memberPath: string, opened: ByteSource[]): SiblingResolver => async (sib) => {
      if (!plainName(sib)) return undefined;
      const dir = path.posix.dirname(memberPath);
      const entry = listed.get(dir === '.' ? sib : `${dir}/${sib}`);
      if (entry === undefined || entry.type !== 'file') {
        if (!complete) throw new SiblingPending(sib);
        return undefined;
      }
      const s = await entry.open();
      opened.push(s);
      return s;
    };
    const member = async (entry: ContainerEntry, suffix: string): Promise<void> => {
      let child: ByteSource;
      try {
        child = await entry.open();
      } catch (err) {
        addError(found, suffix, err);
        return;
      }
      const opened: ByteSource[] = [];
      try {
        const inner = await this.processItem(child, path.posix.basename(entry.path), `${location}${suffix}`, depth + 1, siblingsOf(entry.path, opened));
        const before = found.models.length;
        adopt(found, inner, suffix);
        this.markExternalPending(found, suffix, entry.path, before);
      } catch (err) {
        if (err instanceof SiblingPending && !complete) deferred.push(entry);
        else addError(found, suffix, err);
      } finally {
        this.budget.release(child);
        for (const o of opened) this.budget.release(o);
      }
    };
    let count = 0;
    try {
      for await (const entry of reader.entries(src, ctx)) {
        count++;
        this.stats.entries++;
        if (this.entriesStopped || this.stats.entries > this.limits.maxEntries) {
          this.entriesStopped = true;
          addProblem(found, '', 'warning', 'limit', `The scan reached its limit of ${this.limits.maxEntries} entries; the rest of this ${reader.id} container was not read.`);
          break;
        }
        if (count > this.limits.maxEntriesPerContainer) {
          addProblem(found, '', 'warning', 'limit', `This ${reader.id} container has more than ${this.limits.maxEntriesPerContainer} entries; the rest were not read.`);
          break;
        }
        paths.add(entry.path);
        listed.set(entry.path, entry);
        const suffix = `!/${entry.path}`;
        if (entry.type === 'symlink' || entry.type === 'hardlink') {
          const target = entry.linkTarget ?? '';
          const rel = entry.type === 'symlink' ? path.posix.join(path.posix.dirname(entry.path), target) : target;
          if (target.startsWith('/') ? false : escapesRoot(rel)) {
            addProblem(found, suffix, 'warning', 'symlink', `A ${entry.type} to '${target}' climbs out of the container; it was recorded, not followed.`);
          }
          continue;
        }
        if (entry.type !== 'file') continue;
        await member(entry, suffix);
      }
    } catch (err) {
      if (err instanceof SiblingPending) throw err; // this container's own reader waits for a sibling
      addError(found, '', err, `${reader.id}: `);
      if (err instanceof LimitError) found.cacheable = false;
    }
    // Now every member is listed: the deferred ones get their siblings or learn there are none.
    // (Members of a decoded container, e.g. a .tar.gz, may no longer open here: that is a problem.)
    complete = true;
    for (const entry of deferred) await member(entry, `!/${entry.path}`);
    // Members listed after a model may be its external data: check once the listing is complete.
    for (const m of found.models) {
      if (m.pendingCheck !== true) continue;
      delete m.pendingCheck;
      for (const ref of m.externalData ?? []) {
        if (escapesRoot(ref)) {
          addProblem(found, m.suffix, 'error', 'external-data', `External data '${ref}' points outside the model's folder; it was not read.`);
          continue;
        }
        const dir = path.posix.dirname(m.memberPath ?? '');
        const target = path.posix.normalize(dir === '.' ? ref : `${dir}/${ref}`);
        if (!paths.has(target)) {
          addProblem(found, m.suffix, 'error', 'external-data', `External data file '${ref}' is missing beside the model.`);
        }
      }
    }
    return usedName;
  }

  /** Marks the models just found at `suffix` for an external-data check when the listing ends. */
  private markExternalPending(found: Findings, suffix: string, memberPath: string, from: number): void {
    for (let i = from; i < found.models.length; i++) {
      const m = found.models[i]!;
      if (m.suffix === suffix && m.externalData) {
        m.pendingCheck = true;
        m.memberPath = memberPath;
      }
    }
  }

  private tick(): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = Date.now();
    if (now - this.lastTick < 100) return;
    this.lastTick = now;
    this.progress.bytesDone = Math.min(this.progress.bytesTotal, this.doneBefore + (this.current?.read_ ?? 0));
    cb({ ...this.progress });
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function safeReadlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
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
export async function scan(inputs: readonly string[], options: ScanOptions = {}): Promise<Inventory> {
  return new Scanner(options).run(inputs);
}
