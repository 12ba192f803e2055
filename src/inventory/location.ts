import type { Hop, Location } from './schema.js';

/** The readable chain of hops: the first hop's path, then `!/` before each further hop's path. */
export function locationPath(hops: readonly Hop[]): string {
  let s = hops[0]?.path ?? '';
  for (let i = 1; i < hops.length; i++) s += `!/${hops[i]!.path}`;
  return s;
}

/** A location from its hops, with the byte range when the item is part of the file at that location. */
export function makeLocation(hops: readonly Hop[], range?: { offset: number; length: number }): Location {
  const loc: Location = { path: locationPath(hops), hops: hops.map((h) => ({ path: h.path, reader: h.reader })) };
  if (range !== undefined) {
    loc.offset = range.offset;
    loc.length = range.length;
  }
  return loc;
}

/** Orders locations by path, then offset. */
export function compareLocations(a: Location, b: Location): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : (a.offset ?? -1) - (b.offset ?? -1);
}
