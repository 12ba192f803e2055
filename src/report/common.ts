import crypto from 'node:crypto';
import type { Component, Inventory, Location, ModelComponent, Relationship, Subject } from '../inventory/schema.js';

/**
 * Helpers shared by the standard-format encoders (CycloneDX, SPDX, SARIF, CSV): stable orderings,
 * ids derived from content, the relationship lookups every encoder needs. Nothing here knows a model
 * format; everything is a pure function of the inventory.
 */

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Our confidence levels as the 0..1 numbers CycloneDX wants: fixed points, documented in the README. */
export const CONFIDENCE_NUMBER = { high: 0.9, medium: 0.6, low: 0.3 } as const;

export function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/**
 * A UUID derived from content (never random): the first 128 bits of sha256(text) with the RFC 4122
 * version nibble set to 5 (name-based) and the variant bits to 10, because CycloneDX's serialNumber
 * pattern accepts versions 1-5 only.
 */
export function contentUuid(text: string): string {
  const h = sha256Hex(text).slice(0, 32).split('');
  h[12] = '5';
  h[16] = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/**
 * JSON with object keys sorted at every level: the same inventory gives the same text whatever order
 * its producer wrote the keys in (a scan and a re-read saved inventory differ there), so ids derived
 * from it are stable.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val === null || typeof val !== 'object' || Array.isArray(val)) return val;
    const o = val as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    );
  });
}

/** A stable reference for a scanned input: `subject:` and 16 hex digits of its location. */
export function subjectRef(s: Subject): string {
  return `subject:${sha256Hex(s.location).slice(0, 16)}`;
}

/** `location @offset+length` as one readable string. */
export function locationText(l: Location): string {
  return l.offset !== undefined ? `${l.path} @${l.offset}${l.length !== undefined ? `+${l.length}` : ''}` : l.path;
}

/** The readers of a location's hops: `file > gpt > ext4`. */
export function readersText(l: Location): string {
  return l.hops.map((h) => h.reader).join(' > ');
}

export function models(inv: Inventory): ModelComponent[] {
  return inv.components.filter((c): c is ModelComponent => c.kind === 'model');
}

/** The components that are `part-of` each model, by model id, in inventory order. */
export function partsByModel(inv: Inventory): Map<string, Component[]> {
  const byId = new Map(inv.components.map((c) => [c.id, c]));
  const out = new Map<string, Component[]>();
  for (const r of inv.relationships) {
    if (r.type !== 'part-of') continue;
    const part = byId.get(r.from);
    if (part === undefined || !byId.has(r.to)) continue;
    const list = out.get(r.to) ?? [];
    list.push(part);
    out.set(r.to, list);
  }
  return out;
}

/** Edges grouped by their `from` id, each group sorted by type then `to`. */
export function edgesFrom(rels: readonly Relationship[]): Map<string, Relationship[]> {
  const out = new Map<string, Relationship[]>();
  for (const r of rels) {
    const list = out.get(r.from) ?? [];
    list.push(r);
    out.set(r.from, list);
  }
  for (const list of out.values()) list.sort((a, b) => cmp(a.type, b.type) || cmp(a.to, b.to));
  return out;
}

/** A scalar as a property value, or undefined for nested values. */
function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * Per-format metadata as flat `[name, value]` pairs under `<prefix><format>:`: scalars as they are,
 * arrays of scalars joined by `, `, anything nested as its JSON, so that nothing is dropped.
 * The ONNX opset imports are also given as `opset` (`ai.onnx:17, com.microsoft:1`), the form people
 * search for; this is the one format-specific key an encoder knows, and it only reads the record.
 */
export function metadataProperties(format: string, metadata: Record<string, unknown>, prefix = 'aibom:'): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(metadata)) {
    if (v === undefined || v === null) continue;
    const name = `${prefix}${format}:${k}`;
    const s = scalarText(v);
    if (s !== undefined) out.push([name, s]);
    else if (Array.isArray(v) && v.every((x) => scalarText(x) !== undefined)) {
      if (v.length > 0) out.push([name, v.map((x) => scalarText(x)!).join(', ')]);
    } else out.push([name, JSON.stringify(v)]);
    if (k === 'opsetImports' && Array.isArray(v)) {
      const opsets = v.flatMap((o) => {
        const d = (o as { domain?: unknown }).domain;
        const ver = (o as { version?: unknown }).version;
        return typeof ver === 'number' ? [`${typeof d === 'string' && d !== '' ? d : 'ai.onnx'}:${ver}`] : [];
      });
      if (opsets.length > 0) out.push([`${prefix}${format}:opset`, opsets.join(', ')]);
    }
  }
  return out;
}

/** `name type[d0,d1,?]` of a card tensor. */
export function tensorText(t: { name: string; type?: string | undefined; shape?: ReadonlyArray<number | string | null> | null | undefined }): string {
  const dims = t.shape === null || t.shape === undefined ? '[?]' : `[${t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
  return `${t.name} ${t.type ?? '?'}${dims}`;
}
