import { describeError, type ProblemCode } from '../errors.js';
import type { ModelCard } from '../inventory/card.js';
import type { FileListReport } from './analyzer.js';
import type { AssociatedFileRecord, Evidence, Hop, Problem, RelationshipType, SoftwareComponent } from '../inventory/schema.js';

/**
 * What one item yielded, with every location relative to the item: `hops` are the steps below it
 * (empty for the item itself). Relative results are what makes deduplication cheap: content met again
 * at another location replays the same record under the new prefix instead of being parsed again.
 */
export interface Findings {
  models: ModelFinding[];
  data: DataFinding[];
  software: SoftwareFinding[];
  containers: ContainerFinding[];
  links: LinkFinding[];
  problems: ProblemFinding[];
  /** Package file lists, joined to their packages by the link stage. */
  fileLists: FileListFinding[];
  /** False when a result depends on where the item was met (a limit was reached): never replayed. */
  cacheable: boolean;
}

export interface ModelFinding {
  hops: Hop[];
  format: string;
  size: number;
  sha256: string;
  confidence: Evidence['confidence'];
  evidence: Evidence[];
  card: ModelCard;
  metadata: Record<string, unknown>;
  associatedFiles?: AssociatedFileRecord[];
  /** Files the model names as its own (external data, shards), relative to its folder; checked, hashed and linked by the walk. */
  parts?: { path: string; role: string }[];
}

export interface DataFinding {
  hops: Hop[];
  role: string;
  size?: number;
  sha256?: string;
  evidence: Evidence[];
}

/** A runtime, SDK, app, package or service an analyzer identified. */
export interface SoftwareFinding {
  hops: Hop[];
  kind: SoftwareComponent['kind'];
  name: string;
  version?: string;
  /** What the component id is derived from, besides its kind (content hash, rule id, endpoint...). */
  key: string[];
  confidence: Evidence['confidence'];
  evidence: Evidence[];
  software: SoftwareComponent['software'];
  sha256?: string;
  size?: number;
}

/** A container opened below the item; it becomes a component when it holds something found. */
export interface ContainerFinding {
  hops: Hop[];
  reader: string;
  sha256: string;
  size: number;
  /** Members listed, to tell a compressed tar (an archive) from a compressed single file. */
  entries: number;
  /** How the container was recognised (its signature, or its structure). */
  evidence: Evidence;
}

/** An edge between two items named by their relative locations (resolved to ids at assembly). */
export interface LinkFinding {
  from: Hop[];
  type: RelationshipType;
  to: Hop[];
}

/** A package's file list (`runtimes/packages.ts`), at the location of the list file. */
export interface FileListFinding extends FileListReport {
  hops: Hop[];
}

export interface ProblemFinding {
  hops: Hop[];
  body: Omit<Problem, 'location'>;
}

export const newFindings = (): Findings => ({ models: [], data: [], software: [], containers: [], links: [], problems: [], fileLists: [], cacheable: true });

export function addProblem(f: Findings, hops: Hop[], severity: Problem['severity'], code: ProblemCode, message: string): void {
  f.problems.push({ hops, body: { severity, code, message } });
  if (code === 'limit') f.cacheable = false;
}

/** Records anything thrown as a problem: typed errors keep their code, the rest is `internal`. */
export function addError(f: Findings, hops: Hop[], err: unknown, prefix = ''): void {
  const { code, message } = describeError(err);
  addProblem(f, hops, code === 'limit' || code === 'unsupported' ? 'warning' : 'error', code, prefix + message);
}

const prefixed = (prefix: readonly Hop[], hops: readonly Hop[]): Hop[] => (prefix.length === 0 ? [...hops] : [...prefix, ...hops]);

/** Copies a child's findings into its parent under `prefix` (the hops from the parent to the child). */
export function adopt(parent: Findings, child: Findings, prefix: readonly Hop[]): void {
  for (const m of child.models) parent.models.push({ ...m, hops: prefixed(prefix, m.hops) });
  for (const d of child.data) parent.data.push({ ...d, hops: prefixed(prefix, d.hops) });
  for (const w of child.software) parent.software.push({ ...w, hops: prefixed(prefix, w.hops) });
  for (const c of child.containers) parent.containers.push({ ...c, hops: prefixed(prefix, c.hops) });
  for (const l of child.links) parent.links.push({ from: prefixed(prefix, l.from), type: l.type, to: prefixed(prefix, l.to) });
  for (const p of child.problems) parent.problems.push({ hops: prefixed(prefix, p.hops), body: p.body });
  for (const l of child.fileLists) parent.fileLists.push({ ...l, hops: prefixed(prefix, l.hops) });
  if (!child.cacheable) parent.cacheable = false;
}
