import type { Component, Inventory, ModelComponent } from '../inventory/schema.js';
import { label, strings, type Strings } from './i18n.js';
import { bytes, count, tensor } from './text.js';
import type { ReportEncoder, ReportLang } from './types.js';

/**
 * What a person reads first: for each model one headline and its key facts (from the normalized model
 * card only: this encoder knows no format), the images and partitions that hold them, then the problems.
 * In English (default) or Simplified Chinese (`lang`): the fixed words come from `i18n.ts`; what the
 * inventory says (names, messages, problem codes) stays as it is.
 */
export const summary: ReportEncoder = {
  id: 'summary',
  description: 'A readable summary (en or zh): models with their key facts, where they sit, then problems',
  encode: (inv, options) => summaryText(inv, options?.lang),
};

function summaryText(inv: Inventory, lang: ReportLang | undefined): string {
  const t = strings(lang);
  const s = t.summary;
  const out: string[] = [];
  const models = inv.components.filter((c): c is ModelComponent => c.kind === 'model');
  const errors = inv.problems.filter((p) => p.severity === 'error').length;
  out.push(s.headline(inv.tool.version, inv.subjects.length, models.length, inv.problems.length, errors));
  out.push(
    s.scanned(inv.stats.files, inv.stats.containers, inv.stats.duplicates, inv.stats.decompressedBytes > 0 ? bytes(inv.stats.decompressedBytes) : undefined),
  );
  const byId = new Map(inv.components.map((c) => [c.id, c]));
  if (models.length > 0) {
    out.push('', s.models);
    for (const m of models) out.push(...modelLines(m, inv, byId, t));
  }
  const software = inv.components.filter((c) => c.kind === 'runtime' || c.kind === 'sdk' || c.kind === 'service');
  if (software.length > 0) {
    out.push('', s.software);
    for (const c of software) out.push(...softwareLines(c, t));
  }
  const owners = inv.components.filter((c) => c.kind === 'app' || c.kind === 'package');
  if (owners.length > 0) {
    out.push('', s.owners);
    for (const c of owners) out.push(...ownerLines(c, inv, byId, t));
  }
  const holders = inv.components.filter((c) => c.kind === 'image' || c.kind === 'partition' || c.kind === 'archive');
  if (holders.length > 0) {
    out.push('', s.holders);
    for (const c of holders) {
      const held = inv.relationships.filter((r) => r.type === 'contains' && r.from === c.id).length;
      out.push(`  ${padCells(label(t.kind, c.kind), 9)} ${c.locations[0]!.path} ${s.holds(containerReader(c), bytes(c.size ?? 0), held)}`);
    }
  }
  if (inv.problems.length > 0) {
    out.push('', s.problems);
    for (const p of inv.problems) out.push(`  ${padCells(label(t.severity, p.severity), 7)} ${p.location}`, `          ${p.code}: ${p.message}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * `padEnd` by terminal cells: CJK characters take two, so Chinese labels line up with the column they
 * head. Plain ASCII pads exactly as `padEnd`, which keeps the English output unchanged.
 */
function padCells(s: string, width: number): string {
  let cells = 0;
  for (const ch of s) cells += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return cells >= width ? s : s + ' '.repeat(width - cells);
}

/** `ONNX Runtime 1.30.0`: a component's name and version. */
function nameVersion(c: Component): string {
  return c.version !== undefined ? `${c.name} ${c.version}` : c.name;
}

/** A runtime, SDK or service: name and version, vendor and licence, endpoint, purl, where it was found. */
function softwareLines(c: Component, t: Strings): string[] {
  const sw = 'software' in c ? c.software : undefined;
  const facts = [sw?.vendor, sw?.license].filter((x): x is string => x !== undefined && x !== '');
  const head = `  ${padCells(label(t.kind, c.kind), 9)} ${nameVersion(c)}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}${sw?.endpoint !== undefined ? ` -> ${sw.endpoint}` : ''}`;
  const lines = [head];
  for (const l of c.locations) lines.push(`            ${l.path}`);
  if (sw?.purl !== undefined) lines.push(`            ${sw.purl}`);
  return lines;
}

/** An app or package: what it ships (models) and what it depends on (runtimes, SDKs, services). */
function ownerLines(c: Component, inv: Inventory, byId: ReadonlyMap<string, Component>, t: Strings): string[] {
  const s = t.summary;
  const lines = [`  ${padCells(label(t.kind, c.kind), 9)} ${nameVersion(c)} · ${c.locations[0]!.path}`];
  const to = (type: string): Component[] =>
    inv.relationships
      .filter((r) => r.from === c.id && r.type === type)
      .map((r) => byId.get(r.to))
      .filter((x): x is Component => x !== undefined);
  const shipped = to('ships');
  const deps = to('depends-on');
  if (shipped.length > 0) lines.push(`            ${s.ownsModels}${s.colon}${shipped.map((m) => m.name).join(', ')}`);
  if (deps.length > 0) lines.push(`            ${s.ownsSoftware}${s.colon}${deps.map(nameVersion).join(', ')}`);
  return lines;
}

function containerReader(c: Component): string {
  return 'container' in c ? c.container.reader : c.kind;
}

function modelLines(m: ModelComponent, inv: Inventory, byId: ReadonlyMap<string, Component>, t: Strings): string[] {
  const s = t.summary;
  const c = s.colon;
  const card = m.model.card;
  const [first, ...more] = m.locations;
  const lines = [`  ${first!.path}${first!.offset !== undefined ? ` @${first!.offset}` : ''}`];
  for (const l of more) lines.push(`    ${s.alsoAt} ${l.path}${l.offset !== undefined ? ` @${l.offset}` : ''}`);
  lines.push(
    `    ${m.model.format}${card.formatVersion !== undefined ? ` ${card.formatVersion}` : ''} · ${bytes(m.size ?? 0)} · sha256 ${m.sha256 ?? '-'} · ${s.confidence} ${label(t.confidence, m.confidence)}`,
  );
  const ident: string[] = [];
  for (const [name, v] of [
    [s.ident.name, card.name],
    [s.ident.version, card.version],
    [s.ident.author, card.author],
    [s.ident.license, card.license],
    [s.ident.task, card.task],
    [s.ident.architecture, card.architecture],
    [s.ident.producer, [card.producer, card.producerVersion].filter((x) => x !== undefined).join(' ') || undefined],
    [s.ident.description, card.description],
  ] as const) {
    if (v !== undefined && v !== '') ident.push(`${name} ${oneLine(v)}`);
  }
  if (ident.length > 0) lines.push(`    ${ident.join(' · ')}`);
  if (card.inputs.length > 0 || card.outputs.length > 0) {
    lines.push(`    ${s.in}${c}${card.inputs.map(tensor).join(', ') || '-'}`, `    ${s.out}${c}${card.outputs.map(tensor).join(', ') || '-'}`);
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
    lines.push(`    ${s.ops(total, ops.length)} ${shown.join(' ')}${ops.length > 8 ? ' …' : ''}`);
    const special = ops.filter((o) => o.custom);
    if (special.length > 0) lines.push(`    ${s.customOps}${c}${special.map((o) => `${o.domain ?? 'custom'}:${o.name}`).join(', ')}`);
  }
  if (card.parameters !== undefined) {
    const types = card.weightTypes.join(', ');
    lines.push(
      `    ${s.parameters}${c}${count(card.parameters)}${types ? ` (${types})` : ''}${card.quantization !== undefined ? ` · ${s.quantization} ${card.quantization}` : card.quantized === true ? ` · ${s.quantized}` : ''}`,
    );
  }
  for (const a of m.model.associatedFiles ?? [])
    lines.push(`    ${s.packedFile}${c}${a.name} ${bytes(a.size)} sha256 ${a.sha256}${a.type ? ` (${a.type})` : ''}`);
  for (const r of inv.relationships) {
    if (r.type !== 'part-of' || r.to !== m.id) continue;
    const part = byId.get(r.from);
    if (part === undefined) continue;
    lines.push(
      `    ${s.part}${c}${part.locations[0]!.path} ${bytes(part.size ?? 0)} sha256 ${part.sha256 ?? '-'}${part.kind === 'data' ? ` (${part.data.role})` : ''}`,
    );
  }
  // Who ships and who runs it (edges made by the runtime rules' link stage).
  const from = (type: string): string[] =>
    inv.relationships
      .filter((r) => r.to === m.id && r.type === type)
      .map((r) => byId.get(r.from))
      .filter((x): x is Component => x !== undefined)
      .map((x) => (x.version !== undefined ? `${x.name} ${x.version}` : x.name));
  for (const [labelText, type] of [
    [s.shippedBy, 'ships'],
    [s.loadedBy, 'loads'],
    [s.runBy, 'can-load'],
  ] as const) {
    const who = from(type);
    if (who.length > 0) lines.push(`    ${labelText}${c}${who.join(', ')}`);
  }
  return lines;
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

/** Renders an inventory's summary (English unless `lang` says otherwise); exported for the CLI's default output. */
export function summarize(inv: Inventory, lang?: ReportLang): string {
  return summaryText(inv, lang);
}
