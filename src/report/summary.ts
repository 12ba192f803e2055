import type { Component, Inventory, ModelComponent } from '../inventory/schema.js';
import { bytes, count, plural, tensor } from './text.js';
import type { ReportEncoder } from './types.js';

/**
 * What a person reads first: for each model one headline and its key facts (from the normalized model
 * card only: this encoder knows no format), the images and partitions that hold them, then the problems.
 */
export const summary: ReportEncoder = {
  id: 'summary',
  description: 'A readable summary: models with their key facts, where they sit, then problems',
  encode(inv) {
    const out: string[] = [];
    const models = inv.components.filter((c): c is ModelComponent => c.kind === 'model');
    const errors = inv.problems.filter((p) => p.severity === 'error').length;
    out.push(
      `aibom ${inv.tool.version}: ${plural(inv.subjects.length, 'input')}, ${plural(models.length, 'model')}, ` +
        `${plural(inv.problems.length, 'problem')}${errors > 0 ? ` (${errors} ${errors === 1 ? 'error' : 'errors'})` : ''}`,
    );
    out.push(
      `scanned ${plural(inv.stats.files, 'file')} in ${plural(inv.stats.containers, 'container')}` +
        (inv.stats.duplicates > 0 ? `, ${inv.stats.duplicates} duplicate${inv.stats.duplicates === 1 ? '' : 's'} not parsed again` : '') +
        (inv.stats.decompressedBytes > 0 ? `, ${bytes(inv.stats.decompressedBytes)} decompressed` : ''),
    );
    const byId = new Map(inv.components.map((c) => [c.id, c]));
    if (models.length > 0) {
      out.push('', 'MODELS');
      for (const m of models) out.push(...modelLines(m, inv, byId));
    }
    const holders = inv.components.filter((c) => c.kind === 'image' || c.kind === 'partition' || c.kind === 'archive');
    if (holders.length > 0) {
      out.push('', 'WHERE THEY SIT');
      for (const c of holders) {
        const held = inv.relationships.filter((r) => r.type === 'contains' && r.from === c.id).length;
        out.push(`  ${c.kind.padEnd(9)} ${c.locations[0]!.path} (${containerReader(c)}, ${bytes(c.size ?? 0)}, holds ${held})`);
      }
    }
    if (inv.problems.length > 0) {
      out.push('', 'PROBLEMS');
      for (const p of inv.problems) out.push(`  ${p.severity.padEnd(7)} ${p.location}`, `          ${p.code}: ${p.message}`);
    }
    return `${out.join('\n')}\n`;
  },
};

function containerReader(c: Component): string {
  return 'container' in c ? c.container.reader : c.kind;
}

function modelLines(m: ModelComponent, inv: Inventory, byId: ReadonlyMap<string, Component>): string[] {
  const card = m.model.card;
  const [first, ...more] = m.locations;
  const lines = [`  ${first!.path}${first!.offset !== undefined ? ` @${first!.offset}` : ''}`];
  for (const l of more) lines.push(`    also at ${l.path}${l.offset !== undefined ? ` @${l.offset}` : ''}`);
  lines.push(
    `    ${m.model.format}${card.formatVersion !== undefined ? ` ${card.formatVersion}` : ''} · ${bytes(m.size ?? 0)} · sha256 ${m.sha256 ?? '-'} · confidence ${m.confidence}`,
  );
  const ident: string[] = [];
  for (const [label, v] of [
    ['name', card.name],
    ['version', card.version],
    ['author', card.author],
    ['license', card.license],
    ['task', card.task],
    ['architecture', card.architecture],
    ['producer', [card.producer, card.producerVersion].filter((x) => x !== undefined).join(' ') || undefined],
    ['description', card.description],
  ] as const) {
    if (v !== undefined && v !== '') ident.push(`${label} ${oneLine(v)}`);
  }
  if (ident.length > 0) lines.push(`    ${ident.join(' · ')}`);
  if (card.inputs.length > 0 || card.outputs.length > 0) {
    lines.push(`    in: ${card.inputs.map(tensor).join(', ') || '-'}`, `    out: ${card.outputs.map(tensor).join(', ') || '-'}`);
  }
  // One line per operator name: versions of the same operator (TFLite lists them apart) are summed.
  const byName = new Map<string, { name: string; domain: string | undefined; custom: boolean; n: number }>();
  for (const o of card.operators) {
    const key = `${o.domain ?? ''}\u0000${o.name}`;
    const prev = byName.get(key);
    if (prev) prev.n += o.count;
    else byName.set(key, { name: o.name, domain: o.domain, custom: o.custom, n: o.count });
  }
  const ops = [...byName.values()].filter((o) => o.n > 0).sort((a, b) => b.n - a.n || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (ops.length > 0) {
    const total = ops.reduce((s, o) => s + o.n, 0);
    const shown = ops.slice(0, 8).map((o) => `${o.name}×${o.n}`);
    lines.push(`    ops: ${total} (${plural(ops.length, 'kind')}) ${shown.join(' ')}${ops.length > 8 ? ' …' : ''}`);
    const special = ops.filter((o) => o.custom);
    if (special.length > 0) lines.push(`    custom ops: ${special.map((o) => `${o.domain ?? 'custom'}:${o.name}`).join(', ')}`);
  }
  if (card.parameters !== undefined) {
    const types = card.weightTypes.join(', ');
    lines.push(
      `    parameters: ${count(card.parameters)}${types ? ` (${types})` : ''}${card.quantization !== undefined ? ` · quantization ${card.quantization}` : card.quantized === true ? ' · quantized' : ''}`,
    );
  }
  for (const a of m.model.associatedFiles ?? []) lines.push(`    packed file: ${a.name} ${bytes(a.size)} sha256 ${a.sha256}${a.type ? ` (${a.type})` : ''}`);
  for (const r of inv.relationships) {
    if (r.type !== 'part-of' || r.to !== m.id) continue;
    const part = byId.get(r.from);
    if (part === undefined) continue;
    lines.push(
      `    part: ${part.locations[0]!.path} ${bytes(part.size ?? 0)} sha256 ${part.sha256 ?? '-'}${part.kind === 'data' ? ` (${part.data.role})` : ''}`,
    );
  }
  return lines;
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

/** Renders an inventory's summary; exported for the CLI's default output. */
export function summarize(inv: Inventory): string {
  return summary.encode(inv);
}
