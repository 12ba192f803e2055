import type { Inventory, Model } from '../inventory.js';
import { arr, bytes, count, field, plural, str, tensor } from './text.js';
import type { ReportEncoder } from './types.js';

/** What a person reads first: for each model one headline and its key facts, then the problems. */
export const summary: ReportEncoder = {
  id: 'summary',
  description: 'A readable summary: models with their key facts, then problems',
  encode(inv) {
    const out: string[] = [];
    const errors = inv.problems.filter((p) => p.severity === 'error').length;
    out.push(
      `aibom ${inv.tool.version}: ${plural(inv.subjects.length, 'input')}, ${plural(inv.models.length, 'model')}, ` +
        `${plural(inv.problems.length, 'problem')}${errors > 0 ? ` (${errors} ${errors === 1 ? 'error' : 'errors'})` : ''}`,
    );
    out.push(
      `scanned ${plural(inv.stats.files, 'file')} in ${plural(inv.stats.containers, 'container')}` +
        (inv.stats.duplicates > 0 ? `, ${inv.stats.duplicates} duplicate${inv.stats.duplicates === 1 ? '' : 's'} not parsed again` : '') +
        (inv.stats.decompressedBytes > 0 ? `, ${bytes(inv.stats.decompressedBytes)} decompressed` : ''),
    );
    if (inv.models.length > 0) {
      out.push('', 'MODELS');
      for (const m of inv.models) out.push(...modelLines(m));
    }
    if (inv.problems.length > 0) {
      out.push('', 'PROBLEMS');
      for (const p of inv.problems) out.push(`  ${p.severity.padEnd(7)} ${p.location}`, `          ${p.code}: ${p.message}`);
    }
    return `${out.join('\n')}\n`;
  },
};

function modelLines(m: Model): string[] {
  const md = m.metadata;
  const lines = [`  ${m.location}${m.offset !== undefined ? ` @${m.offset}` : ''}`];
  lines.push(`    ${m.format} · ${bytes(m.size)} · sha256 ${m.sha256} · confidence ${m.confidence}`);
  const ident: string[] = [];
  const mm = field(md, 'modelMetadata');
  for (const [label, v] of [
    ['name', field(mm, 'name')],
    ['version', field(mm, 'version')],
    ['author', field(mm, 'author')],
    ['license', field(mm, 'license')],
    ['producer', joinDefined(str(field(md, 'producerName')), str(field(md, 'producerVersion')))],
    ['domain', field(md, 'domain')],
    ['model version', field(md, 'modelVersion')],
    ['description', field(md, 'description')],
  ] as const) {
    const s = str(v);
    if (s !== undefined) ident.push(`${label} ${oneLine(s)}`);
  }
  if (ident.length > 0) lines.push(`    ${ident.join(' · ')}`);
  const opsets = arr(field(md, 'opsetImports')).map((o) => `${str(field(o, 'domain')) ?? '?'} ${str(field(o, 'version')) ?? '?'}`);
  if (opsets.length > 0) lines.push(`    opsets: ${opsets.join(', ')}`);
  const io = ioOf(md);
  if (io) lines.push(`    in: ${io.inputs.map(tensor).join(', ') || '-'}`, `    out: ${io.outputs.map(tensor).join(', ') || '-'}`);
  // One line per operator name: versions of the same operator (TFLite lists them apart) are summed.
  const byName = new Map<string, { name: string; domain: string | undefined; kind: string | undefined; n: number }>();
  for (const o of arr(field(md, 'operators'))) {
    const name = str(field(o, 'opType')) ?? str(field(o, 'name')) ?? '?';
    const domain = str(field(o, 'domain'));
    const key = `${domain ?? ''}\u0000${name}`;
    const prev = byName.get(key);
    const n = Number(field(o, 'count') ?? 0);
    if (prev) prev.n += n;
    else byName.set(key, { name, domain, kind: str(field(o, 'kind')), n });
  }
  const ops = [...byName.values()].filter((o) => o.n > 0).sort((a, b) => b.n - a.n || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (ops.length > 0) {
    const total = ops.reduce((s, o) => s + o.n, 0);
    const shown = ops.slice(0, 8).map((o) => `${o.name}×${o.n}`);
    lines.push(`    ops: ${total} (${plural(ops.length, 'kind')}) ${shown.join(' ')}${ops.length > 8 ? ' …' : ''}`);
    const special = ops.filter((o) => (o.kind !== undefined && o.kind !== 'builtin') || (o.domain !== undefined && !['ai.onnx', 'ai.onnx.ml', ''].includes(o.domain)));
    if (special.length > 0) lines.push(`    custom ops: ${special.map((o) => `${o.domain ?? o.kind}:${o.name}`).join(', ')}`);
  }
  const params = field(md, 'parameters');
  const pc = field(params, 'count');
  if (typeof pc === 'number') {
    const byType = field(params, 'byType');
    const types = byType && typeof byType === 'object' ? Object.keys(byType).sort().join(', ') : '';
    lines.push(`    parameters: ${count(pc)}${types ? ` (${types})` : ''}`);
  }
  for (const a of m.associatedFiles ?? []) lines.push(`    packed file: ${a.name} ${bytes(a.size)} sha256 ${a.sha256}${a.type ? ` (${a.type})` : ''}`);
  return lines;
}

function ioOf(md: Record<string, unknown>): { inputs: unknown[]; outputs: unknown[] } | undefined {
  const graph = field(md, 'graph');
  if (graph !== undefined) return { inputs: arr(field(graph, 'inputs')), outputs: arr(field(graph, 'outputs')) };
  const sg = arr(field(md, 'subgraphs'))[0];
  if (sg !== undefined) return { inputs: arr(field(sg, 'inputs')), outputs: arr(field(sg, 'outputs')) };
  return undefined;
}

function joinDefined(...parts: (string | undefined)[]): string | undefined {
  const p = parts.filter((x): x is string => x !== undefined);
  return p.length > 0 ? p.join(' ') : undefined;
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

/** Renders an inventory's summary; exported for the CLI's default output. */
export function summarize(inv: Inventory): string {
  return summary.encode(inv);
}
