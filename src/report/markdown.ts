import type { Component, Inventory, ModelComponent } from '../inventory/schema.js';
import { cmp, locationText, models, partsByModel, tensorText } from './common.js';
import { label, strings, type Strings } from './i18n.js';
import { bytes, count } from './text.js';
import type { ReportEncoder } from './types.js';

/**
 * The summary as a Markdown document (CommonMark + GitHub tables) to paste into a release note or a
 * ticket, in English or Simplified Chinese (`lang`). Inventory text is escaped (a model name from a
 * hostile firmware cannot inject links, HTML or table cells). Sections: headline, inputs, models by
 * format and licence, one table of models, a section per model, containers, other components (kinds
 * added later), problems. Not handled: images or charts (see the html format).
 */

/** Escapes text for a Markdown table cell or paragraph: no HTML, no emphasis, no links, no cell break. */
export function mdText(s: string): string {
  return s.replace(/[\\`*_[\]#|<>&~]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`)).replace(/\r?\n/g, '<br>');
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function modelSection(m: ModelComponent, parts: readonly Component[], t: Strings): string[] {
  const c = m.model.card;
  const f = t.field;
  const out = [`### ${mdText(m.name)}`, ''];
  const item = (k: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') out.push(`- **${k}:** ${v}`);
  };
  item(f.id, `\`${m.id}\``);
  item(f.format, mdText(`${m.model.format}${c.formatVersion !== undefined ? ` ${c.formatVersion}` : ''}`));
  const version = m.version ?? c.version;
  item(f.version, version !== undefined ? mdText(version) : undefined);
  if (m.locations.length === 1) item(f.locations, mdText(locationText(m.locations[0]!)));
  else {
    out.push(`- **${f.locations}:**`);
    for (const l of m.locations) out.push(`  - ${mdText(locationText(l))}`);
  }
  item(f.size, m.size !== undefined ? bytes(m.size) : undefined);
  item(f.sha256, m.sha256 !== undefined ? `\`${m.sha256}\`` : undefined);
  item(f.confidence, label(t.confidence, m.confidence));
  item(f.evidence, m.evidence.map((e) => mdText(e.detail)).join('; '));
  item(f.licence, c.license !== undefined ? mdText(c.license) : undefined);
  item(f.author, c.author !== undefined ? mdText(c.author) : undefined);
  item(f.task, c.task !== undefined ? mdText(c.task) : undefined);
  item(f.architecture, c.architecture !== undefined ? mdText(c.architecture) : undefined);
  item(f.producer, c.producer !== undefined ? mdText([c.producer, c.producerVersion].filter((x) => x !== undefined).join(' ')) : undefined);
  item(f.description, c.description !== undefined ? mdText(c.description) : undefined);
  item(f.inputs, c.inputs.map((x) => mdText(tensorText(x))).join(', '));
  item(f.outputs, c.outputs.map((x) => mdText(tensorText(x))).join(', '));
  item(f.parameters, c.parameters !== undefined ? `${count(c.parameters)}${c.parameterBytes !== undefined ? ` (${bytes(c.parameterBytes)})` : ''}` : undefined);
  item(f.weightTypes, c.weightTypes.map(mdText).join(', '));
  item(f.quantization, c.quantization !== undefined ? mdText(c.quantization) : c.quantized === true ? t.yes : undefined);
  const ops = c.operators.filter((o) => o.count > 0);
  item(
    f.operators,
    ops
      .slice(0, 12)
      .map((o) => mdText(`${o.name}×${o.count}`))
      .join(', ') + (ops.length > 12 ? ', …' : ''),
  );
  item(
    f.customOperators,
    ops
      .filter((o) => o.custom)
      .map((o) => mdText(`${o.domain ?? 'custom'}:${o.name}`))
      .join(', '),
  );
  for (const p of parts)
    item(
      f.parts,
      mdText(`${locationText(p.locations[0]!)}${p.size !== undefined ? ` (${bytes(p.size)})` : ''}`) + (p.sha256 !== undefined ? ` \`${p.sha256}\`` : ''),
    );
  for (const a of m.model.associatedFiles ?? [])
    item(f.packedFiles, `${mdText(`${a.name} (${bytes(a.size)}${a.type !== undefined ? `, ${a.type}` : ''})`)} \`${a.sha256}\``);
  out.push('');
  return out;
}

/** Counts of a key over a list, most frequent first, then by key. */
function tally(keys: readonly string[]): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]));
}

