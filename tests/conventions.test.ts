import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { containers } from '../src/containers/index.js';
import { formats } from '../src/formats/index.js';
import { withLimitsTable, withRegistryTable } from '../src/registry-table.js';
import { encoders } from '../src/report/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exists = (p: string): boolean => fs.existsSync(path.join(root, p));

// The house rules, enforced: a format or container is one file, one registry line, one fixture
// folder with its provenance, one test file; ids are unique; the README's table is generated.
describe('conventions', () => {
  it('registries are not empty and ids are unique', () => {
    expect(formats.length).toBeGreaterThan(0);
    expect(containers.length).toBeGreaterThan(0);
    const ids = [...formats.map((f) => f.id), ...containers.map((c) => c.id), ...encoders.map((e) => e.id)];
    expect(new Set(ids).size).toBe(ids.length);
  });
  it.each(formats.map((f) => f.id))('model format %s has its module, test file and fixture README', (id) => {
    expect(exists(`src/formats/${id}.ts`) || exists(`src/formats/${id}/index.ts`)).toBe(true);
    expect(exists(`tests/formats/${id}.test.ts`)).toBe(true);
    expect(exists(`fixtures/${id}/README.md`)).toBe(true);
  });
  it.each(containers.map((c) => c.id))('container %s has its module, test file and fixture README', (id) => {
    // One file, or a folder whose index.ts exports the reader when the format needs several modules.
    expect(exists(`src/containers/${id}.ts`) || exists(`src/containers/${id}/index.ts`)).toBe(true);
    expect(exists(`tests/containers/${id}.test.ts`)).toBe(true);
    expect(exists(`fixtures/${id}/README.md`)).toBe(true);
  });
  // The other direction: nothing sits in a registry folder unregistered. A file is a registered module
  // (`<id>.ts`), a helper of one (`<id>-<what>.ts`), inside a registered module's folder (`<id>/`), or
  // one of the shared helpers declared here with the reason it is shared.
  const sharedHelpers: Record<string, Record<string, string>> = {
    'src/formats': {
      'index.ts': 'the registry',
      'types.ts': 'the ModelFormat interface',
      'contract.ts': "renders the README's per-format metadata contract from the schemas",
      'card-util.ts': 'sorting and optional-field helpers every card uses',
      'list.ts': 'the `aibom formats` listing of every registered format (ids, extensions, signatures, metadata fields)',
      '_template.ts': 'the documented starting point for a new format (compiled, tested, not registered)',
    },
    'src/containers': {
      'index.ts': 'the registry',
      'types.ts': 'the ContainerReader interface',
      'compressed.ts': 'member naming and the compressed-tar-as-one-level rule shared by gzip, xz, zstd, bzip2',
      'entry-names.ts': 'hostile member names, shared by every archive reader',
    },
  };
  it.each([
    ['src/formats', formats.map((f) => f.id)],
    ['src/containers', containers.map((c) => c.id)],
  ] as const)('every file in %s is registered, a helper of a registered module, or a declared shared helper', (folder, ids) => {
    const stray: string[] = [];
    for (const e of fs.readdirSync(path.join(root, folder), { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (!ids.includes(e.name)) stray.push(`${e.name}/`);
        continue;
      }
      const base = e.name.replace(/\.ts$/, '');
      const ok = Object.hasOwn(sharedHelpers[folder]!, e.name) || ids.includes(base) || ids.some((id) => base.startsWith(`${id}-`));
      if (!ok) stray.push(e.name);
    }
    expect(stray).toEqual([]);
  });
  it('every detector declares its signatures; those recognised by structure alone are the known few', () => {
    const structural = [...formats, ...containers].filter((d) => d.signatures.length === 0).map((d) => d.id);
    // ONNX has no magic; safetensors starts with a length, its index and TF.js are JSON (their `match`
    // looks for a key in the head before parsing anything); a block OTA is found by its name and
    // sibling; tar v7 and MBR have no magic of their own; OpenVINO IR is XML whose `<net` may follow a
    // declaration or comments (its `match` tokenizes only heads that contain '<net'); MNN is a FlatBuffer
    // without file identifier (its `match` checks the root table in the head); a Paddle Lite `.nb` starts
    // with a u16 version and a version string (its `match` needs the `.nb` name first); Caffe networks are
    // protobuf without magic (its `match` needs a `.caffemodel` or `.prototxt` name first); a Darknet network
    // is an ini-like text (its `match` needs a `.cfg` name and a first `[net]` section); Tesseract data starts
    // with an entry count and offsets (its `match` needs a `.traineddata` name); a SentencePiece model is
    // protobuf without magic (its `match` needs a `.model` name and pieces first); so is Core ML (its
    // `match` needs a `.mlmodel` name); a TNN network's magic is a decimal number inside its first text
    // line (its `match` needs a `.tnnproto` name). A SavedModel and a frozen GraphDef are protobufs
    // without magic (the GraphDef also needs its `.pb` name). XGBoost is JSON, UBJSON or `binf` behind one
    // cheap first-byte test (no single magic covers its three encodings). Adding one here needs a
    // reason: every structural detector is asked about every item.
    expect(structural.sort()).toEqual([
      'caffe',
      'coreml',
      'darknet',
      'mbr',
      'mnn',
      'onnx',
      'openvino',
      'ota-block-image',
      'paddle-lite',
      'safetensors',
      'savedmodel',
      'sentencepiece',
      'tar',
      'tesseract',
      'tf-graphdef',
      'tfjs',
      'tnn',
      'xgboost',
    ]);
    for (const c of containers) expect(['archive', 'compression', 'filesystem', 'partitions', 'other']).toContain(c.kind);
  });
  it('every format and container has a one-line description, and formats list their extensions', () => {
    for (const x of [...formats, ...containers, ...encoders]) expect(x.description).toMatch(/^[^\n]{10,200}$/);
    for (const f of formats) for (const e of f.extensions) expect(e).toMatch(/^\.[a-z0-9]+$/);
    for (const c of containers) for (const e of c.extensions ?? []) expect(e).toMatch(/^\.[a-z0-9]+$/);
  });
  it('README.md carries the table generated from the registries (npm run readme)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toBe(withRegistryTable(readme));
  });
  it('README.md carries the limits table generated from LIMIT_SPECS (npm run readme)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toBe(withLimitsTable(readme));
  });
});
