import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONTRACT_END, CONTRACT_START, formatContract, formatSection, withFormatContract } from '../../src/formats/contract.js';
import { formats } from '../../src/formats/index.js';
import type { ModelFormat } from '../../src/formats/types.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A format that is only a schema, to render one of every construct the tables know. */
function schemaOnly(id: string, schema: z.ZodType): ModelFormat {
  return {
    id,
    description: 'a schema to render',
    extensions: [],
    signatures: [],
    metadataSchema: schema,
    card: () => {
      throw new Error('not used');
    },
    match: () => false,
    inspect: () => Promise.reject(new Error('not used')),
  };
}

const tensor = z.strictObject({ name: z.string().describe('Tensor name'), dims: z.array(z.number().int()).nullable().describe('Dims | or null') });
const sample = z
  .strictObject({
    version: z.literal(2).describe('Always 2'),
    kind: z.enum(['a', 'b']).describe('Kind'),
    size: z.number().int().nonnegative().describe('Bytes'),
    id: z.number().int().positive().max(9).optional().describe('Small id'),
    byType: z.record(z.string(), z.number().int().nonnegative()).describe('Counts by type'),
    graph: z
      .strictObject({ inputs: z.array(tensor).describe('Inputs'), outputs: z.array(tensor).describe('Outputs') })
      .nullable()
      .describe('Graph'),
  })
  .meta({ title: 'Sample metadata', description: 'A sample format.' });

describe('format contract generator', () => {
  it('renders paths, types, optional fields and meanings, and expands a repeated object once', () => {
    expect(formatSection(schemaOnly('sample', sample))).toBe(
      [
        '### Sample metadata',
        '',
        'A sample format.',
        '',
        '| field | type | meaning |',
        '| --- | --- | --- |',
        '| `version` | `2` | Always 2 |',
        '| `kind` | one of `"a"`, `"b"` | Kind |',
        '| `size` | integer ≥ 0 | Bytes |',
        '| `id` | integer 1..9, optional | Small id |',
        '| `byType` | map of string to integer ≥ 0 | Counts by type |',
        '| `graph` | object or null | Graph |',
        '| `graph.inputs` | array of objects | Inputs |',
        '| `graph.inputs[].name` | string | Tensor name |',
        '| `graph.inputs[].dims` | array of integers or null | Dims \\| or null |',
        '| `graph.outputs` | array of objects, fields as `graph.inputs[]` | Outputs |',
      ].join('\n'),
    );
  });

  it('orders formats by id and is a pure function of them', () => {
    const a = schemaOnly('zeta', sample.meta({ title: 'Zeta metadata', description: 'z' }));
    const b = schemaOnly('alpha', sample.meta({ title: 'Alpha metadata', description: 'a' }));
    const text = formatContract([a, b]);
    expect(text.indexOf('### Alpha metadata')).toBeLessThan(text.indexOf('### Zeta metadata'));
    expect(formatContract([b, a])).toBe(text);
  });

  it('lists every field of every registered schema', () => {
    const text = formatContract();
    for (const f of formats) {
      type Obj = { properties?: Record<string, unknown>; oneOf?: Obj[]; anyOf?: Obj[] };
      const json = z.toJSONSchema(f.metadataSchema) as Obj;
      // A discriminated union lists the fields of each variant.
      const objects = json.properties !== undefined ? [json] : (json.oneOf ?? json.anyOf ?? []);
      expect(objects.length, f.id).toBeGreaterThan(0);
      for (const o of objects) for (const key of Object.keys(o.properties ?? {})) expect(text, `${f.id}.${key}`).toContain(`| \`${key}\` |`);
    }
    // Spot checks that nested fields are there too.
    expect(text).toContain('| `graph.inputs[].shape` |');
    expect(text).toContain('| `subgraphs[].inputs[].shapeSignature` | array of integers, optional |');
    expect(text).toContain('| `modelMetadata.associatedFiles` | array of objects, fields as `modelMetadata.subgraphs[].inputs[].associatedFiles[]` |');
  });

  it('replaces only what lies between the markers, and refuses a README without them', () => {
    const readme = `# x\n\nbefore\n${CONTRACT_START}\nstale\n${CONTRACT_END}\nafter\n`;
    const out = withFormatContract(readme);
    expect(out.startsWith(`# x\n\nbefore\n${CONTRACT_START}\n`)).toBe(true);
    expect(out.endsWith(`\n${CONTRACT_END}\nafter\n`)).toBe(true);
    expect(out).not.toContain('stale');
    expect(withFormatContract(out)).toBe(out);
    expect(() => withFormatContract('# no markers')).toThrow(/format-contract markers/);
  });

  it('README.md carries the contract generated from the schemas (npm run readme)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain(CONTRACT_START);
    expect(readme).toBe(withFormatContract(readme));
  });
});
