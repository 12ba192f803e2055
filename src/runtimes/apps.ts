import zlib from 'node:zlib';
import { readManifest, type AndroidManifest } from '../decoders/axml.js';
import { memberDataRange, readZipDirectory, type ZipMember } from '../decoders/zip-directory.js';
import { describeError, FormatError, LimitError, UnsupportedError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Analyzer, AnalyzerOutput } from '../scan/analyzer.js';

/**
 * Android apps: a zip item (APK, or an APK inside an APEX or an OTA) whose central directory holds a
 * binary `AndroidManifest.xml` at its root becomes an `app` component at the zip's own location, so
 * the link stage makes it the container of its models, libraries and dex files. Only the directory and
 * that one member are read (the walk has already opened every member for the other analyzers).
 * The ML Kit `meta-data` naming models that Google Play services downloads at run time is reported as
 * a remote model dependency: an `sdk` component at the manifest's location.
 * Not handled: split APKs as one app (each split is its own zip), AABs (`base/manifest/` is protobuf).
 */

/** Largest manifest inflated; real ones are tens of KiB. */
const MAX_MANIFEST = 4 * 1024 * 1024;
/** Central directory entries read to find the manifest (APKs hold many resources). */
const MAX_APK_ENTRIES = 200_000;

/** Permissions that say what an AI feature may do with the terminal's sensors and network. */
const NOTABLE_PERMISSIONS = ['CAMERA', 'RECORD_AUDIO', 'INTERNET', 'ACCESS_FINE_LOCATION', 'READ_CONTACTS', 'BODY_SENSORS'];

/** ML Kit's meta-data for unbundled models, one per API family. */
const MLKIT_DEPENDENCIES = /^com\.google\.mlkit\.(vision|nl|naturallanguage)\.DEPENDENCIES$/;

function memberBytes(src: ByteSource, dir: NonNullable<ReturnType<typeof readZipDirectory>>, m: ZipMember): Uint8Array {
  if (m.encrypted) throw new UnsupportedError('AndroidManifest.xml is encrypted and was not read.', 'encrypted');
  if (m.size > MAX_MANIFEST)
    throw new LimitError(`AndroidManifest.xml declares ${m.size} bytes, over the ${MAX_MANIFEST}-byte limit for a manifest.`, 'maxManifestBytes');
  const range = memberDataRange(src, dir, m);
  if (range.length > MAX_MANIFEST)
    throw new LimitError(`AndroidManifest.xml holds ${range.length} compressed bytes, over the ${MAX_MANIFEST}-byte limit for a manifest.`, 'maxManifestBytes');
  const raw = src.read(range.offset, range.length);
  if (m.method === 0) return raw;
  if (m.method !== 8) throw new UnsupportedError(`AndroidManifest.xml uses compression method ${m.method}, which is not read.`);
  try {
    // maxOutputLength bounds memory whatever the recorded size says.
    return zlib.inflateRawSync(raw, { maxOutputLength: MAX_MANIFEST });
  } catch (err) {
    throw new FormatError(`AndroidManifest.xml does not inflate: ${err instanceof Error ? err.message : String(err)}.`);
  }
}

const short = (p: string): string => p.replace(/^android\.permission\./, '');

/** What the app component records of its manifest. */
export function appProperties(m: AndroidManifest): Record<string, string> {
  const p: Record<string, string> = {};
  if (m.package !== undefined) p.package = m.package;
  if (m.versionCode !== undefined) p.versionCode = m.versionCode;
  if (m.minSdk !== undefined) p.minSdk = m.minSdk;
  if (m.targetSdk !== undefined) p.targetSdk = m.targetSdk;
  if (m.permissions.length > 0) p.permissions = m.permissions.map(short).sort().join(',').slice(0, 2000);
  const notable = NOTABLE_PERMISSIONS.filter((n) => m.permissions.includes(`android.permission.${n}`));
  if (notable.length > 0) p.sensitivePermissions = notable.join(',');
  const remote = m.metaData.filter((d) => MLKIT_DEPENDENCIES.test(d.name)).map((d) => d.value);
  if (remote.length > 0) p.remoteModels = `mlkit:${remote.join(',')}`;
  return p;
}

/** Reports the app of one APK; returns false when the zip is not an app. */
export function analyzeApk(src: ByteSource, name: string, out: AnalyzerOutput): boolean {
  let dir: ReturnType<typeof readZipDirectory>;
  try {
    dir = readZipDirectory(src, { maxEntries: MAX_APK_ENTRIES });
  } catch {
    // A directory this reader cannot take (zip64, broken): the zip container reports it; not an app we can name.
    return false;
  }
  if (dir === undefined) return false;
  const member = dir.members.find((m) => m.name === 'AndroidManifest.xml');
  if (member === undefined) return false;
  const bytes = memberBytes(src, dir, member);
  let m: AndroidManifest;
  try {
    m = readManifest(bytes);
  } catch (err) {
    // A zip with a text AndroidManifest.xml (a source tree zipped) is not an installable app.
    if (err instanceof FormatError && bytes[0] === 0x3c) return false; // '<'
    throw err;
  }
  const properties = appProperties(m);
  const detail = `AndroidManifest.xml: package ${m.package ?? '(none)'}${m.versionName ? ` version ${m.versionName}` : ''}${m.versionCode ? ` (${m.versionCode})` : ''}`;
  out.software({
    kind: 'app',
    name: m.package ?? name,
    ...(m.versionName !== undefined ? { version: m.versionName } : {}),
    evidence: { technique: 'manifest-analysis', detail, confidence: m.package !== undefined ? 'high' : 'medium' },
    software: { properties },
  });
  for (const d of m.metaData) {
    if (!MLKIT_DEPENDENCIES.test(d.name)) continue;
    out.software(
      {
        kind: 'sdk',
        name: 'Google ML Kit (models downloaded at run time)',
        key: ['google-mlkit-remote', m.package ?? name, d.value],
        evidence: { technique: 'manifest-analysis', detail: `meta-data ${d.name} = ${d.value}`, confidence: 'high' },
        software: {
          rule: 'google-mlkit',
          vendor: 'Google',
          properties: { ruleKind: 'sdk', delivery: 'downloaded at run time by Google Play services', remoteModels: d.value },
        },
      },
      'AndroidManifest.xml',
    );
  }
  return true;
}

/** The analyzer of Android apps over zip items. */
export function androidAppAnalyzer(): Analyzer {
  return {
    id: 'android-app',
    description: 'Android apps: the binary AndroidManifest.xml of every APK (package, version, SDKs, permissions, ML Kit model downloads)',
    item(item, out) {
      if (item.identified?.kind !== 'container' || item.identified.id !== 'zip') return;
      try {
        analyzeApk(item.source, item.name, out);
      } catch (err) {
        const { code, message } = describeError(err);
        out.problem(code === 'internal' ? 'error' : 'warning', code, `AndroidManifest.xml: ${message}`);
      }
    },
  };
}
