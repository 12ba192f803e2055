import type { FileListReport } from '../scan/analyzer.js';

/**
 * Package manifests of the ecosystems firmware carries, read from their text: npm `package.json`,
 * Python `*.dist-info/METADATA` and `*.egg-info/PKG-INFO`, Maven `META-INF/maven/<g>/<a>/pom.properties`
 * inside JARs and APKs, and the Debian `var/lib/dpkg/status` / opkg `status` databases of embedded
 * Linux root file systems. Each yields packages with a purl. The item name decides which parser runs
 * (the analyzer sees names, not paths); the content must then parse, or nothing is reported.
 * The file lists that say which files a package installed (Python `RECORD`, `installed-files.txt`,
 * `SOURCES.txt`; dpkg and opkg `info/<pkg>.list`) are read by `parseFileList`; the link stage joins
 * each to its package by location.
 * Not handled: lock files, `*.egg` archives, rpm databases.
 */

export type Ecosystem = 'npm' | 'pypi' | 'maven' | 'deb';

export interface PackageRecord {
  ecosystem: Ecosystem;
  /** npm and PyPI name, Maven `group:artifact`, Debian/opkg package name. */
  name: string;
  version?: string;
  license?: string;
  purl: string;
  /** What states it (`package.json`, `dpkg status`...), for evidence. */
  source: string;
  /**
   * `dir` when the manifest's folder is the package (npm: what lies below `package.json` ships with it);
   * `none` when the manifest says nothing about where the files are (Python dist-info sits beside the
   * package, a Maven pom.properties inside its JAR, a status database lists packages elsewhere): the
   * package's file list, where there is one, says which files are its own (`parseFileList`).
   */
  scope: 'dir' | 'none';
  /** Several packages share the manifest's location (a status database): each is keyed by its purl. */
  shared: boolean;
  arch?: string;
}

/** Largest manifest read; a dpkg status of a full distribution is a few MiB. */
export const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;
/** Packages accepted from one status database. */
export const MAX_STATUS_PACKAGES = 50_000;

const encPurl = (s: string): string => encodeURIComponent(s).replace(/%2F/g, '/');

/** True when an item of this name is a manifest one of the parsers reads. */
export function isManifestName(name: string): boolean {
  return VERSION_FILE.test(name) || name === 'package.json' || name === 'METADATA' || name === 'PKG-INFO' || name === 'pom.properties' || name === 'status';
}

/** Parses the manifest `name` holding `text`; [] when it is not one (a `status` file of something else). */
export function parseManifest(name: string, text: string): PackageRecord[] {
  const v = VERSION_FILE.exec(name);
  if (v !== null) return versionFile(v[1]!, v[2]!, text);
  switch (name) {
    case 'package.json':
      return npm(text);
    case 'METADATA':
    case 'PKG-INFO':
      return python(text);
    case 'pom.properties':
      return maven(text);
    case 'status':
      return status(text);
    default:
      return [];
  }
}

/** `META-INF/<group>_<artifact>.version` of AndroidX, Play services and ML Kit libraries inside an APK. */
const VERSION_FILE = /^([a-z][\w]*(?:\.[a-z][\w]*)+)_([\w.-]+)\.version$/;

function versionFile(group: string, artifact: string, text: string): PackageRecord[] {
  const version = text.trim();
  if (!/^[\w.+-]{1,64}$/.test(version)) return [];
  return [
    {
      ecosystem: 'maven',
      name: `${group}:${artifact}`,
      version,
      purl: `pkg:maven/${encPurl(group)}/${encPurl(artifact)}@${encPurl(version)}`,
      source: 'META-INF .version file',
      scope: 'none',
      shared: false,
    },
  ];
}

