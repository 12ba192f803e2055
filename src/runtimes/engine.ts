import { describeError } from '../errors.js';
import { isDex, readDexClassNames } from '../decoders/dex.js';
import { isElf, readElf, type ElfInfo } from '../decoders/elf.js';
import { readPe, type PeInfo } from '../decoders/pe.js';
import { readWasm, type WasmInfo } from '../decoders/wasm.js';
import type { Evidence } from '../inventory/schema.js';
import type { ByteSource } from '../io/byte-source.js';
import type { AnalyzedItem, Analyzer, AnalyzerOutput, SoftwareReport } from '../scan/analyzer.js';
import {
  fileListKind,
  type FileList,
  isManifestName,
  MAX_LIST_BYTES,
  MAX_LIST_ENTRIES,
  MAX_MANIFEST_BYTES,
  parseFileList,
  parseManifest,
  type PackageRecord,
} from './packages.js';
import { redactSecrets } from './redact.js';
import { RULE_KINDS, type Matcher, type Rule } from './rule-schema.js';
import { builtinRules } from './rules.js';

/**
 * The rule engine: every rule of `rules/` against one item, in one pass. The item's structure is read
 * once (an ELF's dynamic tables, a dex file's class names, a manifest's packages), its bounded text
 * regions are read and decoded once (an ELF's `.rodata` and `.comment`, otherwise the first and last
 * MiB), and the literals of every content and endpoint matcher are searched in them together; a
 * matcher's regex runs only in a window around its literal. What hits becomes one software component
 * per rule (per rule and host for a service), with the evidence of each matcher that hit.
 *
 * Deliberately not done: models and containers are not searched for strings (their members are items
 * of their own), documentation files (README, *.md) never yield endpoints or content hits, and a
 * version is taken only from bytes that state it (or from a name when the rule says the name carries it).
 */

/** Largest region read for content matchers: an ELF section, a dex file, or each end of another file. */
export const REGION_BYTES = 16 * 1024 * 1024;
/** Bytes read at each end of a file that is not ELF or dex. */
export const END_BYTES = 1024 * 1024;
/** Hits of one literal examined per region: enough to find a version, bounded for hostile repetition. */
const MAX_LITERAL_HITS = 64;
/** Characters either side of a literal hit that a matcher's regex sees. */
const WINDOW = 256;

type FileType = 'elf' | 'wasm' | 'pe' | 'dex' | 'text';

/** One matcher that hit, with what it saw. */
export interface Hit {
  rule: Rule;
  matcher: Matcher;
  /** Matched text (redacted), for evidence. */
  text: string;
  confidence: Evidence['confidence'];
  technique: Evidence['technique'];
  version?: string;
  /** For endpoint matchers: the host found. */
  host?: string;
}

const DOC_NAME = /^(readme|changelog|changes|history|license|licence|notice|authors|contributing|copying)(\.|$)|\.(md|markdown|rst|adoc)$/i;

function fileTypeOf(head: Uint8Array): FileType {
  if (isElf(head)) return 'elf';
  if (isDex(head)) return 'dex';
  if (head.length >= 4 && head[0] === 0 && head[1] === 0x61 && head[2] === 0x73 && head[3] === 0x6d) return 'wasm'; // '\0asm'
  if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a) return 'pe'; // 'MZ'
  return 'text';
}

/** A glob (`*`, `?`, `[...]`, `{a,b}`) as an anchored regex over a file name. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '{') {
      depth++;
      re += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      re += ')';
    } else if (c === ',' && depth > 0) re += '|';
    else re += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The first and last MiB of a file (the whole file when it is at most 2 MiB). */
