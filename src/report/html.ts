import crypto from 'node:crypto';
import type { Component, Inventory, ModelComponent, Problem, Relationship, SoftwareComponent, Subject } from '../inventory/schema.js';
import { cmp, locationText, metadataProperties, models, partsByModel, tensorText } from './common.js';
import { label, strings, type Strings } from './i18n.js';
import { problemCodeHelp } from './problem-codes.js';
import { bytes, count } from './text.js';
import type { ReportEncoder, ReportLang } from './types.js';

/**
 * One self-contained HTML page for auditors and buyers: no network, no external font, script or image
 * (a Content-Security-Policy meta tag with `default-src 'none'` and hashes of the one inline style and
 * script enforces it in the browser). Sections:
 * - the headline counts, the inputs, and per input a summary: models by format and licences (inline SVG
 *   bar charts), runtimes and SDKs with versions, cloud AI services, problems by severity;
 * - a table per app (what it ships and what it depends on), up to `APP_TABLES_MAX`;
 * - the models as cards, the other components and the problems as tables, each with a filter and
 *   pages. These three lists are embedded as JSON in a `<script type="application/json">` and drawn
 *   one page at a time by a small inline script, so the DOM stays small with 10,000 models; printing
 *   draws every item that matches the filter, up to `PRINT_MAX` per list (print CSS hides the controls).
 * Everything from the inventory is escaped: as HTML text server-side, through `textContent` in the
 * browser, and the JSON with `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX` so it cannot close its script
 * element. Deterministic: no clock (the inventory's timestamp when it has one), sorted tallies.
 * Not handled: charts beyond bar charts; per-format metadata longer than `META_MAX` characters is cut
 * (the JSON report has it whole).
 */

/** Items drawn per page in the browser. */
const PAGE_SIZE = { models: 25, components: 50, problems: 50 } as const;
/** Items printed per list at most: a 10,000-model report printed whole would be thousands of pages. */
const PRINT_MAX = 2000;
/** Apps given their own table; the rest are listed with the other components. */
const APP_TABLES_MAX = 100;
/** Rows of a chart or a per-input list before the remainder is summed up as "other" / "and N more". */
const LIST_MAX = 12;
/** Characters of one metadata value shown in a card. */
const META_MAX = 1000;

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/**
 * JSON that is safe inside `<script type="application/json">`: `<` (so no `</script>` or `<!--`), `>`
 * and `&` as `\uXXXX`, and the two line separators JavaScript once treated as line ends.
 */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function tally(keys: readonly string[]): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]));
}

/** The first LIST_MAX rows, the rest summed into one `other` row. */
function capTally(rows: Array<[string, number]>, other: string): Array<[string, number]> {
  if (rows.length <= LIST_MAX) return rows;
  const head = rows.slice(0, LIST_MAX - 1);
  return [...head, [other, rows.slice(LIST_MAX - 1).reduce((s, r) => s + r[1], 0)]];
}

/** A horizontal bar chart as inline SVG; labels are escaped and cut to 20 characters (the full text in a title). */
function barChart(rows: ReadonlyArray<readonly [string, number]>, caption: string): string {
  if (rows.length === 0) return '';
  // Sized for a grid column of about 300 CSS pixels, so that the text is drawn at its own size.
  const rowH = 20;
  const labelW = 150;
  const barW = 130;
  const max = Math.max(...rows.map((r) => r[1]));
  const h = rows.length * rowH + 4;
  const parts = rows.map(([k, n], i) => {
    const y = i * rowH + 2;
    const w = Math.max(2, Math.round((n / max) * barW));
    const shown = k.length > 20 ? `${k.slice(0, 19)}…` : k;
    return (
      `<g><title>${esc(`${k}: ${n}`)}</title><text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(shown)}</text>` +
      `<rect x="${labelW}" y="${y + 3}" width="${w}" height="${rowH - 6}" rx="2"></rect>` +
      `<text x="${labelW + w + 6}" y="${y + 14}">${n}</text></g>`
    );
  });
  return `<svg class="chart" viewBox="0 0 ${labelW + barW + 50} ${h}" width="${labelW + barW + 50}" height="${h}" role="img" aria-label="${esc(caption)}">${parts.join('')}</svg>`;
}

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>, cls = ''): string {
  return (
    `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`
  );
}