function npm(text: string): PackageRecord[] {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof j !== 'object' || j === null) return [];
  const o = j as Record<string, unknown>;
  const name = o.name;
  if (typeof name !== 'string' || !/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(name) || name.length > 214) return [];
  const version = typeof o.version === 'string' && o.version.length <= 64 ? o.version : undefined;
  const rec: PackageRecord = {
    ecosystem: 'npm',
    name,
    purl: `pkg:npm/${name.startsWith('@') ? `%40${encPurl(name.slice(1))}` : encPurl(name)}${version ? `@${encPurl(version)}` : ''}`,
    source: 'package.json',
    scope: 'dir',
    shared: false,
  };
  if (version) rec.version = version;
  if (typeof o.license === 'string' && o.license.length <= 120) rec.license = o.license;
  return [rec];
}

/** RFC 822-style headers up to the first blank line. */
function headers(text: string): Map<string, string> {
  const h = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    const m = /^([A-Za-z][\w-]*):\s*(.*)$/.exec(line);
    if (m && !h.has(m[1]!.toLowerCase())) h.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return h;
}

function python(text: string): PackageRecord[] {
  const h = headers(text);
  const name = h.get('name');
  if (h.get('metadata-version') === undefined || name === undefined || !/^[A-Za-z0-9][\w.-]*$/.test(name)) return [];
  const version = h.get('version');
  // PEP 503 normalisation for the purl name.
  const norm = name.toLowerCase().replace(/[-_.]+/g, '-');
  const rec: PackageRecord = {
    ecosystem: 'pypi',
    name,
    purl: `pkg:pypi/${encPurl(norm)}${version ? `@${encPurl(version)}` : ''}`,
    source: 'Python METADATA',
    scope: 'none',
    shared: false,
  };
  if (version) rec.version = version;
  const lic = h.get('license-expression') ?? h.get('license');
  if (lic !== undefined && lic !== '' && lic.length <= 120 && lic !== 'UNKNOWN') rec.license = lic;
  return [rec];
}

function maven(text: string): PackageRecord[] {
  const p = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([\w.-]+)\s*[=:]\s*(.*)$/.exec(line);
    if (m) p.set(m[1]!, m[2]!.trim());
  }
  const g = p.get('groupId');
  const a = p.get('artifactId');
  if (g === undefined || a === undefined || g === '' || a === '') return [];
  const version = p.get('version');
  const rec: PackageRecord = {
    ecosystem: 'maven',
    name: `${g}:${a}`,
    purl: `pkg:maven/${encPurl(g)}/${encPurl(a)}${version ? `@${encPurl(version)}` : ''}`,
    source: 'pom.properties',
    scope: 'none',
    shared: false,
  };
  if (version) rec.version = version;
  return [rec];
}

/** dpkg and opkg status: stanzas separated by blank lines; only installed packages count. */
function status(text: string): PackageRecord[] {
  if (!/^Package: /m.test(text.slice(0, 4096))) return [];
  const out: PackageRecord[] = [];
  for (const stanza of text.split(/\r?\n\r?\n/)) {
    if (out.length >= MAX_STATUS_PACKAGES) break;
    const h = headers(stanza.replace(/^\s+/, ''));
    const name = h.get('package');
    if (name === undefined || !/^[a-z0-9][a-z0-9+.-]*$/i.test(name)) continue;
    const st = h.get('status');
    if (st !== undefined && !/\binstalled$/.test(st)) continue;
    const version = h.get('version');
    const arch = h.get('architecture');
    // opkg writes Installed-Time and no Maintainer; dpkg always writes Maintainer.
    const opkg = h.has('installed-time') && !h.has('maintainer');
    const q = arch ? `?arch=${encPurl(arch)}` : '';
    const v = version ? `@${encPurl(version)}` : '';
    const rec: PackageRecord = {
      ecosystem: 'deb',
      name,
      purl: opkg ? `pkg:generic/${encPurl(name)}${v}${q}` : `pkg:deb/${encPurl(name)}${v}${q}`,
      source: opkg ? 'opkg status' : 'dpkg status',
      scope: 'none',
      shared: true,
    };
    if (version) rec.version = version;
    if (arch) rec.arch = arch;
    out.push(rec);
  }
  return out;
}

