import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real runtime binaries already installed on the machine, read in place at test time (never copied into
 * the repository). Provenance is recorded in fixtures/rules/README.md. Each finder returns undefined
 * when the package is absent, and tests then skip visibly.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function ortDir(): { dir: string; version: string } | undefined {
  const pkg = path.join(root, 'node_modules/onnxruntime-node');
  try {
    const version = (JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
    const bin = path.join(pkg, 'bin');
    for (const napi of fs.readdirSync(bin).sort()) {
      const dir = path.join(bin, napi, 'linux/x64');
      if (fs.existsSync(path.join(dir, 'libonnxruntime.so.1'))) return { dir, version };
    }
  } catch {
    /* not installed (it is an optional dependency) */
  }
  return undefined;
}

/** `onnxruntime-node`'s `bin/napi-v*\/linux/x64/libonnxruntime.so.1` and the package version. */
export function ortLibrary(): { path: string; version: string } | undefined {
  const d = ortDir();
  return d && { path: path.join(d.dir, 'libonnxruntime.so.1'), version: d.version };
}

/** `onnxruntime-node`'s N-API binding `onnxruntime_binding.node`. */
export function ortBinding(): { path: string; version: string } | undefined {
  const d = ortDir();
  return d && { path: path.join(d.dir, 'onnxruntime_binding.node'), version: d.version };
}
