import type { ModelComponent } from '../inventory/schema.js';

/**
 * Everything known about one model as an indented outline (the `inspect` command): identity, every
 * location, the normalized card and every metadata field, nothing truncated. Deterministic: keys in
 * the order the format wrote them.
 */
export function modelDetail(m: ModelComponent): string {
  const out: string[] = [];
  for (const l of m.locations) out.push(`${l.path}${l.offset !== undefined ? ` @${l.offset}` : ''}`);
  out.push(`  id: ${m.id}`, `  format: ${m.model.format}`, `  size: ${m.size ?? 0}`, `  sha256: ${m.sha256 ?? '-'}`, `  confidence: ${m.confidence}`);
  out.push('  evidence:');
  render(m.evidence, 2, out);
  out.push('  card:');
  render(m.model.card, 2, out);
  out.push('  metadata:');
  render(m.model.metadata, 2, out);
  if (m.model.associatedFiles && m.model.associatedFiles.length > 0) {
    out.push('  associatedFiles:');
    render(m.model.associatedFiles, 2, out);
  }
  return `${out.join('\n')}\n`;
}

function scalar(v: unknown): string {
  if (typeof v === 'string') return /[\n:#]|^\s|\s$|^$/.test(v) ? JSON.stringify(v) : v;
  return v === null ? 'null' : String(v);
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

function render(v: unknown, depth: number, out: string[]): void {
  const pad = '  '.repeat(depth);
  if (Array.isArray(v)) {
    if (v.length === 0) {
      out.push(`${pad}[]`);
      return;
    }
    if (v.every(isScalar)) {
      out.push(`${pad}[${v.map(scalar).join(', ')}]`);
      return;
    }
    for (const item of v) {
      if (isScalar(item)) {
        out.push(`${pad}- ${scalar(item)}`);
        continue;
      }
      const lines: string[] = [];
      render(item, depth + 1, lines);
      if (lines.length > 0) lines[0] = `${pad}- ${lines[0]!.trimStart()}`;
      out.push(...lines);
    }
    return;
  }
  if (v !== null && typeof v === 'object') {
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (isScalar(val)) out.push(`${pad}${k}: ${scalar(val)}`);
      else if (Array.isArray(val) && (val.length === 0 || val.every(isScalar))) out.push(`${pad}${k}: [${val.map(scalar).join(', ')}]`);
      else if (!Array.isArray(val) && Object.keys(val as object).length === 0) out.push(`${pad}${k}: {}`);
      else {
        out.push(`${pad}${k}:`);
        render(val, depth + 1, out);
      }
    }
    return;
  }
  out.push(`${pad}${scalar(v)}`);
}