/** Whether a location (as the first hop's path) lies in a scanned input. */
function inSubject(path: string, s: Subject): boolean {
  return path === s.location || path.startsWith(`${s.location}/`);
}

function problemInSubject(p: Problem, s: Subject): boolean {
  return p.location === s.location || p.location.startsWith(`${s.location}!/`) || p.location.startsWith(`${s.location}/`);
}

function componentInSubject(c: Component, s: Subject): boolean {
  return c.locations.some((l) => inSubject(l.hops[0]?.path ?? l.path, s));
}

function nameVersion(c: Component): string {
  return c.version !== undefined ? `${c.name} ${c.version}` : c.name;
}

function software(c: Component): SoftwareComponent | undefined {
  return 'software' in c ? c : undefined;
}

/** What one row of the component list says beside its name: the reader, the rule and its identifiers. */
function componentDetail(c: Component): string {
  if ('container' in c) return c.container.reader;
  if (c.kind === 'data') return c.data.role;
  const s = software(c)?.software;
  if (s === undefined) return '';
  return [s.vendor, s.endpoint, s.purl, s.cpe, s.loads !== undefined && s.loads.length > 0 ? s.loads.join(', ') : undefined, s.license]
    .filter((x): x is string => x !== undefined && x !== '')
    .join(' · ');
}

/** One model as the JSON the page script draws a card from: field keys (labels live once in the strings), values as text. */
function modelRow(
  m: ModelComponent,
  parts: readonly Component[],
  t: Strings,
  edgesTo: ReadonlyMap<string, Relationship[]>,
  byId: ReadonlyMap<string, Component>,
): Record<string, unknown> {
  const c = m.model.card;
  const x: Array<[string, string]> = [];
  const put = (k: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') x.push([k, v]);
  };
  put('version', m.version ?? c.version);
  put('size', m.size !== undefined ? bytes(m.size) : undefined);
  put('sha256', m.sha256);
  put('licence', c.license);
  put('author', c.author);
  put('task', c.task);
  put('architecture', c.architecture);
  put('producer', [c.producer, c.producerVersion].filter((v) => v !== undefined).join(' '));
  put('description', c.description);
  put('inputs', c.inputs.map(tensorText).join(', '));
  put('outputs', c.outputs.map(tensorText).join(', '));
  put('parameters', c.parameters !== undefined ? `${count(c.parameters)}${c.parameterBytes !== undefined ? ` (${bytes(c.parameterBytes)})` : ''}` : undefined);
  put('weightTypes', c.weightTypes.join(', '));
  put('quantization', c.quantization ?? (c.quantized === true ? t.yes : undefined));
  const ops = c.operators.filter((o) => o.count > 0);
  put(
    'operators',
    ops.length > 0
      ? ops
          .slice(0, 16)
          .map((o) => `${o.name}×${o.count}`)
          .join(', ') + (ops.length > 16 ? ', …' : '')
      : undefined,
  );
  put(
    'customOperators',
    ops
      .filter((o) => o.custom)
      .map((o) => `${o.domain ?? 'custom'}:${o.name}`)
      .join(', '),
  );
  for (const p of parts)
    put('parts', `${locationText(p.locations[0]!)}${p.size !== undefined ? ` (${bytes(p.size)})` : ''}${p.sha256 !== undefined ? ` ${p.sha256}` : ''}`);
  for (const a of m.model.associatedFiles ?? []) put('packedFiles', `${a.name} (${bytes(a.size)}${a.type !== undefined ? `, ${a.type}` : ''}) ${a.sha256}`);
  const from = (type: string): string[] =>
    (edgesTo.get(m.id) ?? []).filter((r) => r.type === type).flatMap((r) => (byId.has(r.from) ? [nameVersion(byId.get(r.from)!)] : []));
  put('shippedBy', from('ships').join(', '));
  put('loadedBy', from('loads').join(', '));
  put('loadableBy', from('can-load').join(', '));
  put('evidence', m.evidence.map((e) => e.detail).join('; '));
  const meta = metadataProperties(m.model.format, m.model.metadata, '').map(([k, v]): [string, string] => [
    k.slice(m.model.format.length + 1),
    v.length > META_MAX ? `${v.slice(0, META_MAX - 1)}…` : v,
  ]);
  return {
    id: m.id,
    n: m.name,
    f: m.model.format,
    fv: c.formatVersion ?? '',
    c: m.confidence,
    cl: label(t.confidence, m.confidence),
    l: c.license ?? '',
    loc: m.locations.map(locationText),
    x,
    m: meta,
  };
}

