import type { Component, Inventory } from '../inventory/schema.js';
import { edgesFrom, locationText, models, partsByModel, tensorText } from './common.js';
import type { ReportEncoder } from './types.js';

/**
 * CSV for spreadsheets, one file per list: `models.csv` (one row per model, all its locations in one
 * cell), `components.csv` (every component of any kind, with what holds it) and `problems.csv`.
 * RFC 4180: CRLF line ends, a header row, fields quoted when they hold a quote, comma, CR or LF, quotes
 * doubled. A text cell that starts with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so that a
 * spreadsheet never runs a formula a hostile firmware put in a model name (OWASP "CSV injection").
 * No byte order mark. `encode` gives models.csv alone (stdout); `encodeFiles` gives all three, which
 * the CLI writes as `<base>.models.csv`, `<base>.components.csv`, `<base>.problems.csv`.
 */
type Cell = string | number | boolean | undefined;

function cell(v: Cell): string {
  if (v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV document from a header and rows, CRLF-terminated. */
export function csvTable(header: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  return [header, ...rows].map((r) => `${r.map(cell).join(',')}\r\n`).join('');
}

const lines = (xs: readonly string[]): string | undefined => (xs.length > 0 ? xs.join('\n') : undefined);

function modelsCsv(inv: Inventory): string {
  const parts = partsByModel(inv);
  const header = [
    'id',
    'name',
    'version',
    'format',
    'format_version',
    'locations',
    'size',
    'sha256',
    'confidence',
    'license',
    'author',
    'task',
    'architecture',
    'producer',
    'producer_version',
    'parameters',
    'parameter_bytes',
    'weight_types',
    'quantized',
    'quantization',
    'custom_operators',
    'inputs',
    'outputs',
    'parts',
    'associated_files',
    'description',
  ];
  const rows = models(inv).map((m) => {
    const c = m.model.card;
    return [
      m.id,
      m.name,
      m.version ?? c.version,
      m.model.format,
      c.formatVersion,
      lines(m.locations.map(locationText)),
      m.size,
      m.sha256,
      m.confidence,
      c.license,
      c.author,
      c.task,
      c.architecture,
      c.producer,
      c.producerVersion,
      c.parameters,
      c.parameterBytes,
      c.weightTypes.join(' '),
      c.quantized,
      c.quantization,
      lines(c.operators.filter((o) => o.custom).map((o) => `${o.domain ?? 'custom'}:${o.name}`)),
      lines(c.inputs.map(tensorText)),
      lines(c.outputs.map(tensorText)),
      lines((parts.get(m.id) ?? []).map((p) => `${p.locations[0]!.path} ${p.sha256 ?? ''}`.trim())),
      lines((m.model.associatedFiles ?? []).map((a) => `${a.name} ${a.sha256}`)),
      c.description,
    ];
  });
  return csvTable(header, rows);
}

/** What kind-specific detail a component has: a model's format, a container's reader, a data role. */
function detail(c: Component): string | undefined {
  if (c.kind === 'model') return c.model.format;
  if (c.kind === 'data') return c.data.role;
  if ('container' in c) return c.container.reader;
  return undefined;
}

function componentsCsv(inv: Inventory): string {
  const into = new Map<string, string[]>();
  for (const r of inv.relationships) into.set(r.to, [...(into.get(r.to) ?? []), `${r.from} ${r.type}`]);
  const from = edgesFrom(inv.relationships);
  const header = ['id', 'kind', 'name', 'version', 'detail', 'locations', 'size', 'sha256', 'confidence', 'relationships', 'referenced_by'];
  const rows = inv.components.map((c) => [
    c.id,
    c.kind,
    c.name,
    c.version,
    detail(c),
    lines(c.locations.map(locationText)),
    c.size,
    c.sha256,
    c.confidence,
    lines((from.get(c.id) ?? []).map((r) => `${r.type} ${r.to}`)),
    lines(into.get(c.id) ?? []),
  ]);
  return csvTable(header, rows);
}

function problemsCsv(inv: Inventory): string {
  return csvTable(
    ['severity', 'code', 'location', 'message'],
    inv.problems.map((p) => [p.severity, p.code, p.location, p.message]),
  );
}

export const csv: ReportEncoder = {
  id: 'csv',
  description: 'CSV for spreadsheets: models, components and problems, one file each (RFC 4180)',
  extension: 'csv',
  encode: (inv) => modelsCsv(inv),
  encodeFiles: (inv) =>
    new Map([
      ['models.csv', modelsCsv(inv)],
      ['components.csv', componentsCsv(inv)],
      ['problems.csv', problemsCsv(inv)],
    ]),
};
