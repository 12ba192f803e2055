/**
 * SPDX licence identifiers that model files commonly state, so that encoders can write a licence as
 * an SPDX `id` when the model's own text is exactly one of them and as a free-text name otherwise.
 * Deliberately a short list, not the whole SPDX list: an id outside it is still kept, as a name.
 * A test checks each entry against the SPDX list bundled with the CycloneDX schemas.
 */
export const SPDX_LICENSE_IDS: ReadonlySet<string> = new Set([
  '0BSD',
  'AFL-3.0',
  'AGPL-3.0-only',
  'AGPL-3.0-or-later',
  'Apache-2.0',
  'Artistic-2.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'BSL-1.0',
  'CC-BY-2.0',
  'CC-BY-3.0',
  'CC-BY-4.0',
  'CC-BY-NC-4.0',
  'CC-BY-NC-ND-4.0',
  'CC-BY-NC-SA-4.0',
  'CC-BY-ND-4.0',
  'CC-BY-SA-3.0',
  'CC-BY-SA-4.0',
  'CC0-1.0',
  'CDLA-Permissive-2.0',
  'CDLA-Sharing-1.0',
  'EPL-2.0',
  'EUPL-1.2',
  'GPL-2.0-only',
  'GPL-2.0-or-later',
  'GPL-3.0-only',
  'GPL-3.0-or-later',
  'ISC',
  'LGPL-2.1-only',
  'LGPL-2.1-or-later',
  'LGPL-3.0-only',
  'LGPL-3.0-or-later',
  'MIT',
  'MIT-0',
  'MPL-2.0',
  'MulanPSL-2.0',
  'Unlicense',
  'WTFPL',
  'Zlib',
]);

/** The SPDX id the text is, ignoring case and surrounding blanks, or undefined. */
export function spdxLicenseId(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  for (const id of SPDX_LICENSE_IDS) if (id.toLowerCase() === t) return id;
  return undefined;
}