function countsBlock(t: Strings, inv: Inventory, nModels: number): string {
  const errors = inv.problems.filter((p) => p.severity === 'error').length;
  const soft = (k: string): number => inv.components.filter((c) => c.kind === k).length;
  const items: Array<[string, string, number]> = [
    ['inputs', t.inputs, inv.subjects.length],
    ['models', t.models, nModels],
    ['runtimes', t.html.runtimes, soft('runtime') + soft('sdk')],
    ['apps', t.html.apps, soft('app')],
    ['services', t.html.services, soft('service')],
    ['problems', t.problems, inv.problems.length],
    ['errors', t.html.errors, errors],
  ];
  return `<dl class="counts">${items.map(([k, l, n]) => `<div><dt>${esc(l)}</dt><dd data-count="${k}">${n}</dd></div>`).join('')}</dl>`;
}

function subjectSummary(s: Subject, i: number, inv: Inventory, t: Strings): string {
  const comps = inv.components.filter((c) => componentInSubject(c, s));
  const ms = comps.filter((c): c is ModelComponent => c.kind === 'model');
  const runtimes = comps.filter((c) => c.kind === 'runtime' || c.kind === 'sdk');
  const services = comps.filter((c) => c.kind === 'service');
  const probs = inv.problems.filter((p) => problemInSubject(p, s));
  const out: string[] = [`<section class="subject" id="input-${i}"><h3>${esc(s.location)}</h3>`];
  out.push(
    `<p class="facts">${esc(t.models)}: <span data-subject-count="models">${ms.length}</span> · ${esc(label(t.subjectKind, s.kind))} · ${esc(bytes(s.size))}${
      s.sha256 !== undefined ? ` · <code>${esc(s.sha256)}</code>` : ''
    }</p>`,
  );
  out.push('<div class="grid">');
  const formats = capTally(tally(ms.map((m) => m.model.format)), t.html.other);
  out.push(
    `<div><h4>${esc(t.modelsByFormat)}</h4>${formats.length > 0 ? barChart(formats, t.modelsByFormat) : `<p class="muted">${esc(t.html.none)}</p>`}</div>`,
  );
  const lic = capTally(tally(ms.map((m) => m.model.card.license ?? t.noLicence)), t.html.other);
  out.push(`<div><h4>${esc(t.licences)}</h4>${lic.length > 0 ? barChart(lic, t.licences) : `<p class="muted">${esc(t.html.none)}</p>`}</div>`);
  const list = (title: string, items: string[]): string => {
    const uniq = [...new Set(items)].sort(cmp);
    const shown = uniq.slice(0, LIST_MAX).map((x) => `<li>${esc(x)}</li>`);
    if (uniq.length > LIST_MAX) shown.push(`<li class="muted">${esc(t.html.more(uniq.length - LIST_MAX))}</li>`);
    return `<div><h4>${esc(title)}</h4>${uniq.length > 0 ? `<ul>${shown.join('')}</ul>` : `<p class="muted">${esc(t.html.none)}</p>`}</div>`;
  };
  out.push(list(t.html.runtimes, runtimes.map(nameVersion)));
  out.push(
    list(
      t.html.services,
      services.map((c) => {
        const e = software(c)?.software.endpoint;
        return e !== undefined ? `${c.name} (${e})` : c.name;
      }),
    ),
  );
  const sev = (['error', 'warning', 'info'] as const).map((k) => [label(t.severity, k), probs.filter((p) => p.severity === k).length] as [string, number]);
  out.push(
    `<div><h4>${esc(t.problems)}</h4><ul>${sev.map(([k, n]) => `<li>${esc(k)}: <span>${n}</span></li>`).join('')}</ul>${
      probs.length > 0
        ? `<p class="muted">${tally(probs.map((p) => p.code))
            .slice(0, LIST_MAX)
            .map(([c, n]) => `${esc(c)} ×${n}`)
            .join(', ')}</p>`
        : ''
    }</div>`,
  );
  out.push('</div></section>');
  return out.join('');
}

