import crypto from 'node:crypto';

/**
 * A component id derived from content: `<kind>:` and the first 16 hex digits of the sha256 over the
 * given parts joined by NUL. The same inputs give the same id in every run and on every machine, so
 * two scans of one image can be compared id by id.
 */
export function componentId(kind: string, ...parts: readonly string[]): string {
  const h = crypto
    .createHash('sha256')
    .update([kind, ...parts].join('\u0000'))
    .digest('hex');
  return `${kind}:${h.slice(0, 16)}`;
}