function ends(size: number): { what: string; offset: number; length: number }[] {
  if (size <= 2 * END_BYTES) return [{ what: 'content', offset: 0, length: size }];
  return [
    { what: 'first MiB', offset: 0, length: END_BYTES },
    { what: 'last MiB', offset: size - END_BYTES, length: END_BYTES },
  ];
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const confRank = { low: 0, medium: 1, high: 2 } as const;
const cut = (s: string, n = 200): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

interface Compiled {
  rule: Rule;
  matcher: Matcher;
  re?: RegExp;
  extra?: RegExp;
}

/** Rules compiled once per scan: matchers grouped by what they read, literals joined into one search. */
export class RuleEngine {
  private readonly byType = new Map<Matcher['type'], Compiled[]>();
  /** Every content/endpoint literal -> the matchers that use it. */
  private readonly literals = new Map<string, Compiled[]>();
  /** One regex over every literal, so a region is searched once whatever the number of rules. */
  private readonly literalSearch: RegExp | undefined;
  /** Literals grouped by their first four characters, for hits where two literals start at one position. */
  private readonly literalGroups = new Map<string, string[]>();

  constructor(readonly rules: readonly Rule[]) {
    for (const rule of rules) {
      for (const matcher of rule.matchers) {
        const c: Compiled = { rule, matcher };
        switch (matcher.type) {
          case 'filename':
            c.re = globToRegExp(matcher.glob);
            if (matcher.versionFromName !== undefined) c.extra = new RegExp(matcher.versionFromName);
            break;
          case 'soname':
          case 'needed':
          case 'symbol':
          case 'symbol-version':
          case 'pe-version':
            c.re = new RegExp(matcher.pattern);
            break;
          case 'content':
            c.re = new RegExp(matcher.pattern);
            this.addLiteral(matcher.literal, c);
            break;
          case 'endpoint':
            if (matcher.pattern !== undefined) c.re = new RegExp(matcher.pattern);
            this.addLiteral(matcher.host ?? matcher.literal ?? '', c);
            break;
          default:
            break;
        }
        const list = this.byType.get(matcher.type) ?? [];
        list.push(c);
        this.byType.set(matcher.type, list);
      }
    }
    const lits = [...this.literals.keys()].sort((a, b) => b.length - a.length);
    this.literalSearch = lits.length > 0 ? new RegExp(lits.map(escapeRe).join('|'), 'g') : undefined;
    for (const l of lits) {
      const k = l.slice(0, 4);
      const g = this.literalGroups.get(k) ?? [];
      g.push(l);
      this.literalGroups.set(k, g);
    }
  }

  private addLiteral(lit: string, c: Compiled): void {
    const list = this.literals.get(lit) ?? [];
    list.push(c);
    this.literals.set(lit, list);
  }

  private of(type: Matcher['type']): Compiled[] {
    return this.byType.get(type) ?? [];
  }

  /**
   * Every matcher hit on one item. `problems` receives what could not be read (a corrupt ELF header)
   * as a message; the hits found before still count.
   */
  analyze(
    item: { name: string; size: number; source: ByteSource; head: Uint8Array },
    problem: (e: unknown, what: string) => void,
  ): { hits: Hit[]; arch?: string; packages: PackageRecord[]; modelRefs: string[]; fileList?: FileList } {
    const hits: Hit[] = [];
    const packages: PackageRecord[] = [];
    if (item.size === 0) return { hits, packages, modelRefs: [] };
    const type = fileTypeOf(item.head);
    const doc = DOC_NAME.test(item.name);

    for (const c of this.of('filename')) {
      const m = c.matcher as Extract<Matcher, { type: 'filename' }>;
      if (m.fileType !== 'any' && m.fileType !== type) continue;
      if (!c.re!.test(item.name)) continue;
      const hit: Hit = { rule: c.rule, matcher: m, text: `file name ${item.name}`, confidence: m.confidence, technique: 'filename' };
      const v = c.extra?.exec(item.name)?.groups?.version;
      if (v !== undefined) hit.version = v;
      hits.push(hit);
    }
    for (const c of this.of('magic')) {
      const m = c.matcher as Extract<Matcher, { type: 'magic' }>;
      const want = Buffer.from(m.hex, 'hex');
      if (m.offset + want.length > item.head.length) continue;
      if (Buffer.from(item.head.buffer, item.head.byteOffset + m.offset, want.length).equals(want)) {
        hits.push({ rule: c.rule, matcher: m, text: `magic ${m.hex} at offset ${m.offset}`, confidence: m.confidence, technique: 'magic' });
      }
    }

    let elf: ElfInfo | undefined;
    let arch: string | undefined;
    const regions: { what: string; offset: number; length: number }[] = [];
    let fileList: FileList | undefined;
    if (type === 'elf') {
      try {
        elf = readElf(item.source);
      } catch (err) {
        problem(err, 'ELF');
      }
      if (elf !== undefined) {
        this.elfHits(elf, hits);
        arch = elf.abi;
        for (const name of ['.rodata', '.comment']) {
          const s = elf.sections.get(name);
          if (s !== undefined && s.size > 0) regions.push({ what: name, offset: s.offset, length: Math.min(s.size, REGION_BYTES) });
        }
      }
      // Section headers stripped or unreadable: the ends of the file, as for any other binary.
      if (regions.length === 0) regions.push(...ends(item.size));
    } else if (type === 'pe') {
      let pe: PeInfo | undefined;
      try {
        pe = readPe(item.source);
      } catch (err) {
        problem(err, 'PE');
      }
      if (pe !== undefined) {
        this.peHits(pe, hits);
        arch = pe.arch;
      }
      regions.push(...ends(item.size));
    } else if (type === 'wasm') {
      let wasm: WasmInfo | undefined;
      try {
        wasm = readWasm(item.source);
      } catch (err) {
        problem(err, 'wasm');
      }
      if (wasm !== undefined) {
        this.wasmHits(wasm, hits);
        // Data segments lie together in the data section: one region from the first to the last, bounded.
        const first = wasm.data[0];
        const last = wasm.data[wasm.data.length - 1];
        if (first !== undefined && last !== undefined)
          regions.push({ what: 'wasm data', offset: first.offset, length: Math.min(last.offset + last.size - first.offset, REGION_BYTES) });
      }
    } else if (type === 'dex') {
      try {
        const classes = readDexClassNames(item.source);
        this.dexHits(classes, hits);
      } catch (err) {
        problem(err, 'dex');
      }
      regions.push({ what: 'dex', offset: 0, length: Math.min(item.size, REGION_BYTES) });
    } else {
      if (type === 'text' && isManifestName(item.name) && item.size <= MAX_MANIFEST_BYTES) {
        const text = new TextDecoder('utf-8', { fatal: false }).decode(item.source.read(0, item.size));
        for (const p of parseManifest(item.name, text)) {
          packages.push(p);
          this.packageHits(p, hits);
        }
      }
      if (type === 'text' && fileListKind(item.name) !== undefined) {
        const n = Math.min(item.size, MAX_LIST_BYTES);
        fileList = parseFileList(item.name, new TextDecoder('utf-8', { fatal: false }).decode(item.source.read(0, n)), n < item.size);
      }
      regions.push(...ends(item.size));
    }
    const texts: string[] = [];
    if (!doc) for (const r of regions) texts.push(this.regionHits(item.source, r, type, hits, item.head));
    // Model files the code of a runtime or SDK names: direct evidence of what it loads. Searched only
    // when something that loads models hit, in the regions already decoded.
    const modelRefs = hits.some((h) => h.rule.loads.length > 0) ? findModelRefs(texts) : [];
    const result: { hits: Hit[]; arch?: string; packages: PackageRecord[]; modelRefs: string[]; fileList?: FileList } = { hits, packages, modelRefs };
    if (arch !== undefined) result.arch = arch;
    if (fileList !== undefined) result.fileList = fileList;
    return result;
  }

  /** Exports are a module's defined symbols, imports its undefined ones (Emscripten prefixes C names with `_`). */
  private wasmHits(wasm: WasmInfo, hits: Hit[]): void {
    for (const c of this.of('symbol')) {
      const m = c.matcher as Extract<Matcher, { type: 'symbol' }>;
      const exp = m.defined === false ? undefined : wasm.exports.find((x) => c.re!.test(x) || c.re!.test(x.replace(/^_/, '')));
      const imp = exp !== undefined || m.defined === true ? undefined : wasm.imports.find((x) => c.re!.test(x.name) || c.re!.test(x.name.replace(/^_/, '')));
      if (exp !== undefined) hits.push({ rule: c.rule, matcher: m, text: `wasm exports ${exp}`, confidence: m.confidence, technique: 'binary-analysis' });
      else if (imp !== undefined)
        hits.push({ rule: c.rule, matcher: m, text: `wasm imports ${imp.module}.${imp.name}`, confidence: m.confidence, technique: 'binary-analysis' });
    }
  }

  private peHits(pe: PeInfo, hits: Hit[]): void {
    for (const c of this.of('needed')) {
      const direct = pe.imports.find((x) => c.re!.test(x));
      // A delay-loaded DLL is as much a dependency: loaded on the first call into it.
      const delayed = direct === undefined ? pe.delayImports.find((x) => c.re!.test(x)) : undefined;
      const n = direct ?? delayed;
      if (n !== undefined)
        hits.push({
          rule: c.rule,
          matcher: c.matcher,
          text: `${direct !== undefined ? 'imports' : 'delay-imports'} ${n}`,
          confidence: (c.matcher as { confidence: Evidence['confidence'] }).confidence,
          technique: 'binary-analysis',
        });
    }
    for (const c of this.of('pe-version')) {
      const m = c.matcher as Extract<Matcher, { type: 'pe-version' }>;
      const v = pe.version[m.field];
      if (v === undefined || !c.re!.test(v)) continue;
      const stated = pe.version[m.versionField];
      const version = stated === undefined ? undefined : /^\d+\.\d+(?:\.\d+)?/.exec(stated)?.[0];
      const h: Hit = {
        rule: c.rule,
        matcher: m,
        text: `version resource ${m.field} "${v}"${stated !== undefined ? `, ${m.versionField} ${stated}` : ''}`,
        confidence: m.confidence,
        technique: 'binary-analysis',
      };
      if (version !== undefined) h.version = version;
      hits.push(h);
    }
  }

  private elfHits(elf: ElfInfo, hits: Hit[]): void {
    const bin = (c: Compiled, text: string, version?: string): void => {
      const h: Hit = {
        rule: c.rule,
        matcher: c.matcher,
        text,
        confidence: (c.matcher as { confidence: Evidence['confidence'] }).confidence,
        technique: 'binary-analysis',
      };
      if (version !== undefined) h.version = version;
      hits.push(h);
    };
    for (const c of this.of('soname')) if (elf.soname !== undefined && c.re!.test(elf.soname)) bin(c, `SONAME ${elf.soname}`);
    for (const c of this.of('needed')) {
      const n = elf.needed.find((x) => c.re!.test(x));
      if (n !== undefined) bin(c, `NEEDED ${n}`);
    }
    for (const c of this.of('symbol')) {
      const m = c.matcher as Extract<Matcher, { type: 'symbol' }>;
      const s = elf.symbols.find((x) => (m.defined === undefined || x.defined === m.defined) && c.re!.test(x.name));
      if (s !== undefined) bin(c, `${s.defined ? 'exports' : 'imports'} symbol ${s.name}${s.version ? `@${s.version}` : ''}`);
    }
    for (const c of this.of('symbol-version')) {
      const m = c.matcher as Extract<Matcher, { type: 'symbol-version' }>;
      if (m.defined) {
        for (const v of elf.versionDefs) {
          const r = c.re!.exec(v);
          if (r) {
            bin(c, `defines symbol version ${v}`, r.groups?.version);
            break;
          }
        }
      } else {
        const need = elf.versionNeeds.flatMap((n) => n.versions.map((v) => ({ file: n.file, v }))).find((x) => c.re!.test(x.v));
        // A needed version is the other library's: evidence of use, never this file's own version.
        if (need !== undefined) bin(c, `needs symbol version ${need.v} from ${need.file}`);
      }
    }
  }

  private dexHits(classes: readonly string[], hits: Hit[]): void {
    for (const c of this.of('dex-package')) {
      const m = c.matcher as Extract<Matcher, { type: 'dex-package' }>;
      const p = `${m.prefix}.`;
      const cls = classes.find((x) => x.startsWith(p));
      if (cls !== undefined) hits.push({ rule: c.rule, matcher: m, text: `dex class ${cls}`, confidence: m.confidence, technique: 'binary-analysis' });
    }
  }

  private packageHits(p: PackageRecord, hits: Hit[]): void {
    for (const c of this.of('package')) {
      const m = c.matcher as Extract<Matcher, { type: 'package' }>;
      if (m.ecosystem !== p.ecosystem || m.name.toLowerCase() !== p.name.toLowerCase()) continue;
      const h: Hit = {
        rule: c.rule,
        matcher: m,
        text: `${p.source} names ${p.name}${p.version ? ` ${p.version}` : ''}`,
        confidence: m.confidence,
        technique: 'manifest-analysis',
      };
      if (p.version !== undefined) h.version = p.version;
      hits.push(h);
    }
  }

  /** One read and one decode of the region, one search of every literal, each matcher's regex near its literal. */
  private regionHits(src: ByteSource, r: { what: string; offset: number; length: number }, type: FileType, hits: Hit[], head?: Uint8Array): string {
    if (r.length === 0) return '';
    // A region inside the probe's head (every small file) is not read again.
    const bytes = head !== undefined && r.offset + r.length <= head.length ? head.subarray(r.offset, r.offset + r.length) : src.read(r.offset, r.length);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    if (this.literalSearch === undefined) return text;
    const seen = new Map<string, number>();
    const done = new Set<Compiled>();
    // One compiled search for the whole scan (the walk is synchronous between reads, so nothing else
    // moves its cursor while this region is searched).
    const search = this.literalSearch;
    search.lastIndex = 0;
    for (let m = search.exec(text); m !== null; m = search.exec(text)) {
      const pos = m.index;
      search.lastIndex = pos + 1; // overlapping literals still get their turn
      for (const lit of this.literalGroups.get(m[0].slice(0, 4)) ?? []) {
        if (!text.startsWith(lit, pos)) continue;
        const n = (seen.get(lit) ?? 0) + 1;
        seen.set(lit, n);
        if (n > MAX_LITERAL_HITS) continue;
        for (const c of this.literals.get(lit)!) {
          if (done.has(c)) continue;
          if (c.matcher.type === 'content') {
            if (c.matcher.fileType !== 'any' && c.matcher.fileType !== type) continue;
            const from = Math.max(0, pos - WINDOW);
            const windowText = text.slice(from, pos + lit.length + WINDOW);
            const x = c.re!.exec(windowText);
            if (x === null) continue;
            const h: Hit = {
              rule: c.rule,
              matcher: c.matcher,
              text: `${r.what}: ${redactSecrets(cut(x[0].replace(/[\0-\x1f]+/g, ' ')))}`,
              confidence: c.matcher.confidence,
              technique: 'binary-analysis',
            };
            if (x.groups?.version !== undefined) h.version = x.groups.version;
            hits.push(h);
            done.add(c);
          } else if (c.matcher.type === 'endpoint') {
            const found = c.re !== undefined ? endpointByPattern(text, pos, lit, c.re) : endpointAt(text, pos, lit);
            if (found === undefined) continue;
            hits.push({
              rule: c.rule,
              matcher: c.matcher,
              text: `${r.what}: ${redactSecrets(found.context)}`,
              confidence: c.matcher.confidence,
              technique: 'binary-analysis',
              host: found.host,
            });
            // One component per host: other hosts of the same suffix are still looked for.
            if (c.matcher.host !== undefined && !/^[.-]/.test(c.matcher.host)) done.add(c);
          }
        }
      }
    }
    return text;
  }
}

const HOST_CHAR = /[A-Za-z0-9-]/;

/** File names with a model extension written in a binary or script (`ocr.tflite`, `models/det.onnx`). */
const MODEL_REF =
  /[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.(?:tflite|lite|onnx|ort|gguf|mnn|rknn|dlc|pte|ptl|nb|traineddata|om|mindir|tnnmodel|tmfile)(?![A-Za-z0-9_])/g;
/** Model references kept per item. */
const MAX_MODEL_REFS = 50;

/** The distinct model file names (base names) written in the regions, sorted, at most MAX_MODEL_REFS. */
export function findModelRefs(texts: readonly string[]): string[] {
  const refs = new Set<string>();
  for (const t of texts) {
    for (const m of t.matchAll(MODEL_REF)) {
      refs.add(m[0]);
      if (refs.size >= MAX_MODEL_REFS) return [...refs].sort();
    }
  }
  return [...refs].sort();
}

/**
 * The endpoint at a literal hit: the host must stand alone (no host character glued before an exact
 * host or after either form), a suffix (`.openai.azure.com`) takes the labels in front of it. Returns
 * the host and the URL-like text around it.
 */
function endpointAt(text: string, pos: number, lit: string): { host: string; context: string } | undefined {
  let start = pos;
  if (lit.startsWith('.') || lit.startsWith('-')) {
    while (start > 0 && start > pos - 128 && /[A-Za-z0-9.-]/.test(text[start - 1]!)) start--;
    if (start === pos) return undefined;
  } else if (start > 0 && (HOST_CHAR.test(text[start - 1]!) || text[start - 1] === '.')) return undefined;
  const end = pos + lit.length;
  if (end < text.length && HOST_CHAR.test(text[end]!)) return undefined;
  const host = text.slice(start, end).toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)+$/.test(host)) return undefined;
  // The surrounding URL: back to a scheme, forward to a delimiter.
  let a = start;
  while (a > 0 && a > start - 16 && /[A-Za-z:/]/.test(text[a - 1]!)) a--;
  let b = end;
  while (b < text.length && b < end + 200 && !/[\s"'<>`\\\0]/.test(text[b]!)) b++;
  return { host, context: cut(text.slice(a, b)) };
}

/** An endpoint whose host a pattern's `host` group names, in the window around a literal hit. */
function endpointByPattern(text: string, pos: number, lit: string, re: RegExp): { host: string; context: string } | undefined {
  const from = Math.max(0, pos - WINDOW);
  const w = text.slice(from, pos + lit.length + WINDOW);
  const m = re.exec(w);
  const host = m?.groups?.host?.toLowerCase();
  if (m === null || host === undefined) return undefined;
  const at = from + m.index + m[0].indexOf(m.groups!.host!);
  return endpointAt(text, at, text.slice(at, at + host.length)) ?? undefined;
}

/** The version's place in a purl or CPE template. */
function fill(template: string, version: string | undefined, cpe: boolean): string {
  if (version !== undefined) return template.replace(/\{version\}/g, cpe ? version.replace(/[^A-Za-z0-9._-]/g, '\\$&') : encodeURIComponent(version));
  return cpe ? template.replace(/\{version\}/g, '*') : template.replace(/@\{version\}/g, '').replace(/\{version\}/g, '');
}

/** The hits of one item grouped into software reports: one per rule, one per rule and host for services. */
export function reportsOf(hits: readonly Hit[], arch: string | undefined, modelRefs: readonly string[] = []): SoftwareReport[] {
  const groups = new Map<string, Hit[]>();
  for (const h of hits) {
    const k = h.host !== undefined ? `${h.rule.id}\u0000${h.host}` : h.rule.id;
    const g = groups.get(k) ?? [];
    g.push(h);
    groups.set(k, g);
  }
  const out: SoftwareReport[] = [];
  for (const g of groups.values()) {
    const rule = g[0]!.rule;
    // Strongest evidence first; a version from bytes wins over one from a name.
    g.sort((a, b) => confRank[b.confidence] - confRank[a.confidence] || Number(b.version !== undefined) - Number(a.version !== undefined));
    const vHit = g.find((h) => h.version !== undefined && h.technique !== 'filename') ?? g.find((h) => h.version !== undefined);
    let confidence = g[0]!.confidence;
    // A version read from a name alone is a claim, not a reading: medium at most.
    if (vHit?.technique === 'filename' && confRank[confidence] > 1) confidence = 'medium';
    const kind = RULE_KINDS[rule.kind];
    const detail = [...new Set(g.map((h) => `${h.matcher.type}: ${h.text}`))].join('; ');
    const properties: Record<string, string> = { ruleKind: rule.kind, matchers: [...new Set(g.map((h) => h.matcher.type))].join(',') };
    if (vHit !== undefined) properties.versionEvidence = cut(`${vHit.matcher.type}: ${vHit.text}`);
    if (arch !== undefined) properties.abi = arch;
    if (rule.loads.length > 0 && modelRefs.length > 0) properties.modelRefs = modelRefs.join(',').slice(0, 2000);
    const host = g[0]!.host;
    const software: SoftwareReport['software'] = { rule: rule.id, properties };
    if (rule.vendor !== undefined) software.vendor = rule.vendor;
    if (rule.license !== undefined) software.license = rule.license;
    if (rule.purl !== undefined) software.purl = fill(rule.purl, vHit?.version, false);
    if (rule.cpe !== undefined) software.cpe = fill(rule.cpe, vHit?.version, true);
    if (rule.loads.length > 0) software.loads = [...rule.loads];
    if (host !== undefined) software.endpoint = host;
    const technique =
      g[0]!.technique === 'filename' && g.some((h) => h.technique !== 'filename') ? g.find((h) => h.technique !== 'filename')!.technique : g[0]!.technique;
    const r: SoftwareReport = { kind, name: rule.name, evidence: { technique, detail: cut(detail), confidence }, software };
    if (vHit?.version !== undefined) r.version = vHit.version;
    if (host !== undefined) r.key = [rule.id, host];
    out.push(r);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The package component a manifest states. */
function packageReport(p: PackageRecord): SoftwareReport {
  const properties: Record<string, string> = { ecosystem: p.ecosystem, scope: p.scope };
  if (p.arch !== undefined) properties.arch = p.arch;
  const software: SoftwareReport['software'] = { purl: p.purl, properties };
  if (p.license !== undefined) software.license = p.license;
  const r: SoftwareReport = {
    kind: 'package',
    name: p.name,
    evidence: { technique: 'manifest-analysis', detail: `${p.source} names ${p.name}${p.version ? ` ${p.version}` : ''}`, confidence: 'high' },
    software,
  };
  if (p.version !== undefined) r.version = p.version;
  // Packages of a status database share its location: the purl tells them apart.
  if (p.shared) r.key = [p.purl];
  return r;
}

/** Reports everything the engine finds on one item through an analyzer's output. */
export function runEngine(engine: RuleEngine, item: Pick<AnalyzedItem, 'name' | 'size' | 'source' | 'probe'>, out: AnalyzerOutput): void {
  const { hits, arch, packages, modelRefs, fileList } = engine.analyze(
    { name: item.name, size: item.size, source: item.source, head: item.probe.head },
    (err, what) => {
      const { code, message } = describeError(err);
      out.problem(code === 'internal' ? 'error' : 'warning', code, `${what}: ${message}`);
    },
  );
  for (const p of packages) out.software(packageReport(p));
  if (fileList !== undefined) {
    out.fileList({ kind: fileList.kind, paths: fileList.paths });
    if (fileList.truncated)
      out.problem(
        'warning',
        'limit',
        `This package file list is longer than ${MAX_LIST_ENTRIES} entries or ${MAX_LIST_BYTES} bytes; files it names past that are not attributed to its package.`,
      );
  }
  for (const r of reportsOf(hits, arch, modelRefs)) out.software(r);
}

/**
 * The analyzer of the rule engine over every item that is neither a model nor a container (those are
 * described by their identification and their members). `rules` defaults to the built-in rules.
 */
export function ruleAnalyzer(rules?: readonly Rule[]): Analyzer {
  let engine: RuleEngine | undefined;
  return {
    id: 'rules',
    description: 'runtime, SDK, app framework, agent and cloud AI service rules of rules/ over every file',
    item(item, out) {
      if (item.identified !== undefined) return;
      engine ??= new RuleEngine(rules ?? builtinRules());
      runEngine(engine, item, out);
    },
  };
}