/**
 * How a file list names its files, which decides what its entries are relative to:
 * `record` (`*.dist-info/RECORD`, CSV) and `sources` (`*.egg-info/SOURCES.txt`) name paths relative to
 * site-packages, the folder above the list's own; `installed` (`*.egg-info/installed-files.txt`) names
 * them relative to the egg-info folder itself; `pkg` (dpkg/opkg `info/<pkg>.list`) names absolute
 * paths in the root file system that holds the package database.
 */
export type FileListKind = FileListReport['kind'];

/** Entries kept from one file list; a large Python distribution (torch) lists about 20,000 files. */
export const MAX_LIST_ENTRIES = 100_000;
/** Bytes of one file list read; the rest is not. */
export const MAX_LIST_BYTES = 8 * 1024 * 1024;
/** Longest entry kept (PATH_MAX). */
const MAX_ENTRY_CHARS = 4096;

export interface FileList {
  kind: FileListKind;
  /** Entries as written, minus blank and over-long ones and, for `record`, the CSV columns after the path. */
  paths: string[];
  /** True when the list went on past MAX_LIST_ENTRIES or MAX_LIST_BYTES. */
  truncated: boolean;
}

/** The file-list kind an item of this name is, if any. */
export function fileListKind(name: string): FileListKind | undefined {
  if (name === 'RECORD') return 'record';
  if (name === 'SOURCES.txt') return 'sources';
  if (name === 'installed-files.txt') return 'installed';
  // `<pkg>.list` and `<pkg>:<arch>.list` (dpkg Multi-Arch: same).
  if (/^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?\.list$/i.test(name)) return 'pkg';
  return undefined;
}

/** One RECORD row's first CSV field (quoted when the path holds a comma or a quote). */
function csvFirst(line: string): string | undefined {
  if (!line.startsWith('"')) {
    const comma = line.indexOf(',');
    return comma < 0 ? line : line.slice(0, comma);
  }
  let out = '';
  for (let i = 1; i < line.length; i++) {
    const c = line[i]!;
    if (c !== '"') out += c;
    else if (line[i + 1] === '"') {
      out += '"';
      i++;
    } else return out;
  }
  return undefined; // unterminated quote
}

/**
 * Parses the file list `name` holding `text` (already cut to MAX_LIST_BYTES by the caller, who says
 * whether it was cut). Returns undefined when the text is not such a list: a `RECORD` must name a
 * `.dist-info/` member, a `.list` must hold absolute paths only (an apt `sources.list` does not).
 * Entries are data: they are never opened, only compared with the locations of what the scan found.
 */
export function parseFileList(name: string, text: string, cut: boolean): FileList | undefined {
  const kind = fileListKind(name);
  if (kind === undefined) return undefined;
  const paths: string[] = [];
  let truncated = cut;
  let sawDistInfo = false;
  // A cut text ends inside its last line: that line is not a whole path.
  const whole = cut ? text.slice(0, Math.max(0, text.lastIndexOf('\n'))) : text;
  for (const raw of whole.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') continue;
    if (paths.length >= MAX_LIST_ENTRIES) {
      truncated = true;
      break;
    }
    let entry: string | undefined = line;
    if (kind === 'record') {
      entry = csvFirst(line);
      if (entry === undefined) return undefined;
      if (entry.includes('.dist-info/')) sawDistInfo = true;
    } else if (kind === 'pkg') {
      if (!line.startsWith('/')) return undefined;
    }
    if (entry === '' || entry.length > MAX_ENTRY_CHARS || entry.includes('\0')) continue;
    paths.push(entry);
  }
  if (kind === 'record' && !sawDistInfo) return undefined;
  if (paths.length === 0) return undefined;
  return { kind, paths, truncated };
}