function appTables(inv: Inventory, t: Strings, byId: ReadonlyMap<string, Component>, edgesFrom: ReadonlyMap<string, Relationship[]>): string {
  const apps = inv.components.filter((c) => c.kind === 'app').sort((a, b) => cmp(a.name, b.name) || cmp(a.id, b.id));
  if (apps.length === 0) return `<p class="muted">${esc(t.html.noApps)}</p>`;
  const out: string[] = [];
  for (const app of apps.slice(0, APP_TABLES_MAX)) {
    const s = software(app)?.software;
    const facts = [app.version, s?.vendor, locationText(app.locations[0]!)].filter((x): x is string => x !== undefined && x !== '');
    const rows = (edgesFrom.get(app.id) ?? [])
      .filter((r) => r.type !== 'contains')
      .flatMap((r) => {
        const c = byId.get(r.to);
        if (c === undefined) return [];
        const link = c.kind === 'model' ? `<a href="#models" data-model="${esc(c.id)}">${esc(c.name)}</a>` : esc(c.name);
        return [
          [
            esc(label(t.html.relation, r.type)),
            esc(label(t.kind, c.kind)),
            link,
            esc(c.version ?? ''),
            esc(c.kind === 'model' ? c.model.format : componentDetail(c)),
          ],
        ];
      });
    out.push(
      `<section class="app"><h3>${esc(app.name)}</h3><p class="facts">${facts.map(esc).join(' · ')}</p>` +
        (rows.length > 0
          ? table([t.html.col.relation, t.col.kind, t.col.name, t.html.col.version, t.html.col.detail], rows)
          : `<p class="muted">${esc(t.html.none)}</p>`) +
        '</section>',
    );
  }
  if (apps.length > APP_TABLES_MAX) out.push(`<p class="muted">${esc(t.html.appsMore(apps.length - APP_TABLES_MAX))}</p>`);
  return out.join('');
}

/** A filtered, paginated list: its controls and an empty body the script fills from the JSON. */
function listSection(
  id: string,
  placeholder: string,
  facet: { all: string; options: Array<[string, string, number]> } | undefined,
  body: string,
  t: Strings,
): string {
  const select =
    facet === undefined
      ? ''
      : `<select class="facet" aria-label="${esc(facet.all)}"><option value="">${esc(facet.all)}</option>${facet.options
          .map(([v, l, n]) => `<option value="${esc(v)}">${esc(l)} (${n})</option>`)
          .join('')}</select>`;
  return (
    `<div class="list" data-list="${id}"><div class="controls"><input type="search" class="filter" placeholder="${esc(placeholder)}" aria-label="${esc(placeholder)}">${select}` +
    `<span class="status" aria-live="polite"></span></div>${body}` +
    `<p class="empty muted" hidden>${esc(t.html.noMatch)}</p>` +
    `<nav class="pager"><button type="button" class="prev">${esc(t.previous)}</button><span class="pageno"></span><button type="button" class="next">${esc(t.next)}</button></nav></div>`
  );
}

