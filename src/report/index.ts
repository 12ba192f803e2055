import { csv } from './csv.js';
import { cyclonedx } from './cyclonedx.js';
import { html } from './html.js';
import { json } from './json.js';
import { markdown } from './markdown.js';
import { sarif } from './sarif.js';
import { spdx } from './spdx.js';
import { summary } from './summary.js';
import type { ReportEncoder } from './types.js';

/** Report encoders by id, in the order `--format` lists them. */
export const encoders: readonly ReportEncoder[] = [summary, json, cyclonedx, spdx, sarif, csv, markdown, html];

export function encoderById(id: string): ReportEncoder | undefined {
  return encoders.find((e) => e.id === id);
}
