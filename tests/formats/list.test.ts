import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formats } from '../../src/formats/index.js';
import { formatsText, listFormats } from '../../src/formats/list.js';
import { template } from '../../src/formats/_template.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('aibom formats', () => {
  it('lists every registered format in registry order, with its top-level metadata fields', () => {
    const listing = listFormats();
    expect(listing.map((f) => f.id)).toEqual(formats.map((f) => f.id));
    for (const f of listing) {
      expect(f.fields.length, f.id).toBeGreaterThan(0);
      for (const x of f.fields) expect(x.description, `${f.id}.${x.name}`).not.toBe('');
    }
    const tflite = listing.find((f) => f.id === 'tflite')!;
    expect(tflite.signatures).toEqual(["'TFL3' at offset 4"]);
    expect(tflite.extensions).toContain('.tflite');
    expect(listing.find((f) => f.id === 'fasttext')!.signatures).toEqual(['ba 16 4f 2f at offset 0']);
    // A union schema (safetensors: a file or an index) lists each field once, as optional.
    const st = listing.find((f) => f.id === 'safetensors')!;
    expect(new Set(st.fields.map((x) => x.name)).size).toBe(st.fields.length);
  });

  it('renders text with types and optional marks', () => {
    const [t] = listFormats([template]);
    expect(t!.fields).toEqual([
      { name: 'version', type: '1', optional: false, description: 'Format version (offset 4); only 1 exists' },
      { name: 'name', type: 'string', optional: true, description: 'The model name the header records; absent when empty' },
      { name: 'tensors', type: 'object[]', optional: false, description: 'Weight tensors in file order' },
      { name: 'parameters', type: 'integer', optional: false, description: 'Weight elements over all tensors, held at 2^53 - 1' },
    ]);
    expect(formatsText([t!])).toBe(
      [
        '_template: Template model format (magic TMPL): an example for new formats, not registered',
        '  extensions: .tmpl',
        "  signatures: 'TMPL' at offset 0",
        '  metadata:',
        '    version: 1 - Format version (offset 4); only 1 exists',
        '    name?: string - The model name the header records; absent when empty',
        '    tensors: object[] - Weight tensors in file order',
        '    parameters: integer - Weight elements over all tensors, held at 2^53 - 1',
        '',
      ].join('\n'),
    );
  });

  const bin = path.join(root, 'bin', 'aibom.js');
  const built = fs.existsSync(path.join(root, 'dist', 'formats', 'list.js'));
  if (!built) console.warn('SKIP: dist/ has no formats/list.js (run `npm run build`); the CLI command is not run.');
  it.runIf(built)('is a CLI command with text and JSON output', () => {
    const text = spawnSync(process.execPath, [bin, 'formats'], { encoding: 'utf8' });
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('savedmodel: TensorFlow SavedModel');
    const json = spawnSync(process.execPath, [bin, 'formats', '-f', 'json'], { encoding: 'utf8' });
    expect(json.status).toBe(0);
    expect((JSON.parse(json.stdout) as { id: string }[]).map((f) => f.id)).toEqual(formats.map((f) => f.id));
  });
});
