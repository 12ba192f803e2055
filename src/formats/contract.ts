import { z } from 'zod';
import { formats as registered } from './index.js';
import type { ModelFormat } from './types.js';

/*
 * The README's per-format metadata contract, generated from the formats' own zod schemas so that the
 * documentation cannot drift from what the readers produce (a test compares; `npm run readme`
 * rewrites). Each schema is turned into JSON Schema by zod and rendered as one markdown table per
 * format: field path, type, meaning.
 */

/** The part of a JSON Schema (draft 2020-12, as `z.toJSONSchema` writes it) that the tables show. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  title?: string;
  description?: string;
}

/** Bounds zod writes for every integer (safe integers); the tables leave them unsaid. */
const SAFE = Number.MAX_SAFE_INTEGER;

/** Plural of a type name after "array of". */
function plural(t: string): string {
  return /^(object|string|integer|number|boolean)$/.test(t) ? `${t}s` : `(${t})`;
}

function integerText(s: JsonSchema): string {
  // zod writes positive() as exclusiveMinimum 0; for integers that is "at least 1".
  const lower = s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : s.minimum;
  const min = lower !== undefined && lower > -SAFE ? lower : undefined;
  const max = s.maximum !== undefined && s.maximum < SAFE ? s.maximum : undefined;
  if (min !== undefined && max !== undefined) return `integer ${min}..${max}`;
  if (min !== undefined) return `integer ≥ ${min}`;
  if (max !== undefined) return `integer ≤ ${max}`;
  return 'integer';
}

/** The object schema a field leads into (itself, its items, or the object of an "object or null"). */
function objectInside(s: JsonSchema): { object: JsonSchema; array: boolean } | undefined {
  if (s.properties) return { object: s, array: false };
  if (s.items) {
    const inner = objectInside(s.items);
    return inner && !inner.array ? { object: inner.object, array: true } : undefined;
  }
  const objects = (s.anyOf ?? []).map(objectInside).filter((x) => x !== undefined);
  return objects.length === 1 ? objects[0] : undefined;
}

/** A readable type: `integer ≥ 0`, `array of objects`, `string or null`, `map of string to integer`. */
function typeText(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return `one of ${s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(', ')}`;
  if (s.anyOf) {
    // null last: "array of integers or null" reads better than the other way round.
    const parts = s.anyOf.map(typeText);
    return [...parts.filter((p) => p !== 'null'), ...parts.filter((p) => p === 'null')].join(' or ');
  }
  if (Array.isArray(s.type)) return s.type.join(' or ');
  switch (s.type) {
    case 'integer':
      return integerText(s);
    case 'array':
      return s.items ? `array of ${plural(typeText(s.items))}` : 'array';
    case 'object':
      if (s.properties) return 'object';
      if (typeof s.additionalProperties === 'object') return `map of string to ${typeText(s.additionalProperties)}`;
      return 'object';
    default:
      return s.type ?? 'any';
  }
}

/** A table cell: one line, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
}

/** A key for an object schema's shape (its description aside), to say "as above" instead of repeating it. */
function shapeKey(s: JsonSchema): string {
  const { description: _description, title: _title, ...shape } = s;
  return JSON.stringify(shape);
}

/**
 * The rows of one object's fields, depth first. An object met again with the same fields (a tensor
 * as input and as output) is not expanded twice: its row points to the first.
 */
function rows(object: JsonSchema, prefix: string, seen: Map<string, string>, out: string[]): void {
  const required = new Set(object.required ?? []);
  for (const [key, field] of Object.entries(object.properties ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const inner = objectInside(field);
    const childPath = inner ? `${path}${inner.array ? '[]' : ''}` : '';
    const sameAs = inner ? seen.get(shapeKey(inner.object)) : undefined;
    let type = typeText(field);
    if (sameAs !== undefined) type += `, fields as \`${sameAs}\``;
    if (!required.has(key)) type += ', optional';
    out.push(`| \`${path}\` | ${cell(type)} | ${cell(field.description ?? '')} |`);
    if (inner && sameAs === undefined) {
      seen.set(shapeKey(inner.object), childPath);
      rows(inner.object, childPath, seen, out);
    }
  }
}

/** The markdown section of one format: a heading from the schema's title, its description, the table. */
export function formatSection(format: ModelFormat): string {
  const schema = z.toJSONSchema(format.metadataSchema, { io: 'output' }) as JsonSchema;
  const out = [`### ${schema.title ?? `${format.id} metadata`}`, '', ...(schema.description ? [schema.description, ''] : [])];
  const variants = schema.properties === undefined ? (schema.oneOf ?? schema.anyOf ?? []) : [];
  if (variants.length === 0) {
    out.push('| field | type | meaning |', '| --- | --- | --- |');
    rows(schema, '', new Map(), out);
    return out.join('\n');
  }
  // A discriminated union (safetensors: one file, or a sharded index): one table per variant, named
  // by the field whose constant tells them apart.
  variants.forEach((v, i) => {
    const tag = Object.entries(v.properties ?? {}).find(([, f]) => f.const !== undefined);
    if (i > 0) out.push('');
    out.push(tag !== undefined ? `When \`${tag[0]}\` is \`${String(tag[1].const)}\`:` : `Variant ${i + 1}:`, '');
    out.push('| field | type | meaning |', '| --- | --- | --- |');
    rows(v, '', new Map(), out);
  });
  return out.join('\n');
}

/**
 * The README's metadata contract: one section per format, ordered by id (registry order is a matter of
 * detection priority, not of reading). Pure: the same formats give the same text.
 */
export function formatContract(list: readonly ModelFormat[] = registered): string {
  const intro =
    "Generated from each format's zod schema (`metadataSchema`), which every model is tested against. " +
    'A path uses `.` for nesting and `[]` for the items of an array; an optional field is absent when the file does not state it.';
  const sections = [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(formatSection);
  return [intro, ...sections].join('\n\n');
}

export const CONTRACT_START = '<!-- format-contract:start (generated by `npm run readme`) -->';
export const CONTRACT_END = '<!-- format-contract:end -->';

/** Returns `readme` with the generated contract between the markers; throws when they are missing. */
export function withFormatContract(readme: string, list: readonly ModelFormat[] = registered): string {
  const a = readme.indexOf(CONTRACT_START);
  const b = readme.indexOf(CONTRACT_END);
  if (a < 0 || b < a) throw new Error('README.md lacks the format-contract markers.');
  return `${readme.slice(0, a + CONTRACT_START.length)}\n${formatContract(list)}\n${readme.slice(b)}`;
}
