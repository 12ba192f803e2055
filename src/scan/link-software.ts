import { locationPath } from '../inventory/location.js';
import type { Component, Problem, Relationship, SoftwareComponent } from '../inventory/schema.js';
import type { FileListFinding } from './findings.js';

/**
 * Who ships and who runs each model, from where things were found (called at the end of `link`):
 *
 * - owners: an app (at its APK's location: what lies below it; an Electron app at its `app.asar`: the
 *   archive and the `app.asar.unpacked/` folder beside it, or the folder of its `package.json`), an npm
 *   package (the folder of its `package.json`), a Python distribution (the files its `RECORD`,
 *   `installed-files.txt` or `SOURCES.txt` names, below site-packages), a dpkg or opkg package (the
 *   paths its `info/<pkg>.list` names, in the root file system that holds its status database). A
 *   listed file that is itself a container (a zip of models) carries what is inside it;
 * - each model is shipped by its nearest owner (`ships`): of the owners covering it, the one whose
 *   scope begins deepest (an npm package inside an Electron app inside a Debian package: the npm
 *   package; a model in an APK that a Debian package lists: the app). A model no owner covers has no
 *   `ships` edge: the partition or image that `contains` it is where it comes from;
 * - each runtime, SDK or service is a dependency of its nearest owner (`depends-on`);
 * - a runtime or SDK that can load a model's format is in reach of the model when it lies in the
 *   scope of the model's owner (in the same APK; in the npm package or in a package nested in its
 *   `node_modules`; listed by the same package) or of an app or npm package enclosing that owner (the
 *   Electron app around the npm package that ships the model), or when it lies on the same partition or image and is
 *   not kept to itself by an app or npm package (a system library, or one a Python or Debian package
 *   installed where any program may load it): `can-load`; `loads` when the runtime's own evidence names
 *   the model's file (`properties.modelRefs`);
 * - a model with no runtime in reach is flagged (`no-runtime`, info), once software was looked for at
 *   all: the scan found some runtime, SDK, app or package, so silence about a model means something.
 *
 * Entries of file lists are data: they are compared with the locations of what the scan found and
 * never opened. A Python entry that climbs out of site-packages (`../../../bin/tool`, a script) is not
 * followed; a dpkg/opkg entry with `..` is reported (`hostile-path`) and not followed.
 */

type Software = Component & { kind: SoftwareComponent['kind'] };

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const isSoftware = (c: Component): c is Software =>
  c.kind === 'runtime' || c.kind === 'sdk' || c.kind === 'app' || c.kind === 'package' || c.kind === 'service';

/** The folder part of a readable location, up to and with its last `/` or `!/` ('' at the top). */
function folderOf(p: string): string {
  const cut = Math.max(p.lastIndexOf('/'), p.lastIndexOf('!/') + 1);
  return cut > 0 ? p.slice(0, cut + 1) : '';
}

/** Where a component's scope begins: below an app's archive, or in its manifest's folder. */
function scopePrefixes(c: Software): string[] {
  if (c.kind === 'app' && c.software.properties?.framework === 'electron') {
    // Electron keeps native modules it cannot load from the archive in `app.asar.unpacked/` beside it.
    return c.locations.flatMap((l) => (l.path.endsWith('.asar') ? [`${l.path}!/`, `${l.path}.unpacked/`] : [folderOf(l.path)])).filter((p) => p !== '');
  }
  if (c.kind === 'app') return c.locations.map((l) => `${l.path}!/`);
  if (c.kind === 'package' && c.software.properties?.scope === 'dir') return c.locations.map((l) => folderOf(l.path)).filter((p) => p !== '');
  return [];
}

/**
 * What owns a path: a prefix owner covers everything below its scope; a listed owner covers the paths
 * its file list names (and what lies inside them when they are containers).
 */
interface Owner {
  id: string;
  /** Where the owner's scope begins, as a prefix of every path it covers: the longest is the nearest. */
  scope: string;
  /** An app or npm package keeps what it ships to itself; a Python or Debian package installs it for all. */
  isolated: boolean;
  /** 0 for apps, 1 for packages: an app wins a tie with the package of its own manifest. */
  rank: number;
}

/** A path and the container files it lies in, innermost first (`a!/b.zip!/m.onnx`, `a!/b.zip`, `a`). */
function selfAndContainers(p: string): string[] {
  const out = [p];
  for (let i = p.lastIndexOf('!/'); i > 0; i = p.lastIndexOf('!/', i - 1)) out.push(p.slice(0, i));
  return out;
}

/** dpkg and opkg databases: `<root><db>/info/<pkg>.list` beside `<root><db>/status`. */
const PKG_DB = /(^|\/)((?:var\/lib\/dpkg|var\/lib\/opkg|usr\/lib\/opkg)\/)info\/$/;

