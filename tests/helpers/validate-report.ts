import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/**
 * Validation of every standard report the tests produce against its official schema, offline:
 * CycloneDX through the schemas bundled in `@cyclonedx/cyclonedx-library`, SARIF 2.1.0 through the
 * schema kept in `fixtures/sarif/` (provenance in its README), SPDX 3.0.1 through the schema in
 * `../shared/schemas/spdx-3.0.1` (absent on some machines: then `validateSpdx` says so and the caller
 * skips visibly). Every encoder test calls `validateReport`, which knows which formats have a schema.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// ajv-formats is CommonJS with `module.exports = formatsPlugin` and a `default` property.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

/** Where the SPDX 3.0.1 JSON schema is expected: `../shared/schemas` relative to the repository root. */
export const SPDX_SCHEMA_FILE = path.resolve(root, '..', 'shared', 'schemas', 'spdx-3.0.1', 'spdx-json-schema.json');
export const SARIF_SCHEMA_FILE = path.join(root, 'fixtures', 'sarif', 'sarif-2.1.0.json');

const cdxValidators = new Map<string, Validation.JsonStrictValidator>();

/** Errors of a CycloneDX JSON document against the strict schema of its spec version; [] when valid. */
export async function validateCycloneDx(text: string): Promise<string[]> {
  const doc = JSON.parse(text) as { specVersion?: string };
  const version = doc.specVersion;
  const known = Object.values(Spec.Version) as string[];
  if (version === undefined || !known.includes(version)) return [`unknown CycloneDX specVersion ${String(version)}`];
  let v = cdxValidators.get(version);
  if (v === undefined) {
    v = new Validation.JsonStrictValidator(version as Spec.Version);
    cdxValidators.set(version, v);
  }
  const errors = await v.validate(text);
  return errors === null ? [] : [JSON.stringify(errors, null, 1).slice(0, 4000)];
}

const compiled = new Map<string, ValidateFunction>();

function ajvValidator(file: string): ValidateFunction {
  let fn = compiled.get(file);
  if (fn === undefined) {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    fn = ajv.compile(JSON.parse(fs.readFileSync(file, 'utf8')) as object);
    compiled.set(file, fn);
  }
  return fn;
}

function ajvErrors(fn: ValidateFunction, text: string): string[] {
  if (fn(JSON.parse(text))) return [];
  return (fn.errors ?? []).slice(0, 20).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Errors of a SARIF log against the SARIF 2.1.0 schema; [] when valid. */
export function validateSarif(text: string): string[] {
  return ajvErrors(ajvValidator(SARIF_SCHEMA_FILE), text);
}

/** True when the SPDX 3.0.1 schema is present on this machine. */
export function spdxSchemaAvailable(): boolean {
  return fs.existsSync(SPDX_SCHEMA_FILE);
}

/** Errors of an SPDX 3.0.1 JSON-LD document against the SPDX 3.0.1 JSON schema; [] when valid. */
export function validateSpdx(text: string): string[] {
  return ajvErrors(ajvValidator(SPDX_SCHEMA_FILE), text);
}

/**
 * Validates one encoder's output where its format has a schema (cyclonedx, sarif, spdx, json) and
 * at least parses the rest; throws with the schema errors so that a test fails with the reason.
 */
export async function validateReport(encoderId: string, output: string): Promise<void> {
  let errors: string[] = [];
  if (encoderId === 'cyclonedx') errors = await validateCycloneDx(output);
  else if (encoderId === 'sarif') errors = validateSarif(output);
  else if (encoderId === 'spdx') {
    if (!spdxSchemaAvailable()) {
      // Visible, not silent: the report is still parsed as JSON below.
      console.warn(`validate-report: SPDX schema absent at ${SPDX_SCHEMA_FILE}; SPDX output only parsed`);
      JSON.parse(output);
      return;
    }
    errors = validateSpdx(output);
  } else if (encoderId === 'json') JSON.parse(output);
  if (errors.length > 0) throw new Error(`${encoderId} output is not valid against its schema:\n${errors.join('\n')}`);
}
