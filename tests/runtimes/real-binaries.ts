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

/** Debian `libtesseract5`'s `/usr/lib/<triplet>/libtesseract.so.5.*` and the package version (installed by .ci/run). */
export function tesseractLibrary(): { path: string; version: string } | undefined {
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib']) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    const lib = names.filter((n) => /^libtesseract\.so\.5\.\d/.test(n)).sort()[0];
    if (lib === undefined) continue;
    try {
      const status = fs.readFileSync('/var/lib/dpkg/status', 'utf8');
      const m = /Package: libtesseract5\n(?:[^\n]+\n)*?Version: (\d+\.\d+\.\d+)/.exec(status);
      if (m) return { path: path.join(dir, lib), version: m[1]! };
    } catch {
      /* not a Debian system: no version to compare with */
    }
  }
  return undefined;
}
