import type { Inventory, Problem } from '../inventory/schema.js';
import { cmp, sha256Hex } from './common.js';
import { problemCodeHelp } from './problem-codes.js';
import type { ReportEncoder } from './types.js';

/**
 * SARIF 2.1.0: every problem a result, for code-scanning pages in CI. One rule per problem code (its
 * help text from `problem-codes.ts`), the level from the severity (info -> note), the whole location
 * chain (`a.img!/system!/x.apk`) as a logical location, and the outermost file as the artifact
 * location (the only part a CI page can open). Deterministic: rules sorted by id, results in inventory
 * order, fingerprints from content. Models and components are not results (SARIF is for findings);
 * the stats go into the run's property bag. Policy violations will be results too once policies exist.
 */
const LEVEL = { error: 'error', warning: 'warning', info: 'note' } as const;
const RANK = { error: 3, warning: 2, info: 1 } as const;

/** The outermost file of a location chain as a URI reference: relative paths stay relative. */
export function artifactUri(location: string): string {
  const outer = location.split('!/')[0] ?? location;
  const encoded = outer
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
  return outer.startsWith('/') ? `file://${encoded}` : encoded;
}

function rule(code: string, problems: readonly Problem[]): Record<string, unknown> {
  const h = problemCodeHelp(code);
  // The rule's default level is the most severe level it was reported with in this run.
  const worst = problems.reduce<Problem['severity']>((w, p) => (RANK[p.severity] > RANK[w] ? p.severity : w), 'info');
  return {
    id: code,
    name: code.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
    shortDescription: { text: h.title },
    fullDescription: { text: h.help },
    help: { text: h.help },
    defaultConfiguration: { level: LEVEL[worst] },
  };
}

/** The SARIF log as an object. */
export function sarifLog(inv: Inventory): Record<string, unknown> {
  const byCode = new Map<string, Problem[]>();
  for (const p of inv.problems) byCode.set(p.code, [...(byCode.get(p.code) ?? []), p]);
  const codes = [...byCode.keys()].sort(cmp);
  const uris = [...new Set(inv.problems.map((p) => artifactUri(p.location)))].sort(cmp);
  const results = inv.problems.map((p) => {
    const uri = artifactUri(p.location);
    const last = p.location.split('!/').at(-1) ?? p.location;
    return {
      ruleId: p.code,
      ruleIndex: codes.indexOf(p.code),
      level: LEVEL[p.severity],
      message: { text: p.message },
      locations: [
        {
          physicalLocation: { artifactLocation: { uri, index: uris.indexOf(uri) } },
          logicalLocations: [{ name: last, fullyQualifiedName: p.location, kind: 'resource' }],
        },
      ],
      // Lets a code-scanning page recognise the same problem in the next run.
      partialFingerprints: { 'aibomProblem/v1': sha256Hex(`${p.code}\u0000${p.location}\u0000${p.message}`).slice(0, 32) },
    };
  });
  const run: Record<string, unknown> = {
    tool: { driver: { name: inv.tool.name, version: inv.tool.version, rules: codes.map((c) => rule(c, byCode.get(c)!)) } },
    artifacts: uris.map((uri) => ({ location: { uri } })),
    results,
    properties: {
      inventorySchema: inv.schema,
      subjects: inv.subjects.map((s) => s.location),
      models: inv.components.filter((c) => c.kind === 'model').length,
      stats: inv.stats,
      ...(inv.timestamp !== undefined ? { timestamp: inv.timestamp } : {}),
    },
  };
  return { $schema: 'https://json.schemastore.org/sarif-2.1.0.json', version: '2.1.0', runs: [run] };
}

export const sarif: ReportEncoder = {
  id: 'sarif',
  description: 'SARIF 2.1.0: every problem as a result, for code-scanning pages in CI',
  extension: 'sarif',
  encode: (inv) => `${JSON.stringify(sarifLog(inv), null, 2)}\n`,
};