/** Joins each file list to the package it belongs to; returns the listed owners and their paths. */
function listedOwners(lists: readonly FileListFinding[], components: readonly Component[], problems: Problem[]): Map<string, Owner[]> {
  const byPath = new Map<string, Owner[]>();
  const packagesAt = new Map<string, Software[]>();
  for (const c of components) {
    if (c.kind !== 'package') continue;
    for (const l of c.locations) {
      const list = packagesAt.get(l.path) ?? [];
      list.push(c);
      packagesAt.set(l.path, list);
    }
  }
  for (const list of lists) {
    const last = list.hops[list.hops.length - 1];
    if (last === undefined) continue;
    const chain = list.hops.length > 1 ? `${locationPath(list.hops.slice(0, -1))}!/` : '';
    const dir = folderOf(last.path);
    const file = last.path.slice(dir.length);
    let owner: Software | undefined;
    let base: string;
    let start: string[];
    if (list.kind === 'pkg') {
      const db = PKG_DB.exec(dir);
      if (db === null) continue;
      base = dir.slice(0, db.index + db[1]!.length);
      const [name, arch] = file.replace(/\.list$/, '').split(':');
      owner = packagesAt
        .get(`${chain}${base}${db[2]}status`)
        ?.find((p) => p.name === name && (arch === undefined || p.software.properties?.arch === undefined || p.software.properties.arch === arch));
      start = [];
    } else {
      const info = /([^/]+\.(dist-info|egg-info))\/$/.exec(dir);
      if (info === null || (list.kind === 'record') !== (info[2] === 'dist-info')) continue;
      base = dir.slice(0, info.index);
      owner = packagesAt.get(`${chain}${dir}${list.kind === 'record' ? 'METADATA' : 'PKG-INFO'}`)?.find((p) => p.software.properties?.ecosystem === 'pypi');
      // installed-files.txt is relative to the egg-info folder; RECORD and SOURCES.txt to site-packages.
      start = list.kind === 'installed' ? [info[1]!] : [];
    }
    if (owner === undefined) continue;
    const o: Owner = { id: owner.id, scope: `${chain}${base}`, isolated: false, rank: 1 };
    let climbs = 0;
    let example = '';
    for (const entry of list.paths) {
      if (list.kind === 'pkg' ? !entry.startsWith('/') : entry.startsWith('/')) continue;
      // A `!/` in a listed name would read as a hop into a container: such a name is not followed.
      if (entry.includes('!/')) continue;
      const segs = [...start];
      let ok = true;
      const parts = entry.split('/');
      // SOURCES.txt of a src-layout project names `src/<pkg>/...`, installed as `<pkg>/...`.
      if (list.kind === 'sources' && parts[0] === 'src') parts.shift();
      for (const s of parts) {
        if (s === '' || s === '.') continue;
        if (s === '..') {
          if (list.kind === 'pkg' || segs.length === 0) {
            ok = false;
            break;
          }
          segs.pop();
        } else segs.push(s);
      }
      if (!ok) {
        if (list.kind === 'pkg') {
          climbs++;
          example ||= entry.slice(0, 120);
        }
        continue;
      }
      if (segs.length === 0) continue;
      const p = `${o.scope}${segs.join('/')}`;
      const at = byPath.get(p) ?? [];
      if (!at.some((x) => x.id === o.id)) at.push(o);
      byPath.set(p, at);
    }
    if (climbs > 0) {
      problems.push({
        location: locationPath(list.hops),
        severity: 'warning',
        code: 'hostile-path',
        message: `This package file list names ${climbs} path${climbs === 1 ? '' : 's'} with '..' (such as '${example}'); they were not followed.`,
      });
    }
  }
  return byPath;
}

/** Links software to models; `fileLists` are the package file lists the walk read. */
export function linkSoftware(
  components: readonly Component[],
  relationships: Relationship[],
  problems: Problem[],
  fileLists: readonly FileListFinding[] = [],
): void {
  const prefixOwners: Owner[] = [];
  for (const c of components) {
    if (!isSoftware(c)) continue;
    for (const scope of scopePrefixes(c)) prefixOwners.push({ id: c.id, scope, isolated: true, rank: c.kind === 'app' ? 0 : 1 });
  }
  const listed = listedOwners(fileLists, components, problems);
  /** Every owner covering `path`, nearest first: deepest scope, then an app before a package, then by id. */
  const memo = new Map<string, Owner[]>();
  const ownersOf = (path: string): Owner[] => {
    const known = memo.get(path);
    if (known !== undefined) return known;
    const found = prefixOwners.filter((o) => path.startsWith(o.scope));
    for (const p of selfAndContainers(path)) for (const o of listed.get(p) ?? []) found.push(o);
    found.sort((a, b) => b.scope.length - a.scope.length || a.rank - b.rank || Number(b.isolated) - Number(a.isolated) || cmp(a.id, b.id));
    memo.set(path, found);
    return found;
  };
  const nearest = (path: string, self: string): Owner | undefined => ownersOf(path).find((o) => o.id !== self);
  /** True when `path` lies anywhere in the scope of `owner` (a dependency package nested in it counts). */
  const within = (path: string, owner: string): boolean => ownersOf(path).some((o) => o.id === owner);

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
    places: r.locations.map((l) => {
      const o = nearest(l.path, r.id);
      // Kept to itself by an app or npm package, or installed for every program on its partition.
      return { path: l.path, isolated: o?.isolated === true, partition: partitionOf(l.path) };
    }),
  }));

  for (const c of components) {
    if (isSoftware(c) && (c.kind === 'runtime' || c.kind === 'sdk' || c.kind === 'service')) {
      for (const l of c.locations) {
        const o = nearest(l.path, c.id);
        if (o !== undefined) relate(o.id, 'depends-on', c.id);
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
      const enclosing = ownersOf(l.path).filter((o) => o.id !== m.id);
      const owner = enclosing[0]?.id;
      // In reach: in the scope of the model's own owner, or of an app or npm package around it (a
      // nested npm package's model is run by the app's runtime, as Node resolves modules upwards).
      const reach = enclosing.filter((o, i) => i === 0 || o.isolated).map((o) => o.id);
      if (owner !== undefined) {
        owned = true;
        relate(owner, 'ships', m.id);
      }
      const partition = partitionOf(l.path);
      for (const { r, places } of runtimePlaces) {
        if (!r.software.loads!.includes(m.model.format)) continue;
        const near = places.some((p) => reach.some((o) => within(p.path, o)) || (!p.isolated && p.partition === partition));
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
