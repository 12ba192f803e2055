import type { Component, Problem, Relationship, SoftwareComponent } from '../inventory/schema.js';

/**
 * Who ships and who runs each model, from where things were found (called at the end of `link`):
 *
 * - an app (at its APK's location) or a package whose manifest's folder is the package (npm
 *   `package.json`, Python `METADATA`) owns what lies below it; each model is shipped by its nearest
 *   owner (`ships`), and each runtime, SDK or service below an owner is a dependency of it (`depends-on`);
 * - a runtime or SDK that can load a model's format is in reach of the model when it lies in the
 *   scope of the model's owner (in the same APK; in the npm package or in a package nested in its
 *   `node_modules`), or when it has no owner and lies on the same partition or image as the model (a
 *   system library any app may load): `can-load`; `loads` when the runtime's own evidence names the
 *   model's file (`properties.modelRefs`);
 * - a model with no runtime in reach is flagged (`no-runtime`, info), once software was looked for at
 *   all: the scan found some runtime, SDK, app or package, so silence about a model means something.
 *
 * Packages from status databases (dpkg, opkg) own nothing here: their file lists are not read.
 */

type Software = Component & { kind: SoftwareComponent['kind'] };

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const isSoftware = (c: Component): c is Software =>
  c.kind === 'runtime' || c.kind === 'sdk' || c.kind === 'app' || c.kind === 'package' || c.kind === 'service';

/** Where a component's scope begins: below an app's archive, or in its manifest's folder. */
function scopePrefixes(c: Software): string[] {
  if (c.kind === 'app') return c.locations.map((l) => `${l.path}!/`);
  if (c.kind === 'package' && c.software.properties?.scope === 'dir') {
    return c.locations
      .map((l) => {
        const p = l.path;
        const cut = Math.max(p.lastIndexOf('/'), p.lastIndexOf('!/') + 1);
        return cut > 0 ? p.slice(0, cut + 1) : '';
      })
      .filter((p) => p !== '');
  }
  return [];
}

export function linkSoftware(components: readonly Component[], relationships: Relationship[], problems: Problem[]): void {
  const owners: { id: string; prefix: string }[] = [];
  for (const c of components) if (isSoftware(c)) for (const prefix of scopePrefixes(c)) owners.push({ id: c.id, prefix });
  // Longest prefix first: the nearest owner wins.
  owners.sort((a, b) => b.prefix.length - a.prefix.length || cmp(a.id, b.id));
  const ownerOf = (path: string, self: string): string | undefined => owners.find((o) => o.id !== self && path.startsWith(o.prefix))?.id;
  /** True when `path` lies anywhere in the scope of `owner` (a dependency package nested in it counts). */
  const within = (path: string, owner: string): boolean => owners.some((o) => o.id === owner && path.startsWith(o.prefix));

  const partitions: string[] = [];
  for (const c of components) if (c.kind === 'partition' || c.kind === 'image') for (const l of c.locations) partitions.push(`${l.path}!/`);
  partitions.sort((a, b) => b.length - a.length);
  const partitionOf = (path: string): string | undefined => partitions.find((p) => path.startsWith(p));

  const rels = new Map<string, Relationship>();
  for (const r of relationships) rels.set(`${r.from}\u0000${r.type}\u0000${r.to}`, r);
  const relate = (from: string, type: Relationship['type'], to: string): void => {
    if (from !== to) rels.set(`${from}\u0000${type}\u0000${to}`, { from, type, to });
  };

  const runtimes = components.filter((c): c is Software => (c.kind === 'runtime' || c.kind === 'sdk') && (c.software.loads?.length ?? 0) > 0);
  const runtimePlaces = runtimes.map((r) => ({
    r,
    places: r.locations.map((l) => ({ path: l.path, owner: ownerOf(l.path, r.id), partition: partitionOf(l.path) })),
  }));

  for (const c of components) {
    if (isSoftware(c) && (c.kind === 'runtime' || c.kind === 'sdk' || c.kind === 'service')) {
      for (const l of c.locations) {
        const o = ownerOf(l.path, c.id);
        if (o !== undefined) relate(o, 'depends-on', c.id);
      }
    }
  }

  const lookedFor = components.some((c) => c.kind === 'runtime' || c.kind === 'sdk' || c.kind === 'app' || c.kind === 'package');
  for (const m of components) {
    if (m.kind !== 'model') continue;
    let reached = false;
    let owned = false;
    const base = (p: string): string => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('!/') + 1) + 1);
    for (const l of m.locations) {
      const owner = ownerOf(l.path, m.id);
      if (owner !== undefined) {
        owned = true;
        relate(owner, 'ships', m.id);
      }
      const partition = partitionOf(l.path);
      for (const { r, places } of runtimePlaces) {
        if (!r.software.loads!.includes(m.model.format)) continue;
        const near = places.some((p) => (owner !== undefined && within(p.path, owner)) || (p.owner === undefined && p.partition === partition));
        if (!near) continue;
        reached = true;
        const refs = r.software.properties?.modelRefs?.split(',') ?? [];
        relate(r.id, refs.includes(base(l.path)) ? 'loads' : 'can-load', m.id);
      }
    }
    if (!reached && (lookedFor || owned)) {
      problems.push({
        location: m.locations[0]!.path,
        severity: 'info',
        code: 'no-runtime',
        message: `No runtime or SDK that loads ${m.model.format} was found in reach of this model (same app or package, or a shared library on the same partition); it is loaded by software not recognised, downloaded code, or not at all.`,
      });
    }
  }

  const sorted = [...rels.values()].sort((a, b) => cmp(a.from, b.from) || cmp(a.type, b.type) || cmp(a.to, b.to));
  relationships.length = 0;
  relationships.push(...sorted);
  problems.sort((a, b) => cmp(a.location, b.location) || cmp(a.code, b.code) || cmp(a.message, b.message));
}
