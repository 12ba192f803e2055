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
 * For models found as members of a container whose listing is now complete (marked
 * `pendingParts`): checks each reference against the listing and hashes the member it names.
 */
export async function checkPartsInListing(
  found: Findings,
  reader: string,
  listed: ReadonlyMap<string, ContainerEntry>,
  hashOf: (s: ByteSource) => string,
  budget: DecodeBudget,
): Promise<void> {
  for (const m of found.models) {
    const pending = m.pendingParts;
    if (pending === undefined) continue;
    delete m.pendingParts;
    for (const part of m.parts ?? []) {
      const ref = part.path;
      if (escapesRoot(ref)) {
        addProblem(found, m.hops, 'error', 'external-data', outsideMessage(part));
        continue;
      }
      const dir = path.posix.dirname(pending.memberPath);
      const target = path.posix.normalize(dir === '.' ? ref : `${dir}/${ref}`);
      const entry = listed.get(target);
      if (entry === undefined) {
        addProblem(found, m.hops, 'error', 'external-data', missingMessage(part));
        continue;
      }
      if (entry.type !== 'file') continue;
      const hops: Hop[] = [{ path: target, reader }];
      let src: ByteSource | undefined;
      try {
        src = await entry.open();
        addPart(found, m, hops, part, src.size, hashOf(src));
      } catch (err) {
        // A member of a decoded container (a .tar.gz) may no longer open once the listing ended.
        addError(found, hops, err, `cannot read the model's ${part.role} file after the listing: `);
      } finally {
        if (src !== undefined) budget.release(src);
      }
    }
  }
}

function isRegularFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
