import { z } from 'zod';
import { describeSignature } from '../detect/dispatch.js';
import { formats as registered } from './index.js';
import type { ModelFormat } from './types.js';

/*
 * What `aibom formats` prints: every registered model format with its id, description, extensions,
 * declared signatures and the top-level metadata fields its schema promises (the README's contract
 * has the nested ones). Pure functions of the registry, in registry (priority) order.
 */

/** One format as listed. */
export interface FormatListing {
  id: string;
  description: string;
  extensions: string[];
  /** `'TFL3' at offset 4`; empty for a format recognised by structure. */
  signatures: string[];
  /** Top-level metadata fields: name, JSON type, whether optional, meaning. */
  fields: { name: string; type: string; optional: boolean; description: string }[];
}

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  description?: string;
}

/** A short type name: `string`, `integer`, `array`, `object`, `enum`, a union as `a | b`. */
function typeName(s: JsonSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.anyOf) return [...new Set(s.anyOf.map(typeName))].join(' | ');
  if (Array.isArray(s.type)) return s.type.join(' | ');
  if (s.type === 'array' && s.items) return `${typeName(s.items)}[]`;
  return s.type ?? 'any';
}

/** The top-level fields of a format's schema; a union of variants (safetensors) lists each field once. */
function fieldsOf(format: ModelFormat): FormatListing['fields'] {
  const schema = z.toJSONSchema(format.metadataSchema, { io: 'output' }) as JsonSchema;
  const variants = schema.properties !== undefined ? [schema] : (schema.oneOf ?? schema.anyOf ?? []);
  const out = new Map<string, FormatListing['fields'][number]>();
  for (const v of variants) {
    const required = new Set(v.required ?? []);
    for (const [name, f] of Object.entries(v.properties ?? {})) {
      if (out.has(name)) continue;
      out.set(name, {
        name,
        type: typeName(f),
        optional: !required.has(name) || variants.length > 1,
        description: (f.description ?? '').replace(/\s+/g, ' ').trim(),
      });
    }
  }
  return [...out.values()];
}

/** Every registered format (or those given), in registry order. */
export function listFormats(list: readonly ModelFormat[] = registered): FormatListing[] {
  return list.map((f) => ({
    id: f.id,
    description: f.description,
    extensions: [...f.extensions],
    signatures: f.signatures.map(describeSignature),
    fields: fieldsOf(f),
  }));
}

/** The listing as text for a terminal: one block per format. */
export function formatsText(listing: readonly FormatListing[]): string {
  return listing
    .map((f) => {
      const lines = [`${f.id}: ${f.description}`];
      lines.push(`  extensions: ${f.extensions.length > 0 ? f.extensions.join(', ') : '(any name: recognised by content)'}`);
      lines.push(`  signatures: ${f.signatures.length > 0 ? f.signatures.join('; ') : '(none: recognised by structure)'}`);
      lines.push('  metadata:');
      for (const x of f.fields) lines.push(`    ${x.name}${x.optional ? '?' : ''}: ${x.type}${x.description !== '' ? ` - ${x.description}` : ''}`);
      return lines.join('\n');
    })
    .join('\n\n')
    .concat('\n');
}
