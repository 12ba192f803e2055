import fs from 'node:fs';
import path from 'node:path';
import type { ContainerContext, ContainerEntry, ContainerReader, EntryProblem } from '../containers/types.js';
import { describeError, FormatError, LimitError, type ProblemCode } from '../errors.js';
import type { InspectContext, ModelFormat, ModelInfo } from '../formats/types.js';
import type { Evidence, Hop, Subject } from '../inventory/schema.js';
import { FileSource, type ByteSource } from '../io/byte-source.js';
import type { DecodeBudget } from '../io/decode-budget.js';
import type { ScanResources } from '../io/scan-resources.js';
import { sha256Of } from '../io/hash.js';
import { hashFileInWorker, WORKER_HASH_MIN_SIZE } from '../io/hash-worker.js';
import type { Limits } from '../io/limits.js';
import { createProbe, extensionOf, type Probe } from '../probe.js';
import type { AnalyzedItem, Analyzer, AnalyzerOutput, Listing } from './analyzer.js';
import { checkPartsOnDisk, ListingParts } from './parts.js';
import { addError, addProblem, adopt, newFindings, type Findings, type ModelFinding } from './findings.js';
import { Identifier, matchDetail } from './identify.js';
import { CountingSource, type ProgressTicker } from './progress.js';
import { diskSiblings, escapesRoot, noSiblings, SiblingPending, siblingName, type SiblingResolver } from './siblings.js';

/** The dedupe key of findings that depend on the item's name as well as on its content. */
function nameKey(sha: string, name: string): string {
  return `${sha}\u0000${name}`;
}

const hop = (p: string, reader: string): Hop => ({ path: p, reader });

/** What the walk needs from the scan around it. */
export interface WalkSetup {
  limits: Readonly<Limits>;
  formats: readonly ModelFormat[];
  containers: readonly ContainerReader[];
  analyzers: readonly Analyzer[];
  budget: DecodeBudget;
  resources: ScanResources;
  ticker: ProgressTicker;
}

/**
 * The walk stage: inputs, directories and containers, recursively, with sibling deferral and
 * deduplication of identical content. For every item it runs identification (exclusive: a model
 * format or a container) and then every analyzer (non-exclusive); listings of containers and
 * directories go to the analyzers too. Everything it finds is kept relative to the item.
 */
export class Walker {
  private readonly identifier: Identifier;
  /** sha256 -> findings of that content, relative to it. */
  private readonly byHash = new Map<string, Findings>();
  /** Identity of a view (file + range) -> its sha256, so two views of the same bytes are hashed once. */
  private readonly hashByIdentity = new Map<string, string>();
  private entriesStopped = false;
  readonly stats = { containers: 0, entries: 0, files: 0, duplicates: 0 };

  constructor(private readonly setup: WalkSetup) {
    this.identifier = new Identifier(setup.formats, setup.containers);
  }

  private get limits(): Readonly<Limits> {
    return this.setup.limits;
  }

  /** Scans one input (file or directory); its findings are relative to the input's own hop. */
  async scanInput(input: string, found: Findings): Promise<Subject> {
    let st: fs.Stats;
    try {
      st = fs.statSync(input);
    } catch (err) {
      addError(found, [hop(input, 'file')], err, 'cannot read input: ');
      return { location: input, kind: 'file', size: 0 };
    }
    if (st.isDirectory()) {
      const size = await this.walkDirectory(input, found);
      return { location: input, kind: 'directory', size };
    }
    const root = [hop(input, 'file')];
    if (!st.isFile()) {
      addProblem(found, root, 'error', 'unsupported', 'Input is neither a regular file nor a directory; it was not read.');
      return { location: input, kind: 'file', size: 0 };
    }
    const subject: Subject = { location: input, kind: 'file', size: st.size };
    const src = FileSource.open(input);
    const counted = new CountingSource(src);
    const ticker = this.setup.ticker;
    ticker.current = counted;
    // A large input's own hash runs on a worker thread while this thread walks its contents.
    const background = st.size >= WORKER_HASH_MIN_SIZE ? hashFileInWorker(input).catch(() => undefined) : undefined;
    const opened: FileSource[] = [];
    try {
      const child = await this.processItem(counted, path.basename(input), input, 0, diskSiblings(path.dirname(input), opened));
      const before = found.models.length;
      adopt(found, child, root);
      checkPartsOnDisk(found, before, path.dirname(input), path.dirname(input));
      const fromWorker = await background;
      if (fromWorker !== undefined && fromWorker.size !== counted.size) {
        addProblem(found, root, 'error', 'io', `The file changed while it was scanned (${counted.size} bytes at open, ${fromWorker.size} when hashed).`);
      }
      subject.sha256 = fromWorker?.sha256 ?? this.hashOf(counted);
    } catch (err) {
      addError(found, root, err);
    } finally {
      ticker.doneBefore += st.size;
      ticker.current = undefined;
      src.close();
      for (const f of opened) f.close();
    }
    return subject;
  }