const CSS = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#d7dce5;--bg:#fff;--band:#f4f6fa;--accent:#2f5fb3;--err:#b3261e;--warn:#9a6700;--info:#3b6ea8}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;color:var(--fg);background:var(--bg)}
header,main{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:20px;border-bottom:1px solid var(--line)}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:19px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:16px;margin:14px 0 6px;overflow-wrap:anywhere}
h4{font-size:13px;margin:6px 0;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.muted{color:var(--muted)}
code,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;font-size:12px;overflow-wrap:anywhere}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0 16px}
.counts div{background:var(--band);border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:96px}
.counts dt{font-size:12px;color:var(--muted)}
.counts dd{margin:0;font-size:20px;font-weight:600}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:var(--band);font-weight:600;font-size:13px}
.subject,.app{border:1px solid var(--line);border-radius:8px;padding:4px 14px 10px;margin:10px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:4px 24px}
.grid ul{margin:4px 0;padding-left:18px}
.chart{max-width:100%;height:auto;font-size:12px;display:block}
.chart rect{fill:var(--accent)}
.chart text{fill:var(--fg)}
.controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.filter{flex:1 1 320px;padding:6px 10px;border:1px solid var(--line);border-radius:6px;font:inherit}
.facet{padding:5px 8px;border:1px solid var(--line);border-radius:6px;font:inherit;background:var(--bg)}
.status{color:var(--muted);font-size:13px}
.pager{display:flex;gap:10px;align-items:center;margin:8px 0 4px}
.pager button{font:inherit;padding:4px 12px;border:1px solid var(--line);border-radius:6px;background:var(--band);cursor:pointer}
.pager button:disabled{opacity:.45;cursor:default}
.card{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:8px;padding:8px 14px;margin:10px 0;break-inside:avoid}
.card h3{margin:4px 0}
.badge{display:inline-block;font-size:12px;border:1px solid var(--line);border-radius:10px;padding:0 8px;margin:0 6px 0 0;background:var(--band)}
.card dl{display:grid;grid-template-columns:minmax(120px,190px) 1fr;gap:2px 12px;margin:6px 0}
.card dt{color:var(--muted)}
.card dd{margin:0;overflow-wrap:anywhere}
.lines{white-space:pre-line}
.card table{font-size:12px}
.sev-error{color:var(--err);font-weight:600}
.sev-warning{color:var(--warn);font-weight:600}
.sev-info{color:var(--info)}
.print-note{display:none}
footer{max-width:1180px;margin:24px auto;padding:8px 20px;color:var(--muted);font-size:12px;border-top:1px solid var(--line)}
@media print{
@page{size:A4;margin:14mm}
body{font-size:10pt}
header,main{max-width:none;padding:0}
.controls,.pager{display:none}
.print-note{display:block}
.subject,.app,.card,tr{break-inside:avoid}
h2{break-after:avoid}
a{color:inherit;text-decoration:none}
}
`;

/** The page script: plain ES2017, no library, draws pages of the three lists from the embedded JSON. */
const SCRIPT = `
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('aibom-data').textContent);
  var S = D.s;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function fill(t, v) {
    return t.replace(/\\{(\\w+)\\}/g, function (_, k) { return String(v[k]); });
  }
  function cell(tr, text, cls) { tr.appendChild(el('td', cls, text)); }
  var renderers = {
    models: function (r) {
      var a = el('article', 'card');
      a.id = r.id;
      a.appendChild(el('h3', '', r.n));
      var b = el('div');
      b.appendChild(el('span', 'badge', r.f + (r.fv ? ' ' + r.fv : '')));
      b.appendChild(el('span', 'badge', S.f.confidence + ': ' + r.cl));
      if (r.l) b.appendChild(el('span', 'badge', r.l));
      a.appendChild(b);
      var dl = el('dl');
      function row(k, v, cls) { dl.appendChild(el('dt', '', S.f[k] || k)); dl.appendChild(el('dd', cls, v)); }
      row('id', r.id, 'mono');
      row('locations', r.loc.join('\\n'), 'mono lines');
      for (var j = 0; j < r.x.length; j++) row(r.x[j][0], r.x[j][1], r.x[j][0] === 'sha256' ? 'mono' : '');
      a.appendChild(dl);
      if (r.m.length > 0) {
        a.appendChild(el('h4', '', S.metadata));
        var t = el('table'), tb = el('tbody');
        for (var k = 0; k < r.m.length; k++) {
          var tr = el('tr');
          cell(tr, r.m[k][0], 'mono');
          cell(tr, r.m[k][1]);
          tb.appendChild(tr);
        }
        t.appendChild(tb);
        a.appendChild(t);
      }
      return a;
    },
    components: function (r) {
      var tr = el('tr');
      cell(tr, r[1]); cell(tr, r[2]); cell(tr, r[3]); cell(tr, r[4], 'mono'); cell(tr, r[5]); cell(tr, r[6], 'mono');
      return tr;
    },
    problems: function (r) {
      var tr = el('tr');
      cell(tr, r[1], 'sev-' + r[0]);
      var c = el('td', 'mono', r[2]);
      c.title = r[3];
      tr.appendChild(c);
      cell(tr, r[4], 'mono'); cell(tr, r[5]);
      return tr;
    }
  };
  /** The text a row is searched in, built once on the first filter. */
  function haystack(name, r) {
    if (name === 'models') {
      var parts = [r.id, r.n, r.f, r.fv, r.l, r.cl].concat(r.loc);
      for (var i = 0; i < r.x.length; i++) parts.push(r.x[i][1]);
      for (var j = 0; j < r.m.length; j++) parts.push(r.m[j][0], r.m[j][1]);
      return parts.join('\\n').toLowerCase();
    }
    return r.join('\\n').toLowerCase();
  }
  /** The facet value of a row: the format of a model, the kind of a component, the severity of a problem. */
  function facetOf(name, r) { return name === 'models' ? r.f : r[0]; }
  var lists = {};
  function List(root) {
    var name = root.getAttribute('data-list');
    var rows = D[name];
    var size = D.pageSize[name];
    var body = root.querySelector('.items');
    var input = root.querySelector('.filter');
    var facet = root.querySelector('.facet');
    var status = root.querySelector('.status');
    var pageno = root.querySelector('.pageno');
    var prev = root.querySelector('.prev');
    var next = root.querySelector('.next');
    var empty = root.querySelector('.empty');
    var pager = root.querySelector('.pager');
    var hay = null;
    var shown = rows.map(function (_, i) { return i; });
    var page = 0;
    var printing = false;
    function apply() {
      var terms = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var f = facet ? facet.value : '';
      if (terms.length > 0 && hay === null) hay = rows.map(function (r) { return haystack(name, r); });
      shown = [];
      for (var i = 0; i < rows.length; i++) {
        if (f && facetOf(name, rows[i]) !== f) continue;
        var ok = true;
        for (var j = 0; j < terms.length && ok; j++) ok = hay[i].indexOf(terms[j]) >= 0;
        if (ok) shown.push(i);
      }
      page = 0;
      draw();
    }
    function draw() {
      var pages = Math.max(1, Math.ceil(shown.length / size));
      if (page >= pages) page = pages - 1;
      var from = printing ? 0 : page * size;
      var to = printing ? Math.min(shown.length, D.printMax) : Math.min(shown.length, from + size);
      body.textContent = '';
      var frag = document.createDocumentFragment();
      for (var i = from; i < to; i++) frag.appendChild(renderers[name](rows[shown[i]]));
      body.appendChild(frag);
      status.textContent = shown.length === 0 ? '' : fill(S.showing, { from: from + 1, to: to, total: shown.length });
      status.setAttribute('data-total', String(shown.length));
      pageno.textContent = fill(S.page, { page: page + 1, pages: pages });
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
      empty.hidden = shown.length > 0;
      pager.hidden = pages <= 1;
    }
    var timer = 0;
    input.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
    // Enter (or leaving the box) filters at once, without waiting for the pause after typing.
    input.addEventListener('change', function () { clearTimeout(timer); apply(); });
    if (facet) facet.addEventListener('change', apply);
    // The pager sits below the page it turns: bring the top of the list back into view.
    function turn(d) { page += d; draw(); if (root.getBoundingClientRect().top < 0) root.scrollIntoView(); }
    prev.addEventListener('click', function () { turn(-1); });
    next.addEventListener('click', function () { turn(1); });
    this.find = function (text) { input.value = text; if (facet) facet.value = ''; apply(); };
    this.print = function (on) { printing = on; draw(); };
    draw();
  }
  var roots = document.querySelectorAll('[data-list]');
  for (var i = 0; i < roots.length; i++) lists[roots[i].getAttribute('data-list')] = new List(roots[i]);
  // A model named in an app table: show its card (the list may be on another page or filtered).
  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest ? e.target.closest('a[data-model]') : null;
    if (!a || !lists.models) return;
    e.preventDefault();
    lists.models.find(a.getAttribute('data-model'));
    var card = document.getElementById(a.getAttribute('data-model'));
    if (card) card.scrollIntoView();
  });
  window.addEventListener('beforeprint', function () { for (var k in lists) lists[k].print(true); });
  window.addEventListener('afterprint', function () { for (var k in lists) lists[k].print(false); });
  document.documentElement.setAttribute('data-ready', '1');
})();
`;

function cspHash(text: string): string {
  return `'sha256-${crypto.createHash('sha256').update(text).digest('base64')}'`;
}

/** Encodes an inventory as the HTML page described in the module comment. */
export function htmlReport(inv: Inventory, lang: ReportLang | undefined): string {
  const t = strings(lang);
  const ms = models(inv);
  const parts = partsByModel(inv);
  const partIds = new Set([...parts.values()].flat().map((c) => c.id));
  const byId = new Map(inv.components.map((c) => [c.id, c]));
  const edgesFrom = new Map<string, Relationship[]>();
  const edgesTo = new Map<string, Relationship[]>();
  for (const r of inv.relationships) {
    edgesFrom.set(r.from, [...(edgesFrom.get(r.from) ?? []), r]);
    edgesTo.set(r.to, [...(edgesTo.get(r.to) ?? []), r]);
  }
  const others = inv.components.filter((c) => c.kind !== 'model' && !partIds.has(c.id));
  const data = {
    s: {
      f: { ...t.field, ...t.html.field },
      metadata: t.html.metadata,
      showing: t.showing,
      page: t.page,
    },
    pageSize: PAGE_SIZE,
    printMax: PRINT_MAX,
    models: ms.map((m) => modelRow(m, parts.get(m.id) ?? [], t, edgesTo, byId)),
    components: others.map((c) => [
      c.kind,
      label(t.kind, c.kind),
      c.name,
      c.version ?? '',
      locationText(c.locations[0]!) + (c.locations.length > 1 ? ` (+${c.locations.length - 1})` : ''),
      componentDetail(c),
      c.sha256 ?? '',
    ]),
    problems: inv.problems.map((p) => [p.severity, label(t.severity, p.severity), p.code, problemCodeHelp(p.code).title, p.location, p.message]),
  };

  const errors = inv.problems.filter((p) => p.severity === 'error').length;
  const body: string[] = [];
  body.push(
    `<header><h1>${esc(t.title)}</h1><p>${esc(`${t.headline(inv.subjects.length, ms.length, inv.problems.length, errors)}${t.stop} ${t.scanned(inv.stats.files, inv.stats.containers, inv.stats.duplicates)}${t.stop}`)}</p>`,
  );
  body.push(countsBlock(t, inv, ms.length));
  body.push('</header><main>');
  body.push(`<p class="print-note muted">${esc(t.html.printNote.replace('{max}', String(PRINT_MAX)))}</p>`);
  body.push(`<noscript><p><strong>${esc(t.html.noscript)}</strong></p></noscript>`);

  body.push(`<h2 id="inputs">${esc(t.inputs)}</h2>`);
  body.push(
    inv.subjects.length > 0
      ? table(
          [t.col.input, t.col.kind, t.col.size, t.col.sha256],
          inv.subjects.map((s) => [
            esc(s.location),
            esc(label(t.subjectKind, s.kind)),
            esc(bytes(s.size)),
            s.sha256 !== undefined ? `<code>${esc(s.sha256)}</code>` : '',
          ]),
        )
      : `<p class="muted">${esc(t.html.none)}</p>`,
  );
  body.push(`<h2 id="per-input">${esc(t.html.perInput)}</h2>`);
  inv.subjects.forEach((s, i) => {
    body.push(subjectSummary(s, i, inv, t));
  });

  const runtimes = inv.components.filter((c) => c.kind === 'runtime' || c.kind === 'sdk');
  if (runtimes.length > 0) {
    body.push(`<h2 id="runtimes">${esc(t.html.runtimes)}</h2>`);
    body.push(
      table(
        [t.col.name, t.html.col.version, t.col.kind, t.html.col.vendor, t.col.licence, t.html.col.loads, t.html.col.usedBy, t.col.location],
        runtimes.map((c) => {
          const s = software(c)?.software;
          const users = (edgesTo.get(c.id) ?? []).filter((r) => r.type === 'depends-on').flatMap((r) => (byId.has(r.from) ? [byId.get(r.from)!.name] : []));
          return [
            esc(c.name),
            esc(c.version ?? ''),
            esc(label(t.kind, c.kind)),
            esc(s?.vendor ?? ''),
            esc(s?.license ?? ''),
            esc((s?.loads ?? []).join(', ')),
            esc(users.join(', ')),
            `<span class="mono">${esc(locationText(c.locations[0]!))}</span>`,
          ];
        }),
      ),
    );
  }
  const services = inv.components.filter((c) => c.kind === 'service');
  if (services.length > 0) {
    body.push(`<h2 id="services">${esc(t.html.services)}</h2>`);
    body.push(
      table(
        [t.col.name, t.html.col.endpoint, t.html.col.vendor, t.html.col.usedBy, t.col.location],
        services.map((c) => {
          const s = software(c)?.software;
          const users = (edgesTo.get(c.id) ?? []).filter((r) => r.type === 'depends-on').flatMap((r) => (byId.has(r.from) ? [byId.get(r.from)!.name] : []));
          return [
            esc(c.name),
            `<span class="mono">${esc(s?.endpoint ?? '')}</span>`,
            esc(s?.vendor ?? ''),
            esc(users.join(', ')),
            `<span class="mono">${esc(locationText(c.locations[0]!))}</span>`,
          ];
        }),
      ),
    );
  }
  body.push(`<h2 id="apps">${esc(t.html.apps)}</h2>`);
  body.push(appTables(inv, t, byId, edgesFrom));

  body.push(`<h2 id="models">${esc(t.models)}</h2>`);
  const fmt = tally(ms.map((m) => m.model.format)).map(([k, n]): [string, string, number] => [k, k, n]);
  body.push(
    ms.length === 0
      ? `<p class="muted">${esc(t.noModels)}</p>`
      : listSection('models', t.filterPlaceholder, { all: t.html.allFormats, options: fmt }, '<div class="items"></div>', t),
  );

  if (others.length > 0) {
    body.push(`<h2 id="components">${esc(t.html.components)}</h2>`);
    const kinds = tally(others.map((c) => c.kind)).map(([k, n]): [string, string, number] => [k, label(t.kind, k), n]);
    const head = [t.col.kind, t.col.name, t.html.col.version, t.col.location, t.html.col.detail, t.col.sha256];
    body.push(
      listSection(
        'components',
        t.html.filterComponents,
        { all: t.html.allKinds, options: kinds },
        `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody class="items"></tbody></table>`,
        t,
      ),
    );
  }

  body.push(`<h2 id="problems">${esc(t.problems)}</h2>`);
  if (inv.problems.length === 0) body.push(`<p class="muted">${esc(t.noProblems)}</p>`);
  else {
    const sevs = (['error', 'warning', 'info'] as const)
      .map((k): [string, string, number] => [k, label(t.severity, k), inv.problems.filter((p) => p.severity === k).length])
      .filter((x) => x[2] > 0);
    const head = [t.col.severity, t.col.code, t.col.location, t.col.message];
    body.push(
      listSection(
        'problems',
        t.html.filterProblems,
        { all: t.html.allSeverities, options: sevs },
        `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody class="items"></tbody></table>`,
        t,
      ),
    );
  }
  body.push('</main>');
  body.push(
    `<footer>${esc(t.generatedBy(`${inv.tool.name} ${inv.tool.version}`))} · ${esc(inv.schema)}${inv.timestamp !== undefined ? ` · ${esc(t.timestamp)} ${esc(inv.timestamp)}` : ''}</footer>`,
  );

  const csp = `default-src 'none'; style-src ${cspHash(CSS)}; script-src ${cspHash(SCRIPT)}; img-src data:; base-uri 'none'; form-action 'none'`;
  return [
    '<!DOCTYPE html>',
    `<html lang="${lang === 'zh' ? 'zh-CN' : 'en'}">`,
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="${esc(`${inv.tool.name} ${inv.tool.version}`)}">`,
    `<title>${esc(`${t.title}: ${inv.subjects.map((s) => s.location).join(', ') || '-'}`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    body.join('\n'),
    `<script type="application/json" id="aibom-data">${scriptJson(data)}</script>`,
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export const html: ReportEncoder = {
  id: 'html',
  description: 'One self-contained HTML page (en or zh): summaries, charts, app tables, searchable model cards; printable',
  extension: 'html',
  encode: (inv, options) => htmlReport(inv, options?.lang),
};
