import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `../shared/corpus` beside the checkout: real models made by other projects (never copied in). */
export const CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');

/** Lists corpus files of one kind; empty (and a visible message) when the folder is absent. */
export function corpusFiles(sub: 'onnx' | 'tflite', ext: string): string[] {
  const dir = path.join(CORPUS_DIR, sub);
  if (!fs.existsSync(dir)) {
    console.warn(`SKIP: ${dir} is absent; tests over the real ${sub} corpus are skipped.`);
    return [];
  }
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => path.join(dir, f));
}

/** True when a command is on PATH; tests that need a Debian tool skip visibly without it. */
export function hasTool(cmd: string): boolean {
  const paths = (process.env.PATH ?? '').split(path.delimiter);
  const ok = paths.some((p) => fs.existsSync(path.join(p, cmd)));
  if (!ok) console.warn(`SKIP: '${cmd}' is not installed; tests that need it are skipped.`);
  return ok;
}
