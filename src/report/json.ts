import type { ReportEncoder } from './types.js';

/** The inventory itself, `aibom/inventory@2`, pretty-printed; key order is the schema's. */
export const json: ReportEncoder = {
  id: 'json',
  description: 'The aibom inventory (aibom/inventory@2) as JSON',
  encode: (inv) => `${JSON.stringify(inv, null, 2)}\n`,
};
