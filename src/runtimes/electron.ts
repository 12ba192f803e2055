import { u32le } from '../io/binary.js';
import type { ByteSource } from '../io/byte-source.js';
import { sha256Bytes } from '../io/hash.js';
import type { Analyzer, AnalyzerOutput } from '../scan/analyzer.js';

/**
 * Electron apps: an `app` component that owns what the app ships.
 *
 * - An `app.asar` (any asar: the format is Electron's) whose root holds a `package.json` is an app at
 *   the archive's own location, as an APK is: the link stage makes it the owner of the archive's
 *   members and of the `app.asar.unpacked/` folder beside it. The location proves the framework:
 *   electron-builder strips `devDependencies` and `build` from the `package.json` it packs.
 * - A `package.json` that names a `main` script, Electron as its shell and something only an app has
 *   (`isElectronManifest`) is an app in its folder: the unpacked `resources/app/` layout and Electron
 *   Forge's packing, which keep the manifest whole.
 *
 * Both report the same `package.json` bytes under one key, so an asar whose manifest also carries the
 * markers is one app with two locations. Not handled: the Electron version of the shell binary
 * (`electron`, `*.exe`) beside `resources/`, and apps whose code sits in `default_app.asar`.
 */

/** Largest asar header parsed here (the container reader's own bound). */
const MAX_ASAR_HEADER = 64 * 1024 * 1024;
/** Largest `package.json` read; real ones are a few KiB. */
const MAX_PACKAGE_JSON = 1024 * 1024;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, max = 214): string | undefined => (typeof v === 'string' && v !== '' && v.length <= max ? v : undefined);

/** The root `package.json` of an asar: its bytes, or undefined when there is none or it cannot be read. */
export function asarRootManifest(src: ByteSource): Uint8Array | undefined {
  if (src.size < 16) return undefined;
  const h = src.read(0, 16);
  // Chromium Pickle framing, as in containers/asar.ts: u32 4, header pickle size S, payload S - 4, JSON length L.
  if (u32le(h, 0, 'asar header') !== 4) return undefined;
  const headerSize = u32le(h, 4, 'asar header');
  const jsonLength = u32le(h, 12, 'asar header');
  if (u32le(h, 8, 'asar header') !== headerSize - 4 || jsonLength + 8 > headerSize || headerSize > MAX_ASAR_HEADER || 8 + headerSize > src.size)
    return undefined;
  let root: unknown;
  try {
    root = JSON.parse(Buffer.from(src.read(16, jsonLength)).toString('utf8'));
  } catch {
    return undefined; // the container reader reports a broken header
  }
  const node = isObject(root) && isObject(root.files) ? root.files['package.json'] : undefined;
  if (!isObject(node) || node.unpacked === true) return undefined;
  const size = node.size;
  const offset = typeof node.offset === 'string' && /^\d{1,16}$/.test(node.offset) ? Number(node.offset) : Number.NaN;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0 || size > MAX_PACKAGE_JSON || !Number.isSafeInteger(offset)) return undefined;
  const start = 8 + headerSize + offset;
  if (start + size > src.size) return undefined;
  return src.read(start, size);
}

function parse(bytes: Uint8Array): Json | undefined {
  try {
    const j: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return isObject(j) ? j : undefined;
  } catch {
    return undefined;
  }
}

/** The `electron` dependency's stated range, when the manifest names one. */
function electronDependency(j: Json): string | undefined {
  for (const k of ['devDependencies', 'dependencies', 'optionalDependencies']) {
    const d = j[k];
    if (isObject(d)) {
      const v = str(d.electron, 64);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

/** A script that runs the app with Electron or packs it (`electron .`, `electron-forge make`, `electron-builder`). */
const ELECTRON_SCRIPT = /(^|[\s&;|])electron(-forge|-builder)?(\s|$)/;

/**
 * True when a manifest met outside an asar describes an Electron app: a `main` script, Electron as
 * its shell (a dependency, or electron-builder's `build.electronVersion`), and something only an app
 * has: a `build` or `config.forge` section, a `productName`, or a script that starts or packs it with
 * Electron. Libraries made for Electron apps (`electron-store`, `electron-log`) name Electron among
 * their devDependencies to test with, and have none of these.
 */
export function isElectronManifest(j: Json): boolean {
  if (str(j.main, 1024) === undefined) return false;
  const build = isObject(j.build) ? j.build : undefined;
  if (electronDependency(j) === undefined && str(build?.electronVersion, 64) === undefined) return false;
  const forge = isObject(j.config) && isObject(j.config.forge);
  const scripts = isObject(j.scripts) ? Object.values(j.scripts).slice(0, 200) : [];
  return (
    build !== undefined || forge || str(j.productName) !== undefined || scripts.some((v) => typeof v === 'string' && ELECTRON_SCRIPT.test(v.slice(0, 1000)))
  );
}

/** Reports the Electron app a `package.json` describes; `where` says how the location proves it. */
function report(bytes: Uint8Array, j: Json, where: string, out: AnalyzerOutput): void {
  const pkgName = str(j.name);
  const productName = str(j.productName);
  const name = productName ?? pkgName;
  if (name === undefined) return;
  const version = str(j.version, 64);
  const properties: Record<string, string> = { framework: 'electron' };
  if (pkgName !== undefined) properties.package = pkgName;
  if (productName !== undefined) properties.productName = productName;
  const main = str(j.main, 1024);
  if (main !== undefined) properties.main = main;
  const electron = electronDependency(j) ?? (isObject(j.build) ? str(j.build.electronVersion, 64) : undefined);
  if (electron !== undefined) properties.electron = electron;
  out.software({
    kind: 'app',
    name,
    ...(version !== undefined ? { version } : {}),
    // One key for the manifest's bytes: the asar and its own package.json make one app.
    key: ['electron', sha256Bytes(bytes)],
    evidence: { technique: 'manifest-analysis', detail: `${where}: ${pkgName ?? name}${version !== undefined ? ` ${version}` : ''}`, confidence: 'high' },
    software: { properties },
  });
}

/** The analyzer of Electron apps over asar archives and `package.json` files. */
export function electronAppAnalyzer(): Analyzer {
  return {
    id: 'electron-app',
    description: 'Electron apps: the package.json at the root of an app.asar, or one naming electron and a main script (resources/app/)',
    item(item, out) {
      if (item.identified?.kind === 'container' && item.identified.id === 'asar') {
        const bytes = asarRootManifest(item.source);
        const j = bytes === undefined ? undefined : parse(bytes);
        if (bytes !== undefined && j !== undefined) report(bytes, j, 'package.json at the root of an asar', out);
        return;
      }
      if (item.identified !== undefined || item.name !== 'package.json' || item.size > MAX_PACKAGE_JSON) return;
      const bytes = item.source.read(0, item.size);
      const j = parse(bytes);
      if (j !== undefined && isElectronManifest(j)) report(bytes, j, 'package.json naming electron and a main script', out);
    },
  };
}