export function markdownReport(inv: Inventory, lang: 'en' | 'zh' | undefined): string {
  const t = strings(lang);
  const ms = models(inv);
  const parts = partsByModel(inv);
  const errors = inv.problems.filter((p) => p.severity === 'error').length;
  const out: string[] = [`# ${t.title}`, ''];
  out.push(
    `${t.headline(inv.subjects.length, ms.length, inv.problems.length, errors)}${t.stop} ${t.scanned(inv.stats.files, inv.stats.containers, inv.stats.duplicates)}${t.stop}`,
    '',
  );
  out.push(
    `_${mdText(t.generatedBy(`${inv.tool.name} ${inv.tool.version}`))}${inv.timestamp !== undefined ? ` · ${t.timestamp} ${mdText(inv.timestamp)}` : ''}_`,
    '',
  );
  if (inv.subjects.length > 0) {
    out.push(`## ${t.inputs}`, '');
    out.push(
      ...table(
        [t.col.input, t.col.kind, t.col.size, t.col.sha256],
        inv.subjects.map((s) => [mdText(s.location), label(t.subjectKind, s.kind), bytes(s.size), s.sha256 !== undefined ? `\`${s.sha256}\`` : '']),
      ),
    );
    out.push('');
  }
  out.push(`## ${t.models}`, '');
  if (ms.length === 0) out.push(t.noModels, '');
  else {
    out.push(
      ...table(
        [t.col.format, t.col.count],
        tally(ms.map((m) => m.model.format)).map(([k, n]) => [mdText(k), String(n)]),
      ),
      '',
    );
    out.push(
      ...table(
        [t.col.licence, t.col.count],
        tally(ms.map((m) => m.model.card.license ?? t.noLicence)).map(([k, n]) => [mdText(k), String(n)]),
      ),
      '',
    );
    out.push(
      ...table(
        [t.col.name, t.col.format, t.col.size, t.col.licence, t.col.location, t.col.confidence],
        ms.map((m) => [
          mdText(m.name),
          mdText(m.model.format),
          m.size !== undefined ? bytes(m.size) : '',
          mdText(m.model.card.license ?? ''),
          mdText(locationText(m.locations[0]!)) + (m.locations.length > 1 ? ` (+${m.locations.length - 1})` : ''),
          label(t.confidence, m.confidence),
        ]),
      ),
      '',
    );
    for (const m of ms) out.push(...modelSection(m, parts.get(m.id) ?? [], t));
  }
  const holders = inv.components.filter((c) => 'container' in c);
  if (holders.length > 0) {
    out.push(`## ${t.containers}`, '');
    out.push(
      ...table(
        [t.col.kind, t.col.location, t.col.reader, t.col.size, t.col.holds],
        holders.map((c) => [
          label(t.kind, c.kind),
          mdText(locationText(c.locations[0]!)),
          mdText('container' in c ? c.container.reader : ''),
          c.size !== undefined ? bytes(c.size) : '',
          String(inv.relationships.filter((r) => r.type === 'contains' && r.from === c.id).length),
        ]),
      ),
      '',
    );
  }
  // Kinds this version does not know yet (runtimes, apps...) are listed rather than dropped.
  const known = new Set(['model', 'data', 'image', 'partition', 'archive']);
  const others = inv.components.filter((c) => !known.has(c.kind) || (c.kind === 'data' && ![...parts.values()].some((ps) => ps.includes(c))));
  if (others.length > 0) {
    out.push(`## ${t.otherComponents}`, '');
    out.push(
      ...table(
        [t.col.kind, t.col.name, t.col.location, t.col.sha256],
        others.map((c) => [
          mdText(label(t.kind, c.kind)),
          mdText(c.name),
          mdText(locationText(c.locations[0]!)),
          c.sha256 !== undefined ? `\`${c.sha256}\`` : '',
        ]),
      ),
      '',
    );
  }
  out.push(`## ${t.problems}`, '');
  if (inv.problems.length === 0) out.push(t.noProblems, '');
  else
    out.push(
      ...table(
        [t.col.severity, t.col.code, t.col.location, t.col.message],
        inv.problems.map((p) => [label(t.severity, p.severity), `\`${p.code}\``, mdText(p.location), mdText(p.message)]),
      ),
      '',
    );
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

export const markdown: ReportEncoder = {
  id: 'markdown',
  description: 'A Markdown document (en or zh) to paste into a release note or a ticket',
  extension: 'md',
  encode: (inv, options) => markdownReport(inv, options?.lang),
};
