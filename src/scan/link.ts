import path from 'node:path';
import type { ContainerKind } from '../containers/types.js';
import { componentId } from '../inventory/ids.js';
import { compareLocations, locationPath, makeLocation } from '../inventory/location.js';
import type { Component, ContainerComponent, Evidence, Hop, Problem, Relationship } from '../inventory/schema.js';
import type { ContainerFinding, Findings } from './findings.js';
import { linkSoftware } from './link-software.js';

/**
 * The link stage: turns the walk's findings (absolute hops by now) into components with
 * content-derived ids, merged across every location where the same content was met, and builds the
 * relationships between them: `contains` from the location chains (each component is contained by the
 * nearest enclosing container component), and the edges the walk recorded (`part-of`).
 */

const KIND_ORDER: readonly Component['kind'][] = ['model', 'data', 'app', 'package', 'runtime', 'sdk', 'service', 'image', 'partition', 'archive'];
const CONFIDENCE_RANK = { low: 0, medium: 1, high: 2 } as const;

export interface Linked {
  components: Component[];
  relationships: Relationship[];
  problems: Problem[];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const baseName = (hops: readonly Hop[]): string => path.posix.basename(hops[hops.length - 1]?.path ?? '') || (hops[hops.length - 1]?.path ?? '');

/**
 * What a container becomes in the inventory, from its reader's kind: an archive; a file system found as
 * a member of a partition table, super image or payload is a partition, elsewhere an image; a disk or
 * firmware image is an image. A compression wrapper is transparent, except a compressed tar (more than
 * one member), which is an archive. Readers recognised only to be reported become nothing.
 */
function containerKind(c: ContainerFinding, kinds: ReadonlyMap<string, ContainerKind | undefined>): ContainerComponent['kind'] | undefined {
  const own = kinds.get(c.reader);
  const parentReader = c.hops[c.hops.length - 1]?.reader;
  const parent = parentReader === undefined ? undefined : kinds.get(parentReader);
  switch (own) {
    case 'archive':
      return 'archive';
    case 'filesystem':
      return parent === 'partitions' ? 'partition' : 'image';
    case 'partitions':
      return 'image';
    case 'compression':
      return c.entries > 1 ? 'archive' : undefined;
    default:
      return undefined;
  }
}

function mergeEvidence(into: Evidence[], more: readonly Evidence[]): void {
  for (const e of more) {
    if (!into.some((x) => x.technique === e.technique && x.detail === e.detail)) into.push(e);
  }
}

function higher(a: Evidence['confidence'], b: Evidence['confidence']): Evidence['confidence'] {
  return CONFIDENCE_RANK[b] > CONFIDENCE_RANK[a] ? b : a;
}

/** Builds components, relationships and located problems from the findings of every input. */
export function link(found: readonly Findings[], kinds: ReadonlyMap<string, ContainerKind | undefined>): Linked {
  const byId = new Map<string, Component>();
  const idByPath = new Map<string, string>();
  const add = (c: Component, hops: Hop[]): void => {
    const loc = makeLocation(hops);
    const prev = byId.get(c.id);
    if (prev === undefined) {
      c.locations = [loc];
      byId.set(c.id, c);
    } else {
      if (!prev.locations.some((l) => l.path === loc.path)) prev.locations.push(loc);
      mergeEvidence(prev.evidence, c.evidence);
      prev.confidence = higher(prev.confidence, c.confidence);
    }
    idByPath.set(loc.path, c.id);
  };
  const containerPaths = new Set<string>();
  const problems: Problem[] = [];
  const edges: { from: Hop[]; type: Relationship['type']; to: Hop[] }[] = [];

  // A part of a multi-file model (a safetensors shard named by its index) is reported as the model's
  // data, never as a model of its own.
  const partPaths = new Set<string>();
  for (const f of found) for (const l of f.links) if (l.type === 'part-of') partPaths.add(locationPath(l.from));

  for (const f of found) {
    for (const m of f.models) {
      if (partPaths.has(locationPath(m.hops))) continue;
      const c: Component = {
        id: componentId('model', m.format, m.sha256),
        kind: 'model',
        name: m.card.name ?? baseName(m.hops),
        ...(m.card.version !== undefined ? { version: m.card.version } : {}),
        locations: [],
        sha256: m.sha256,
        size: m.size,
        confidence: m.confidence,
        evidence: [...m.evidence],
        model: { format: m.format, card: m.card, metadata: m.metadata },
      };
      if (m.associatedFiles !== undefined) c.model.associatedFiles = m.associatedFiles;
      add(c, m.hops);
    }
    for (const d of f.data) {
      const c: Component = {
        id: componentId('data', d.role, d.sha256 ?? locationPath(d.hops)),
        kind: 'data',
        name: baseName(d.hops),
        locations: [],
        ...(d.sha256 !== undefined ? { sha256: d.sha256 } : {}),
        ...(d.size !== undefined ? { size: d.size } : {}),
        confidence: d.evidence[0]?.confidence ?? 'high',
        evidence: [...d.evidence],
        data: { role: d.role },
      };
      add(c, d.hops);
    }
    for (const w of f.software) {
      const c: Component = {
        id: componentId(w.kind, ...w.key),
        kind: w.kind,
        name: w.name,
        ...(w.version !== undefined ? { version: w.version } : {}),
        locations: [],
        ...(w.sha256 !== undefined ? { sha256: w.sha256 } : {}),
        ...(w.size !== undefined ? { size: w.size } : {}),
        confidence: w.confidence,
        evidence: [...w.evidence],
        software: w.software,
      };
      add(c, w.hops);
    }
    for (const l of f.links) edges.push(l);
    for (const p of f.problems) problems.push({ location: locationPath(p.hops), ...p.body });
  }

  // Containers become components only when they hold a component: an inventory of what was found,
  // not a listing of every archive met on the way.
  const found_ = [...byId.values()];
  const holders = new Set<string>();
  for (const c of found_) {
    for (const l of c.locations) for (let k = l.hops.length - 1; k >= 1; k--) holders.add(locationPath(l.hops.slice(0, k)));
  }
  for (const f of found) {
    for (const cf of f.containers) {
      const p = locationPath(cf.hops);
      if (!holders.has(p)) continue;
      // An app or package found at the container's own location (an APK is a zip and an app) is what
      // holds its members; no separate archive component.
      const owner = idByPath.get(p);
      const ownerKind = owner === undefined ? undefined : byId.get(owner)?.kind;
      if (ownerKind === 'app' || ownerKind === 'package') {
        containerPaths.add(p);
        continue;
      }
      const kind = containerKind(cf, kinds);
      if (kind === undefined) continue;
      const c: Component = {
        id: componentId(kind, cf.reader, cf.sha256),
        kind,
        name: baseName(cf.hops),
        locations: [],
        sha256: cf.sha256,
        size: cf.size,
        confidence: 'high',
        evidence: [cf.evidence],
        container: { reader: cf.reader },
      };
      add(c, cf.hops);
      containerPaths.add(p);
    }
  }

  const components = [...byId.values()];
  for (const c of components) c.locations.sort(compareLocations);
  components.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || cmp(a.locations[0]!.path, b.locations[0]!.path) || cmp(a.id, b.id));

  const rels = new Map<string, Relationship>();
  const relate = (from: string, type: Relationship['type'], to: string): void => {
    if (from !== to) rels.set(`${from}\u0000${type}\u0000${to}`, { from, type, to });
  };
  for (const c of components) {
    for (const l of c.locations) {
      for (let k = l.hops.length - 1; k >= 1; k--) {
        const p = locationPath(l.hops.slice(0, k));
        if (!containerPaths.has(p)) continue;
        relate(idByPath.get(p)!, 'contains', c.id);
        break;
      }
    }
  }
  for (const e of edges) {
    const from = idByPath.get(locationPath(e.from));
    const to = idByPath.get(locationPath(e.to));
    if (from !== undefined && to !== undefined) relate(from, e.type, to);
  }
  const relationships = [...rels.values()].sort((a, b) => cmp(a.from, b.from) || cmp(a.type, b.type) || cmp(a.to, b.to));
  problems.sort((a, b) => cmp(a.location, b.location) || cmp(a.code, b.code) || cmp(a.message, b.message));
  const fileLists = found.flatMap((f) => f.fileLists);
  linkSoftware(components, relationships, problems, fileLists);
  return { components, relationships, problems };
}
