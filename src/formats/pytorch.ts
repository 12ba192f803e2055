import { z } from 'zod';
import { pickleSecurity, readPickle, symInt, symString, symTarget, type PickleSummary, type Sym } from '../decoders/pickle.js';
import { memberSource, memberText, probeZipDirectory, probeZipMentions } from '../decoders/zip-member.js';
import type { ZipDirectory, ZipMember } from '../decoders/zip-directory.js';
import { AibomError, FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import type { Probe } from '../probe.js';
import { opt, sortCardOperators } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * PyTorch files (pytorch/pytorch `torch/serialization.py`, `caffe2/serialize/inline_container.h`):
 *
 * - zip checkpoints (`torch.save` since 1.6): a zip whose members share one top folder (`archive/`, or
 *   the file's stem in older versions): `data.pkl` (the pickled object, tensors as persistent ids
 *   `('storage', <storage class>, key, location, numel)` rebuilt by `torch._utils._rebuild_tensor_v2`),
 *   `data/<key>` (raw storages), `byteorder`, and a `version` record (`.data/version` in newer writers);
 * - TorchScript (`torch.jit.save`): the same zip with `constants.pkl` and `code/` (the TorchScript source);
 * - PyTorch Mobile lite interpreter (`.ptl`, `_save_for_lite_interpreter`): the zip with `bytecode.pkl`;
 * - legacy pickles (`torch.save` before 1.6): five pickles in a row, the first the magic number
 *   0x1950a86a20f9469cfc6c, then the protocol version, sys_info, the object, and the storage keys,
 *   followed by the raw storages.
 *
 * Pickles are walked as opcodes (decoders/pickle.ts), never executed. Their globals are recorded and
 * judged: a global that runs code (os.system, builtins.eval...) is an `unsafe-deserialization` error,
 * one outside the allowlist of known-safe constructors a warning.
 */

/** The legacy magic number 0x1950a86a20f9469cfc6c pickled with protocol 2 as LONG1: `\x80\x02\x8a\x0a` + 10 bytes LE. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_MAGIC_LE = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const MAX_KEYS = 1000;
const MAX_LISTED = 100;
/** Largest deflated pickle inflated into memory. */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;

/** Globals a TorchScript or mobile archive's own unpickler resolves (its classes and helpers, not Python imports). */
const TORCHSCRIPT_SAFE = ['__torch__.*', 'torch.jit._pickle.*'];

// ---- metadata schema --------------------------------------------------------------------------------

export const pytorchMetadataSchema = z
  .strictObject({
    container: z.enum(['zip', 'legacy-pickle']).describe('`zip` (torch.save since 1.6, TorchScript, mobile) or `legacy-pickle` (torch.save before 1.6)'),
    kind: z
      .enum(['checkpoint', 'torchscript', 'mobile'])
      .describe('`checkpoint` (torch.save), `torchscript` (constants.pkl and code/), `mobile` (lite interpreter bytecode.pkl)'),
    archiveName: z.string().optional().describe('Top folder of the zip members (`archive`, or the saved file stem in older versions)'),
    version: z
      .number()
      .int()
      .optional()
      .describe('The archive format version (the `version` record) or, for legacy files, the pickled protocol version (1001)'),
    byteorder: z.string().optional().describe('The `byteorder` record (`little`, `big`); legacy files: from sys_info little_endian'),
    records: z.number().int().nonnegative().optional().describe('Zip members'),
    storages: z.number().int().nonnegative().describe('Raw tensor storages (`data/<key>` members, or the legacy storage keys)'),
    codeFiles: z.number().int().nonnegative().optional().describe('TorchScript source files under `code/` (`.py`)'),
    extraFiles: z.array(z.string()).optional().describe('Names under `extra/` (TorchScript extra files), first 100'),
    pickleProtocol: z.number().int().min(0).max(5).describe('Pickle protocol of the main pickle (0 when it has no PROTO opcode)'),
    globals: z.array(z.string()).describe('Every global the pickles import (`module.name`), sorted, unique: what a loader would import'),
    calls: z.array(z.string()).describe('Globals the pickles call or build (REDUCE, NEWOBJ, BUILD), sorted, unique'),
    tensorCount: z.number().int().nonnegative().describe('Tensors rebuilt by `torch._utils._rebuild_tensor*` calls'),
    parameters: z.number().int().nonnegative().describe('Elements over those tensors (product of their sizes), held at 2^53 - 1'),
    dtypes: z.record(z.string(), z.number().int().nonnegative()).describe('Elements per element type, from the storage classes (`FloatStorage` -> `float32`)'),
    tensorKeys: z.array(z.string()).describe('Dictionary keys the tensors are stored under (state_dict names), first 1000 in pickle order'),
    rootClass: z
      .string()
      .optional()
      .describe('Class (or function) that builds the pickled top-level object (`collections.OrderedDict` for a state_dict, `__torch__.Net`, `__main__.Net`)'),
    operators: z
      .record(z.string(), z.number().int().positive())
      .optional()
      .describe('Operators of a lite-interpreter bytecode.pkl (`aten::linear`, with its overload), with the methods using each'),
    walkStopped: z.string().optional().describe('Why a pickle walk stopped early (a limit): what follows was not read'),
  })
  .meta({
    title: 'PyTorch metadata',
    description:
      'PyTorch zip checkpoints, TorchScript archives, lite-interpreter `.ptl` files and legacy `torch.save` pickles: the archive layout, the globals the pickles import (their security judgement is a problem of code `security`), and tensors from `_rebuild_tensor_v2` calls.',
  });

export type PytorchMetadata = z.output<typeof pytorchMetadataSchema>;

/** The card: format version, parameters and element types; PyTorch files name no model, producer or operators. */
export function pytorchCard(md: PytorchMetadata): ModelCard {
  const types = Object.keys(md.dtypes).sort();
  // aten, prim and the quantized namespaces are PyTorch's own; anything else was registered by the app.
  const ops = Object.entries(md.operators ?? {}).map(([name, count]) => ({ name, count, custom: !/^(aten|prim|quantized|_quantized)::/.test(name) }));
  return {
    ...opt('architecture', architectureOf(md.rootClass)),
    format: 'pytorch',
    ...opt('formatVersion', md.version === undefined ? undefined : String(md.version)),
    inputs: [],
    outputs: [],
    ...(md.tensorCount > 0 ? { parameters: md.parameters } : {}),
    weightTypes: types,
    quantized: types.some((t) => t.startsWith('qint') || t.startsWith('quint')),
    operators: sortCardOperators(ops),
    customOperators: ops.some((o) => o.custom),
  };
}

/**
 * The model class a pickle's top-level object states: the last name of `rootClass` when it is a class of
 * the model (`__torch__.___torch_mangle_3.Net` -> `Net`), not a container such as a state_dict.
 */
function architectureOf(rootClass: string | undefined): string | undefined {
  if (rootClass === undefined || /^(collections|builtins|__builtin__|torch\._utils|copy_?reg)\./.test(rootClass)) return undefined;
  const name = rootClass.slice(rootClass.lastIndexOf('.') + 1);
  return /^[A-Za-z_]\w*$/.test(name) ? name : undefined;
}

/**
 * The operator tables of a lite-interpreter bytecode.pkl: `(version, (method name, (('instructions', ...),
 * ('operators', ((name, overload[, num_args]), ...)), ('constants', ...), ...)), ...)`. Each method's
 * table lists an operator once; the count is the methods using it. The walk over the symbols is bounded
 * and visits a shared symbol once.
 */
function bytecodeOperators(result: Sym | undefined): Record<string, number> | undefined {
  const ops: Record<string, number> = {};
  const seen = new Set<Sym>();
  let budget = 1_000_000;
  let found = false;
  const visit = (x: Sym | undefined, depth: number): void => {
    if (x === undefined || depth > 32 || seen.has(x) || --budget < 0) return;
    seen.add(x);
    if (x.k !== 'tuple' && x.k !== 'list') return;
    const table = x.items[1];
    if (x.items.length === 2 && symString(x.items[0]) === 'operators' && (table?.k === 'tuple' || table?.k === 'list')) {
      found = true;
      const names = new Set<string>();
      for (const op of table.items) {
        if (op.k !== 'tuple' && op.k !== 'list') continue;
        const name = symString(op.items[0]);
        const overload = symString(op.items[1]);
        if (name !== undefined) names.add(overload === undefined || overload === '' ? name : `${name}.${overload}`);
      }
      for (const n of names) ops[n] = (ops[n] ?? 0) + 1;
      return;
    }
    for (const item of x.items) visit(item, depth + 1);
  };
  visit(result, 0);
  return found ? ops : undefined;
}

// ---- layout -------------------------------------------------------------------------------------------

interface TorchLayout {
  prefix: string;
  kind: PytorchMetadata['kind'];
  members: Map<string, ZipMember>;
  version: ZipMember;
}

/**
 * The PyTorch layout of a zip: one top folder holding `data.pkl` (or `bytecode.pkl`) and a `version`
 * record (`version` or `.data/version`). Anything else, a zip of other files included, is not PyTorch.
 */
export function torchLayout(dir: ZipDirectory): TorchLayout | undefined {
  const members = new Map(dir.members.map((m) => [m.name, m]));
  for (const m of dir.members) {
    const hit = /^([^/]+)\/(data|bytecode)\.pkl$/.exec(m.name);
    if (!hit) continue;
    const prefix = hit[1]!;
    const version = members.get(`${prefix}/version`) ?? members.get(`${prefix}/.data/version`);
    if (version === undefined) continue;
    const has = (n: string): boolean => members.has(`${prefix}/${n}`);
    const kind = has('bytecode.pkl')
      ? 'mobile'
      : has('constants.pkl') || dir.members.some((x) => x.name.startsWith(`${prefix}/code/`))
        ? 'torchscript'
        : 'checkpoint';
    return { prefix, kind, members, version };
  }
  return undefined;
}

function startsWithLegacyMagic(head: Uint8Array): boolean {
  // PROTO 2..5 (a FRAME may follow from 4 on), then LONG1 of 10 bytes holding the magic number.
  if (head.length < 14 || head[0] !== 0x80 || head[1]! < 2 || head[1]! > 5) return false;
  let i = 2;
  if (head[i] === 0x95) i += 9; // FRAME + u64 length
  if (head[i] !== 0x8a || head[i + 1] !== 10) return false;
  return LEGACY_MAGIC_LE.every((b, k) => head[i + 2 + k] === b);
}

// ---- reading -------------------------------------------------------------------------------------------

interface Totals {
  rootClass?: string;
  globals: Set<string>;
  calls: Set<string>;
  tensorCount: number;
  parameters: number;
  dtypes: Record<string, number>;
  tensorKeys: string[];
  stopped?: string;
}

function newTotals(): Totals {
  return { globals: new Set(), calls: new Set(), tensorCount: 0, parameters: 0, dtypes: {}, tensorKeys: [] };
}

function add(t: Totals, s: PickleSummary, where: string, countTensors: boolean): void {
  for (const g of s.globals) t.globals.add(g);
  for (const c of s.calls) t.calls.add(c);
  if (s.stopped !== undefined && t.stopped === undefined) t.stopped = `${where}: ${s.stopped}`;
  if (!countTensors) return;
  const root = symTarget(s.result);
  if (root !== undefined && t.rootClass === undefined) t.rootClass = root;
  t.tensorCount += s.tensorCount;
  for (const x of s.tensors) {
    t.parameters = Math.min(t.parameters + x.elements, Number.MAX_SAFE_INTEGER);
    const d = x.dtype ?? (x.storage === undefined ? 'unknown' : `unknown(${x.storage})`);
    t.dtypes[d] = Math.min((t.dtypes[d] ?? 0) + x.elements, Number.MAX_SAFE_INTEGER);
    if (x.key !== undefined && t.tensorKeys.length < MAX_KEYS) t.tensorKeys.push(x.key);
  }
}

/**
 * Walks one pickle member. A member that cannot be read at all (encrypted, deflated past the in-memory
 * limit, another compression method) is an empty summary noting why: the archive is still PyTorch.
 */
function readPickleMember(src: ByteSource, dir: ZipDirectory, m: ZipMember): PickleSummary {
  let s: ByteSource;
  try {
    s = memberSource(src, dir, m, MAX_PICKLE_BYTES);
  } catch (err) {
    if (!(err instanceof AibomError) || err instanceof FormatError) throw err;
    const empty: PickleSummary = {
      protocol: 0,
      opcodes: 0,
      end: 0,
      globals: [],
      calls: [],
      callCounts: [],
      dynamicGlobals: 0,
      tensors: [],
      tensorCount: 0,
      persistentIds: 0,
    };
    return { ...empty, stopped: `not read: ${err.message}` };
  }
  try {
    return readPickle(s);
  } catch (err) {
    if (err instanceof FormatError) throw new FormatError(`Invalid PyTorch archive: ${m.name}: ${err.message}`, err.code);
    throw err;
  }
}

function warningsOf(t: Totals, where: string, extraSafe: readonly string[]): ModelWarning[] {
  const out: ModelWarning[] = pickleSecurity([...t.globals].sort(), where, extraSafe);
  if (t.stopped !== undefined)
    out.push({ severity: 'warning', code: 'limit', message: `PyTorch pickle walk stopped early (${t.stopped}); globals after that point were not seen.` });
  return out;
}

function finish(md: PytorchMetadata, t: Totals, where: string, extraSafe: readonly string[]): ModelInfo {
  const warnings = warningsOf(t, where, extraSafe);
  const info: ModelInfo = { confidence: t.stopped === undefined ? 'high' : 'medium', metadata: md };
  if (warnings.length > 0) info.warnings = warnings;
  return info;
}

function readZip(src: ByteSource, dir: ZipDirectory, layout: TorchLayout): ModelInfo {
  const { prefix, kind, members } = layout;
  const p = `${prefix}/`;
  // Records of a few bytes (`3`, `little`): a larger one is not PyTorch's.
  const text = (m: ZipMember | undefined): string | undefined => {
    if (m === undefined) return undefined;
    if (m.size > 64) throw new FormatError(`Invalid PyTorch archive: ${m.name} holds ${m.size} bytes, not a short record.`);
    return memberText(src, dir, m, 64).trim();
  };
  const versionText = text(layout.version)!;
  if (!/^\d{1,9}$/.test(versionText)) {
    throw new FormatError(
      `Invalid PyTorch archive: ${layout.version.name} holds ${JSON.stringify(versionText.slice(0, 20))}, expected a decimal version number.`,
    );
  }
  const byteorder = text(members.get(`${p}byteorder`));
  if (byteorder !== undefined && byteorder !== 'little' && byteorder !== 'big') {
    throw new FormatError(`Invalid PyTorch archive: ${p}byteorder holds ${JSON.stringify(byteorder.slice(0, 20))}, expected little or big.`);
  }
  const t = newTotals();
  let protocol = 0;
  const main = members.get(`${p}data.pkl`);
  if (main !== undefined) {
    const s = readPickleMember(src, dir, main);
    protocol = s.protocol;
    add(t, s, 'data.pkl', true);
  }
  // TorchScript constants and mobile bytecode are pickles too: their globals count, their tensors are constants.
  let operators: Record<string, number> | undefined;
  for (const name of ['constants.pkl', 'bytecode.pkl']) {
    const m = members.get(p + name);
    if (m === undefined) continue;
    const s = readPickleMember(src, dir, m);
    if (main === undefined) protocol = s.protocol;
    add(t, s, name, main === undefined);
    if (name === 'bytecode.pkl') operators = bytecodeOperators(s.result);
  }
  let storages = 0;
  let codeFiles = 0;
  const extra: string[] = [];
  for (const m of dir.members) {
    if (!m.name.startsWith(p)) continue;
    const rest = m.name.slice(p.length);
    if (/^data\/[^/]+$/.test(rest)) storages++;
    else if (rest.startsWith('code/') && rest.endsWith('.py')) codeFiles++;
    else if (rest.startsWith('extra/') && rest.length > 6 && extra.length < MAX_LISTED) extra.push(rest.slice(6));
  }
  const md: PytorchMetadata = {
    container: 'zip',
    kind,
    archiveName: prefix,
    version: Number(versionText),
    ...opt('byteorder', byteorder),
    records: dir.members.length,
    storages,
    ...(kind === 'checkpoint' ? {} : { codeFiles }),
    ...(extra.length > 0 ? { extraFiles: extra.sort() } : {}),
    pickleProtocol: protocol,
    globals: [...t.globals].sort(),
    calls: [...t.calls].sort(),
    tensorCount: t.tensorCount,
    parameters: t.parameters,
    dtypes: t.dtypes,
    tensorKeys: t.tensorKeys,
    ...opt('rootClass', t.rootClass),
    ...opt('operators', operators),
    ...opt('walkStopped', t.stopped),
  };
  return finish(md, t, `${p}${main === undefined ? 'bytecode.pkl' : 'data.pkl'}`, kind === 'checkpoint' ? [] : TORCHSCRIPT_SAFE);
}

function dictGet(d: Sym | undefined, key: string): Sym | undefined {
  if (d?.k !== 'dict') return undefined;
  return d.entries.find(([k]) => symString(k) === key)?.[1];
}

/** Legacy `torch.save`: magic, protocol version, sys_info, the object, the storage keys. */
function readLegacy(src: ByteSource): ModelInfo {
  const step = (start: number, what: string): PickleSummary => {
    try {
      const s = readPickle(src, start);
      if (s.result === undefined)
        throw new FormatError(`Invalid legacy PyTorch file: the ${what} pickle at offset ${start} stopped before its end (${s.stopped ?? 'no STOP'}).`);
      return s;
    } catch (err) {
      if (err instanceof FormatError && !err.message.startsWith('Invalid legacy'))
        throw new FormatError(`Invalid legacy PyTorch file: ${what} pickle: ${err.message}`, err.code);
      throw err;
    }
  };
  const magic = step(0, 'magic number');
  if (magic.result?.k !== 'int' || magic.result.v !== LEGACY_MAGIC)
    throw new FormatError('Invalid legacy PyTorch file: the first pickle is not the magic number 0x1950a86a20f9469cfc6c.');
  const version = step(magic.end, 'protocol version');
  const protocolVersion = symInt(version.result);
  if (protocolVersion === undefined) throw new FormatError(`Invalid legacy PyTorch file: the protocol version pickle at offset ${magic.end} holds no integer.`);
  const sysInfo = step(version.end, 'sys_info');
  const little = dictGet(sysInfo.result, 'little_endian');
  const data = readPickle(src, sysInfo.end);
  const t = newTotals();
  add(t, data, 'object pickle', true);
  let storages = 0;
  if (data.stopped === undefined) {
    // The storage keys: a list of strings, one per storage written after it.
    const keys = step(data.end, 'storage keys');
    storages = keys.result?.k === 'list' ? keys.result.items.length : 0;
  }
  const md: PytorchMetadata = {
    container: 'legacy-pickle',
    kind: 'checkpoint',
    version: protocolVersion,
    ...(little?.k === 'bool' ? { byteorder: little.v ? 'little' : 'big' } : {}),
    storages,
    pickleProtocol: data.protocol,
    globals: [...t.globals].sort(),
    calls: [...t.calls].sort(),
    tensorCount: t.tensorCount,
    parameters: t.parameters,
    dtypes: t.dtypes,
    tensorKeys: t.tensorKeys,
    ...opt('rootClass', t.rootClass),
    ...opt('walkStopped', t.stopped),
  };
  return finish(md, t, 'the legacy object pickle', []);
}

/**
 * PyTorch zip checkpoints, TorchScript, lite-interpreter `.ptl` files and legacy pickles: layout,
 * version, globals with their security judgement, tensors. Does not read storages (weights), run
 * TorchScript code or execute any pickle.
 */
export const pytorch: ModelFormat = {
  id: 'pytorch',
  description: 'PyTorch checkpoint, TorchScript or lite-interpreter zip (data.pkl + version) and legacy torch.save pickle',
  // Only names no other file kind uses: `.bin` and `.pkl` files that are not PyTorch would all become claimed-model problems.
  extensions: ['.pt', '.pth', '.ptl'],
  signatures: [
    { offset: 0, magic: 'PK\x03\x04', note: 'zip local header; match then requires <name>/data.pkl (or bytecode.pkl) and <name>/version' },
    { offset: 0, magic: [0x80, 0x02, 0x8a, 0x0a, ...LEGACY_MAGIC_LE], note: 'legacy torch.save: protocol 2 then the magic number as LONG1' },
    { offset: 0, magic: [0x80, 0x03, 0x8a, 0x0a, ...LEGACY_MAGIC_LE], note: 'legacy torch.save with pickle protocol 3' },
    { offset: 0, magic: [0x80, 0x04, 0x95], note: 'pickle protocol 4 with a FRAME; match then requires the legacy magic number' },
    { offset: 0, magic: [0x80, 0x05, 0x95], note: 'pickle protocol 5 with a FRAME; match then requires the legacy magic number' },
  ],
  metadataSchema: pytorchMetadataSchema,
  card: (metadata) => pytorchCard(pytorchMetadataSchema.parse(metadata)),
  match(probe: Probe): boolean {
    if (startsWithLegacyMagic(probe.head)) return true;
    // The raw directory names data.pkl or bytecode.pkl before it is worth parsing.
    if (!probeZipMentions(probe, 'data.pkl') && !probeZipMentions(probe, 'bytecode.pkl')) return false;
    const dir = probeZipDirectory(probe);
    return dir !== undefined && torchLayout(dir) !== undefined;
  },
  async inspect(src: ByteSource, probe: Probe, _ctx: InspectContext): Promise<ModelInfo> {
    if (startsWithLegacyMagic(probe.head)) return readLegacy(src);
    const dir = probeZipDirectory(probe);
    const layout = dir === undefined ? undefined : torchLayout(dir);
    if (dir === undefined || layout === undefined)
      throw new FormatError('Invalid PyTorch file: neither a zip with <name>/data.pkl and <name>/version nor a legacy pickle starting with the magic number.');
    return readZip(src, dir, layout);
  },
};