  /**
   * Walks a directory input: regular files are scanned, symlinks are never followed (one pointing
   * outside the input is reported), other special files (FIFOs, devices) are never opened. The whole
   * tree's listing goes to the analyzers once walked.
   */
  private async walkDirectory(root: string, found: Findings): Promise<number> {
    const rootAbs = path.resolve(root);
    const base = root.replace(/\/+$/, '');
    const at = (rel: string): Hop[] => [hop(rel === '' ? root : `${base}/${rel}`, 'directory')];
    const listing: { path: string; type: string; size?: number }[] = [];
    const ticker = this.setup.ticker;
    let total = 0;
    const stack: string[] = [''];
    while (stack.length > 0) {
      const rel = stack.pop()!;
      const abs = path.join(rootAbs, rel);
      // Entry types come with the listing (no lstat, and no Date objects, per entry); a file's size
      // comes from the descriptor it is read through.
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      } catch (err) {
        addError(found, at(rel), err, 'cannot list directory: ');
        continue;
      }
      const subdirs: string[] = [];
      for (const e of entries) {
        const name = e.name;
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const childAbs = path.join(abs, name);
        this.stats.entries++;
        if (e.isDirectory()) {
          subdirs.push(childRel);
          listing.push({ path: childRel, type: 'directory' });
        } else if (e.isSymbolicLink()) {
          listing.push({ path: childRel, type: 'symlink' });
          const target = safeReadlink(childAbs);
          const resolved = path.resolve(path.dirname(childAbs), target);
          if (resolved !== rootAbs && !resolved.startsWith(rootAbs + path.sep)) {
            addProblem(found, at(childRel), 'info', 'symlink', `Symlink to '${target}' points outside the input; it was not followed.`);
          }
        } else if (e.isFile()) {
          let src: FileSource;
          try {
            src = FileSource.open(childAbs);
          } catch (err) {
            addError(found, at(childRel), err);
            continue;
          }
          listing.push({ path: childRel, type: 'file', size: src.size });
          total += src.size;
          const counted = new CountingSource(src);
          ticker.current = counted;
          const opened: FileSource[] = [];
          try {
            const child = await this.processItem(counted, name, `${base}/${childRel}`, 0, diskSiblings(abs, opened));
            const before = found.models.length;
            adopt(found, child, at(childRel));
            checkPartsOnDisk(found, before, abs, rootAbs);
          } catch (err) {
            addError(found, at(childRel), err);
          } finally {
            ticker.doneBefore += counted.read_;
            ticker.current = undefined;
            src.close();
            for (const f of opened) f.close();
          }
        } else {
          listing.push({ path: childRel, type: 'other' });
        }
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
    await this.runListingAnalyzers({ reader: 'directory', entries: listing }, found, (p) => at(p));
    return total;
  }

  /** sha256 of a source, once per identity (views of the same bytes are not hashed twice). */
  hashOf(src: ByteSource): string {
    const id = src.identity;
    if (id !== undefined) {
      const known = this.hashByIdentity.get(id);
      if (known !== undefined) return known;
    }
    const h = sha256Of(src, () => this.setup.ticker.tick());
    if (id !== undefined) this.hashByIdentity.set(id, h);
    return h;
  }

  /**
   * Identifies one item and returns what it holds. Models are tried first (a TFLite model with an
   * appended zip is a model, not a zip), then names that claim a model format, then containers; then
   * every analyzer sees the item. Identical content met before is not parsed again: its findings are
   * replayed.
   */
  private async processItem(src: ByteSource, name: string, location: string, depth: number, siblings: SiblingResolver = noSiblings): Promise<Findings> {
    this.stats.files++;
    const ticker = this.setup.ticker;
    ticker.state.location = location;
    ticker.tick();
    const found = newFindings();
    // A nested item's size comes from metadata (a partition table, a payload manifest): one that claims
    // more than the whole scan may decompress is refused, or hashing its zeros would never end.
    if (depth > 0 && src.size > this.limits.maxDecompressedBytes) {
      addProblem(
        found,
        [],
        'warning',
        'limit',
        `This item declares ${src.size} bytes, more than maxDecompressedBytes ${this.limits.maxDecompressedBytes}; it was not read.`,
      );
      return found;
    }
    const probe = createProbe(src, name);
    const inspectCtx: InspectContext = { limits: this.limits, sibling: siblings };
    let shaMemo: string | undefined;
    const sha = (): string => (shaMemo ??= this.hashOf(src));

    const model = await this.identifyModel(src, probe, name, inspectCtx, sha, found);
    if (model !== undefined && 'stop' in model) return model.stop;
    if (model !== undefined) {
      await this.runItemAnalyzers(src, probe, model.identified, sha, found);
      this.remember(sha(), found);
      return found;
    }

    const cand = this.identifier.container(probe);
    if (cand === undefined) {
      // Never silent: a name that claims an archive or image no reader opened is reported.
      const claims = this.identifier.containersClaimedBy(name);
      if (claims.length > 0 && found.problems.length === 0) {
        addProblem(
          found,
          [],
          'warning',
          'claimed-container',
          `The name claims a ${extensionOf(name)} file (read by ${claims.join(', ')}) but no reader recognised its content (first bytes ${hexHead(probe.head)}); nothing inside it was scanned.`,
        );
      }
      await this.runItemAnalyzers(src, probe, undefined, sha, found);
      return found;
    }
    const reader = cand.detector;
    if (depth >= this.limits.maxDepth) {
      addProblem(
        found,
        [],
        'warning',
        'limit',
        `A ${reader.id} container at nesting depth ${depth} exceeds the depth limit of ${this.limits.maxDepth}; it was not opened.`,
      );
      return found;
    }
    const seen = this.byHash.get(sha()) ?? this.byHash.get(nameKey(sha(), name));
    if (seen) {
      this.stats.duplicates++;
      adopt(found, seen, []);
      return found;
    }
    const evidence: Evidence = {
      technique: cand.signature !== undefined ? 'magic' : 'structure',
      detail: matchDetail('container', reader.id, cand),
      confidence: 'high',
    };
    const usedName = await this.walkContainer(reader, src, name, location, depth, found, siblings, sha, evidence);
    await this.runItemAnalyzers(src, probe, { kind: 'container', id: reader.id }, sha, found);
    this.remember(usedName ? nameKey(sha(), name) : sha(), found);
    return found;
  }

  /**
   * The model half of identification: formats whose signature is present (or that have none) and whose
   * `match` accepts, then formats the name claims. Returns the model found, a finished result to return
   * as is (a replayed duplicate, a corrupt or falsely claimed model), or undefined (not a model).
   */
  private async identifyModel(
    src: ByteSource,
    probe: Probe,
    name: string,
    inspectCtx: InspectContext,
    sha: () => string,
    found: Findings,
  ): Promise<{ identified: NonNullable<AnalyzedItem['identified']> } | { stop: Findings } | undefined> {
    const claimed = this.identifier.claimedBy(name);
    for (const cand of this.identifier.formats(probe)) {
      const format = cand.detector;
      const seen = this.byHash.get(sha()) ?? this.byHash.get(nameKey(sha(), name));
      if (seen) {
        this.stats.duplicates++;
        return { stop: seen };
      }
      try {
        const info = await format.inspect(src, probe, inspectCtx);
        const technique = cand.signature !== undefined ? 'magic' : 'structure';
        this.addModel(found, format, src, sha(), info, info.confidence, {
          technique,
          detail: matchDetail('model', format.id, cand),
          confidence: info.confidence,
        });
        return { identified: { kind: 'model', id: format.id } };
      } catch (err) {
        if (err instanceof SiblingPending) throw err;
        if (!(err instanceof FormatError)) {
          addError(found, [], err, `${format.id}: `);
          return { stop: found };
        }
        if (cand.signature !== undefined || claimed.includes(format)) {
          const code: ProblemCode = claimed.includes(format) ? 'claimed-model' : err.code;
          addProblem(found, [], 'error', code, `Not a valid ${format.id} model: ${err.message}`);
          // A claim depends on the name, not only on the content.
          this.remember(claimed.length > 0 ? nameKey(sha(), name) : sha(), found);
          return { stop: found };
        }
      }
    }

    // A name that claims a model format the content did not match: validate anyway, so the user
    // learns why (or learns it is a model after all, found by structure rather than by its head).
    for (const format of claimed) {
      if (format.match(probe)) continue;
      try {
        const info = await format.inspect(src, probe, inspectCtx);
        const confidence = info.confidence === 'high' ? 'medium' : 'low';
        this.addModel(found, format, src, sha(), info, confidence, {
          technique: 'filename',
          detail: `the name claims ${format.id} and the content validated as ${format.id}`,
          confidence,
        });
        return { identified: { kind: 'model', id: format.id } };
      } catch (err) {
        if (err instanceof SiblingPending) throw err;
        const { code, message } = describeError(err);
        // A bug of ours stays `internal`, never disguised as a bad model.
        if (code === 'internal') addError(found, [], err, `${format.id}: `);
        else addProblem(found, [], 'error', 'claimed-model', `Claimed ${format.id} model is not valid: ${message}`);
      }
    }
    return undefined;
  }

  private remember(key: string, f: Findings): void {
    if (f.cacheable) this.byHash.set(key, f);
  }

  private addModel(
    found: Findings,
    format: ModelFormat,
    src: ByteSource,
    sha: string,
    info: ModelInfo,
    confidence: ModelInfo['confidence'],
    evidence: Evidence,
  ): void {
    const m: ModelFinding = {
      hops: [],
      format: format.id,
      size: src.size,
      sha256: sha,
      confidence,
      evidence: [evidence],
      card: format.card(info.metadata),
      metadata: info.metadata,
    };
    if (info.associatedFiles && info.associatedFiles.length > 0) {
      m.associatedFiles = [...info.associatedFiles].sort((a, b) => cmp(a.name, b.name));
    }
    const parts = [...(info.externalData ?? []).map((path) => ({ path, role: 'external-data' })), ...(info.parts ?? [])];
    if (parts.length > 0) m.parts = parts;
    found.models.push(m);
    this.setup.ticker.state.models++;
    for (const w of info.warnings ?? []) addProblem(found, [], w.severity, w.code, w.message);
  }

  private output(found: Findings, at: (p: string | undefined) => Hop[], item?: { size: number; sha: () => string }): AnalyzerOutput {
    return {
      problem: (severity, code, message, p) => addProblem(found, at(p), severity, code, message),
      data: (role, evidence, p) => {
        const d: Findings['data'][number] = { hops: at(p), role, evidence: [evidence] };
        if (p === undefined && item !== undefined) {
          d.size = item.size;
          d.sha256 = item.sha();
        }
        found.data.push(d);
      },
      software: (c, p) => {
        const own = p === undefined && item !== undefined;
        const w: Findings['software'][number] = {
          hops: at(p),
          kind: c.kind,
          name: c.name,
          key:
            c.key !== undefined
              ? [...c.key]
              : [
                  c.name,
                  c.version ?? '',
                  own
                    ? item.sha()
                    : at(p)
                        .map((h) => h.path)
                        .join('!/'),
                ],
          confidence: c.evidence.confidence,
          evidence: [{ ...c.evidence, detail: c.evidence.detail.slice(0, 200) }],
          software: c.software,
        };
        if (c.version !== undefined) w.version = c.version;
        if (own) {
          w.size = item.size;
          w.sha256 = item.sha();
        }
        found.software.push(w);
      },
      fileList: (l, p) => found.fileLists.push({ hops: at(p), kind: l.kind, paths: l.paths }),
    };
  }

  private async runItemAnalyzers(src: ByteSource, probe: Probe, identified: AnalyzedItem['identified'], sha: () => string, found: Findings): Promise<void> {
    const analyzers = this.setup.analyzers.filter((a) => a.item !== undefined);
    if (analyzers.length === 0) return;
    const item: AnalyzedItem = { name: probe.name, size: src.size, source: src, probe, identified, sha256: sha };
    const out = this.output(found, (p) => (p === undefined ? [] : [hop(p, identified?.id ?? 'item')]), { size: src.size, sha });
    for (const a of analyzers) {
      try {
        await a.item!(item, out);
      } catch (err) {
        addError(found, [], err, `analyzer ${a.id}: `);
      }
    }
  }

  private async runListingAnalyzers(listing: Listing, found: Findings, at: (p: string) => Hop[]): Promise<void> {
    const analyzers = this.setup.analyzers.filter((a) => a.listing !== undefined);
    if (analyzers.length === 0) return;
    const out = this.output(found, (p) => (p === undefined ? (listing.reader === 'directory' ? at('') : []) : at(p)));
    for (const a of analyzers) {
      try {
        await a.listing!(listing, out);
      } catch (err) {
        addError(found, listing.reader === 'directory' ? at('') : [], err, `analyzer ${a.id}: `);
      }
    }
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
    sha: () => string,
    evidence: Evidence,
  ): Promise<boolean> {
    this.stats.containers++;
    const at = (p: string): Hop[] => [hop(p, reader.id)];
    const paths = new Set<string>();
    const listing: Listing['entries'][number][] = [];
    // Readers that name members or word messages after their container (`system.img` -> `system.raw`)
    // make their findings depend on that name: noticed here, so dedupe keys them by name as well.
    let usedName = false;
    const budget = this.setup.budget;
    const ctx: ContainerContext = {
      limits: this.limits,
      resources: this.setup.resources,
      get name() {
        usedName = true;
        return name;
      },
      problem: (p: EntryProblem) => addProblem(found, p.path === undefined ? [] : at(p.path), p.severity, p.code, p.message),
      decode: (stream, info) => budget.decode(stream, info),
      sibling: siblings,
    };
    // Members listed so far, for siblings; members whose reader asked for one not listed yet.
    const listed = new Map<string, ContainerEntry>();
    const parts = new ListingParts(found, reader.id, listed, (s) => this.hashOf(s), budget);
    const deferred: ContainerEntry[] = [];
    let complete = false;
    const siblingsOf =
      (memberPath: string, opened: ByteSource[]): SiblingResolver =>
      async (sib) => {
        if (!siblingName(sib)) return undefined;
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
    const member = async (entry: ContainerEntry): Promise<void> => {
      const here = at(entry.path);
      let child: ByteSource;
      try {
        child = await entry.open();
      } catch (err) {
        addError(found, here, err);
        return;
      }
      const opened: ByteSource[] = [];
      try {
        // A model listed earlier may be waiting for this member as one of its parts.
        parts.memberOpened(entry.path, child);
        const inner = await this.processItem(child, path.posix.basename(entry.path), `${location}!/${entry.path}`, depth + 1, siblingsOf(entry.path, opened));
        const before = found.models.length;
        adopt(found, inner, here);
        // Parts of a model found here: those listed already are hashed now, the others when reached.
        for (let i = before; i < found.models.length; i++) {
          const m = found.models[i]!;
          if (m.hops.length === 1 && m.parts) await parts.modelFound(m, entry.path);
        }
      } catch (err) {
        if (err instanceof SiblingPending && !complete) deferred.push(entry);
        else addError(found, here, err);
      } finally {
        budget.release(child);
        for (const o of opened) budget.release(o);
      }
    };
    let count = 0;
    try {
      for await (const entry of reader.entries(src, ctx)) {
        count++;
        this.stats.entries++;
        if (this.entriesStopped || this.stats.entries > this.limits.maxEntries) {
          this.entriesStopped = true;
          addProblem(
            found,
            [],
            'warning',
            'limit',
            `The scan reached its limit of ${this.limits.maxEntries} entries; the rest of this ${reader.id} container was not read.`,
          );
          break;
        }
        if (count > this.limits.maxEntriesPerContainer) {
          addProblem(
            found,
            [],
            'warning',
            'limit',
            `This ${reader.id} container has more than ${this.limits.maxEntriesPerContainer} entries; the rest were not read.`,
          );
          break;
        }
        paths.add(entry.path);
        listed.set(entry.path, entry);
        const item: Listing['entries'][number] =
          entry.size !== undefined ? { path: entry.path, type: entry.type, size: entry.size } : { path: entry.path, type: entry.type };
        listing.push(item);
        if (entry.type === 'symlink' || entry.type === 'hardlink') {
          const target = entry.linkTarget ?? '';
          const rel = entry.type === 'symlink' ? path.posix.join(path.posix.dirname(entry.path), target) : target;
          if (target.startsWith('/') ? false : escapesRoot(rel)) {
            addProblem(
              found,
              at(entry.path),
              'warning',
              'symlink',
              `A ${entry.type} to '${target}' climbs out of the container; it was recorded, not followed.`,
            );
          }
          continue;
        }
        if (entry.type !== 'file') continue;
        await member(entry);
      }
    } catch (err) {
      if (err instanceof SiblingPending) throw err; // this container's own reader waits for a sibling
      addError(found, [], err, `${reader.id}: `);
      if (err instanceof LimitError) found.cacheable = false;
    }
    // Now every member is listed: the deferred ones get their siblings or learn there are none.
    // (Members of a decoded container, e.g. a .tar.gz, may no longer open here: that is a problem.)
    complete = true;
    for (const entry of deferred) await member(entry);
    parts.finish();
    await this.runListingAnalyzers({ reader: reader.id, entries: listing }, found, at);
    found.containers.push({ hops: [], reader: reader.id, sha256: sha(), size: src.size, entries: count, evidence });
    return usedName;
  }
}

/** The first bytes of an item as hex, for messages (`50 4b 03 04`; `empty` for an empty item). */
function hexHead(head: Uint8Array): string {
  if (head.length === 0) return 'empty';
  return [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function safeReadlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}
