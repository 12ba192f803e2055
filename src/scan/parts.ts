import fs from 'node:fs';
import path from 'node:path';
import type { ContainerEntry } from '../containers/types.js';
import type { Hop } from '../inventory/schema.js';
import { FileSource, type ByteSource } from '../io/byte-source.js';
import type { DecodeBudget } from '../io/decode-budget.js';
import { sha256Of } from '../io/hash.js';
import { addError, addProblem, type Findings, type ModelFinding } from './findings.js';
import { escapesRoot } from './siblings.js';

/**
 * Files a model names as its own (ONNX external data, the shards and weights of multi-file models) are
 * checked where the model was found: each must stay inside the model's folder and exist there. Each one
 * found becomes a `data` component, hashed, linked to its model by `part-of`.
 */

type Part = NonNullable<ModelFinding['parts']>[number];

function outsideMessage(part: Part): string {
  return part.role === 'external-data'
    ? `External data '${part.path}' points outside the model's folder; it was not read.`
    : `The model's ${part.role} file '${part.path}' points outside the model's folder; it was not read.`;
}

function missingMessage(part: Part): string {
  return part.role === 'external-data'
    ? `External data file '${part.path}' is missing beside the model.`
    : `The model's ${part.role} file '${part.path}' is missing beside the model.`;
}

function addPart(found: Findings, model: ModelFinding, hops: Hop[], part: Part, size: number, sha256: string): void {
  const detail = `named as ${part.role === 'external-data' ? 'external data' : `its ${part.role}`} by the ${model.format} model`.slice(0, 200);
  found.data.push({ hops, role: part.role, size, sha256, evidence: [{ technique: 'reference', detail, confidence: 'high' }] });
  found.links.push({ from: hops, type: 'part-of', to: model.hops });
}

/**
 * For models found at `found.models[from...]` that are files on disk in `dirAbs` (their hops are one
 * disk hop): checks and hashes each external data file. `rootAbs` bounds where a reference may lead.
 */
export function checkPartsOnDisk(found: Findings, from: number, dirAbs: string, rootAbs: string): void {
  const end = found.models.length;
  for (let i = from; i < end; i++) {
    const m = found.models[i]!;
    if (m.hops.length !== 1 || !m.parts) continue;
    const self = m.hops[0]!;
    for (const part of m.parts) {
      const ref = part.path;
      if (escapesRoot(ref)) {
        addProblem(found, m.hops, 'error', 'external-data', outsideMessage(part));
        continue;
      }
      const target = path.resolve(dirAbs, ref);
      if (!target.startsWith(path.resolve(rootAbs) + path.sep) || !isRegularFile(target)) {
        addProblem(found, m.hops, 'error', 'external-data', missingMessage(part));
        continue;
      }
      const hops: Hop[] = [{ path: path.posix.join(path.posix.dirname(self.path), ref), reader: self.reader }];
      let f: FileSource | undefined;
      try {
        f = FileSource.open(target);
        addPart(found, m, hops, part, f.size, sha256Of(f));
      } catch (err) {
        addError(found, hops, err, `cannot read the model's ${part.role} file: `);
      } finally {
        f?.close();
      }
    }
  }
}

/**
 * The parts of models found inside one container, resolved while the container is being listed: a part
 * listed before its model is opened when the model is found, a part listed after it is hashed when the
 * walk reaches it, from the source the walk opened. Nothing is opened once the listing has ended, when
 * the members of a decoded container (a .tar.gz) are gone.
 */
export class ListingParts {
  private readonly waiting = new Map<string, { model: ModelFinding; part: Part }[]>();

  constructor(
    private readonly found: Findings,
    private readonly reader: string,
    private readonly listed: ReadonlyMap<string, ContainerEntry>,
    private readonly hashOf: (s: ByteSource) => string,
    private readonly budget: DecodeBudget,
  ) {}

  /** A model just found as the member `memberPath`: its parts listed so far are hashed now, the others awaited. */
  async modelFound(m: ModelFinding, memberPath: string): Promise<void> {
    const dir = path.posix.dirname(memberPath);
    for (const part of m.parts ?? []) {
      if (escapesRoot(part.path)) {
        addProblem(this.found, m.hops, 'error', 'external-data', outsideMessage(part));
        continue;
      }
      const target = path.posix.normalize(dir === '.' ? part.path : `${dir}/${part.path}`);
      const entry = this.listed.get(target);
      if (entry === undefined) {
        const list = this.waiting.get(target) ?? [];
        list.push({ model: m, part });
        this.waiting.set(target, list);
        continue;
      }
      if (entry.type !== 'file') continue;
      const hops: Hop[] = [{ path: target, reader: this.reader }];
      let src: ByteSource | undefined;
      try {
        src = await entry.open();
        addPart(this.found, m, hops, part, src.size, this.hashOf(src));
      } catch (err) {
        addError(this.found, hops, err, `cannot read the model's ${part.role} file: `);
      } finally {
        if (src !== undefined) this.budget.release(src);
      }
    }
  }

  /** The walk opened the member at `memberPath`: models waiting for it as a part get its hash. */
  memberOpened(memberPath: string, src: ByteSource): void {
    const waiting = this.waiting.get(memberPath);
    if (waiting === undefined) return;
    this.waiting.delete(memberPath);
    const sha = this.hashOf(src);
    for (const { model, part } of waiting) addPart(this.found, model, [{ path: memberPath, reader: this.reader }], part, src.size, sha);
  }

  /** The listing is complete: a part never met is missing (one listed as a directory or link is not a file to hash). */
  finish(): void {
    for (const [target, waiting] of this.waiting) {
      if (this.listed.has(target)) continue;
      for (const { model, part } of waiting) addProblem(this.found, model.hops, 'error', 'external-data', missingMessage(part));
    }
    this.waiting.clear();
  }
}

function isRegularFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
