import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { pytorch, type PytorchMetadata } from '../../src/formats/pytorch.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { legacyTorch, maliciousPickle, PickleBuilder, stateDictPickle, torchZip, withZip64EndRecords } from '../builders/pickle-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run, runBuffer } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-pytorch-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = new TextEncoder();
const ctx = { limits: DEFAULT_LIMITS };

const matches = (b: Uint8Array, name = 'm.pt'): boolean => pytorch.match(createProbe(new BufferSource(b), name));

async function inspect(b: Uint8Array): Promise<ModelInfo> {
  const src = new BufferSource(b);
  const probe = createProbe(src, 'm.pt');
  expect(pytorch.match(probe)).toBe(true);
  const info = await pytorch.inspect(src, probe, ctx);
  expectConforms(pytorch, info.metadata);
  return info;
}

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

const TENSORS = [
  { key: 'features.0.weight', storage: 'FloatStorage', shape: [16, 3, 3, 3] },
  { key: 'features.0.bias', storage: 'FloatStorage', shape: [16] },
  { key: 'classifier.weight', storage: 'HalfStorage', shape: [10, 16] },
  { key: 'bn.num_batches_tracked', storage: 'LongStorage', shape: [] },
];

describe('pytorch: zip checkpoints', () => {
  it('reads a state_dict checkpoint: layout, version, globals, tensors, dtypes, keys; no warning', async () => {
    const info = await inspect(torchZip(stateDictPickle(TENSORS).bytesOut(), { storages: 4 }));
    expect(info.confidence).toBe('high');
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toEqual({
      container: 'zip',
      kind: 'checkpoint',
      archiveName: 'archive',
      version: 3,
      byteorder: 'little',
      records: 9,
      storages: 4,
      pickleProtocol: 2,
      globals: ['collections.OrderedDict', 'torch.FloatStorage', 'torch.HalfStorage', 'torch.LongStorage', 'torch._utils._rebuild_tensor_v2'],
      calls: ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2'],
      tensorCount: 4,
      parameters: 432 + 16 + 160 + 1,
      dtypes: { float32: 448, float16: 160, int64: 1 },
      tensorKeys: ['features.0.weight', 'features.0.bias', 'classifier.weight', 'bn.num_batches_tracked'],
      rootClass: 'collections.OrderedDict',
    } satisfies PytorchMetadata);
    expect(pytorch.card(info.metadata)).toEqual({
      format: 'pytorch',
      formatVersion: '3',
      inputs: [],
      outputs: [],
      parameters: 609,
      weightTypes: ['float16', 'float32', 'int64'],
      quantized: false,
      operators: [],
      customOperators: false,
    });
  });

  it('reads zips with and without zip64 end records (PyTorch always writes them), and the same zip found by unzip', async () => {
    const pkl = stateDictPickle(TENSORS).bytesOut();
    const withRecords = torchZip(pkl, { storages: 4 });
    const plain = torchZip(pkl, { storages: 4, plainEnd: true });
    expect(withRecords.length).toBe(plain.length + 76);
    expect((await inspect(withRecords)).metadata).toEqual((await inspect(plain)).metadata);
    // An independent reader agrees the layout is a valid zip.
    const f = path.join(tmp, 'zip64-records.pt');
    fs.writeFileSync(f, withRecords);
    expect(run('unzip', ['-Z1', f]).trim().split('\n')).toContain('archive/data.pkl');
  });

  it('accepts the .data/version record, an older archive name, deflated members and protocol 4', async () => {
    const pkl = stateDictPickle(TENSORS.slice(0, 1), { protocol: 4, parameter: true }).bytesOut();
    const files: [string, Uint8Array][] = [
      ['resnet18/data.pkl', pkl],
      ['resnet18/data/0', new Uint8Array(32)],
      ['resnet18/.data/version', enc.encode('3\n')],
    ];
    const info = await inspect(buildZip(files, 0, { deflate: true }));
    expect(info.metadata).toMatchObject({ archiveName: 'resnet18', version: 3, pickleProtocol: 4, storages: 1, tensorKeys: ['features.0.weight'] });
    expect(info.metadata).not.toHaveProperty('byteorder');
  });

  it('reads TorchScript archives: kind, code files, extra files; TorchScript classes are not flagged', async () => {
    const data = new PickleBuilder()
      .proto(2)
      .global('__torch__.___torch_mangle_3', 'Net')
      .emptyTuple()
      .newobj()
      .emptyDict()
      .str('training')
      .bool(false)
      .setitem()
      .build()
      .stop();
    const constants = new PickleBuilder().proto(2).emptyTuple().stop();
    const zip = torchZip(data.bytesOut(), {
      prefix: 'net',
      storages: 0,
      extra: [
        ['net/constants.pkl', constants.bytesOut()],
        ['net/code/__torch__/net.py', enc.encode('def forward(self, x):\n  return x\n')],
        ['net/code/__torch__/net.py.debug_pkl', new Uint8Array(4)],
        ['net/extra/producer_info.json', enc.encode('{}')],
      ],
    });
    const info = await inspect(zip);
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toMatchObject({
      kind: 'torchscript',
      codeFiles: 1,
      extraFiles: ['producer_info.json'],
      globals: ['__torch__.___torch_mangle_3.Net'],
      tensorCount: 0,
      rootClass: '__torch__.___torch_mangle_3.Net',
    });
    expect(pytorch.card(info.metadata)).not.toHaveProperty('parameters');
    expect(pytorch.card(info.metadata).architecture).toBe('Net');
  });

  it('reads lite-interpreter (.ptl) archives by their bytecode.pkl', async () => {
    // (version, (method, (('instructions', ...), ('operators', ((name, overload, num_args), ...)), ('register_size', n)))) x 2 methods
    const method = (b: PickleBuilder, name: string, ops: [string, string][]): PickleBuilder => {
      b.mark().str(name).mark();
      b.str('instructions').mark().str('OP').int(0).int(0).tuple().tupleN(1).tupleN(2);
      b.str('operators').mark();
      for (const [n, o] of ops) b.str(n).str(o).int(2).tupleN(3);
      b.tuple().tupleN(2);
      b.str('register_size').int(2).tupleN(2);
      return b.tuple().tuple();
    };
    const bytecode = new PickleBuilder().proto(2).mark().int(6);
    method(bytecode, '__torch__.Net.forward', [
      ['aten::linear', ''],
      ['aten::add', 'Tensor'],
      ['my_ops::nms', ''],
    ]);
    method(bytecode, '__torch__.Net.encode', [['aten::linear', '']]);
    bytecode.tuple().stop();
    const zip = buildZip(
      [
        ['model/bytecode.pkl', bytecode.bytesOut()],
        ['model/constants.pkl', new PickleBuilder().proto(2).emptyTuple().stop().bytesOut()],
        ['model/version', enc.encode('8')],
      ],
      0,
    );
    const info = await inspect(zip);
    expect(info.metadata).toMatchObject({
      kind: 'mobile',
      version: 8,
      codeFiles: 0,
      globals: [],
      operators: { 'aten::linear': 2, 'aten::add.Tensor': 1, 'my_ops::nms': 1 },
    });
    expect(pytorch.card(info.metadata)).toMatchObject({
      operators: [
        { name: 'aten::linear', count: 2, custom: false },
        { name: 'aten::add.Tensor', count: 1, custom: false },
        { name: 'my_ops::nms', count: 1, custom: true },
      ],
      customOperators: true,
    });
  });

  it('flags a checkpoint whose data.pkl calls os.system as unsafe-deserialization, still a model', async () => {
    const info = await inspect(torchZip(maliciousPickle().bytesOut()));
    expect(info.metadata).toMatchObject({ globals: ['os.system'], calls: ['os.system'], tensorCount: 0 });
    expect(info.warnings).toEqual([
      {
        severity: 'error',
        code: 'security',
        message: 'unsafe-deserialization: archive/data.pkl imports os.system, which can run code or touch the system when the pickle is loaded.',
      },
    ]);
  });

  it.each([
    ['subprocess', 'Popen'],
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['builtins', '__import__'],
    ['builtins', 'getattr'],
    ['runpy', '_run_code'],
    ['webbrowser', 'open'],
    ['socket', 'socket'],
  ])('flags %s.%s hidden in a state_dict pickle', async (module, name) => {
    // A benign state_dict whose _metadata is replaced by a call: the globals still show it.
    const p = new PickleBuilder().proto(4).frame(0).global('collections', 'OrderedDict').emptyTuple().reduce();
    p.emptyDict().str('_metadata').stackGlobal(module, name).str('x').tupleN(1).reduce().setitem().build().stop();
    const info = await inspect(torchZip(p.bytesOut()));
    expect(info.warnings?.map((w) => [w.severity, w.code])).toEqual([['error', 'security']]);
    expect(info.warnings?.[0]?.message).toContain(`${module}.${name}`);
  });

  it('warns about a full-model pickle naming classes outside the allowlist', async () => {
    const p = new PickleBuilder().proto(2).global('__main__', 'Net').emptyTuple().newobj().emptyDict().build().stop();
    const info = await inspect(torchZip(p.bytesOut()));
    expect(pytorch.card(info.metadata).architecture).toBe('Net');
    expect(info.warnings).toEqual([
      {
        severity: 'warning',
        code: 'security',
        message:
          'unsafe-deserialization: archive/data.pkl imports __main__.Net, outside the allowlist of known-safe constructors; loading it imports and calls them.',
      },
    ]);
  });

  it('reports a pickle stopped at a limit as a medium-confidence model with a limit warning', async () => {
    const p = new PickleBuilder().proto(2).global('os', 'system');
    for (let i = 0; i < 12_000; i++) p.mark();
    const info = await inspect(torchZip(p.bytesOut()));
    expect(info.confidence).toBe('medium');
    expect(info.metadata.walkStopped).toMatch(/^data.pkl: mark limit of 10000 reached at offset \d+$/);
    expect(info.warnings?.map((w) => w.code)).toEqual(['security', 'limit']);
  }, 20_000);
});

/** Counts the bytes read through it. */
class CountingSource implements ByteSource {
  bytesRead = 0;
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Uint8Array {
    const b = this.inner.read(offset, length);
    this.bytesRead += b.length;
    return b;
  }
}

describe('pytorch: bounded reading', () => {
  it('reads the directory, data.pkl and the small records, never the storages', async () => {
    const pkl = stateDictPickle(TENSORS).bytesOut();
    const files: [string, Uint8Array][] = [['archive/data.pkl', pkl]];
    for (let i = 0; i < 4; i++) files.push([`archive/data/${i}`, new Uint8Array(8 * 1024 * 1024)]);
    files.push(['archive/byteorder', enc.encode('little')], ['archive/version', enc.encode('3')]);
    const src = new CountingSource(new BufferSource(withZip64EndRecords(buildZip(files, 0))));
    const probe = createProbe(src, 'big.pt');
    expect(pytorch.match(probe)).toBe(true);
    const info = await pytorch.inspect(src, probe, ctx);
    expect(info.metadata).toMatchObject({ storages: 4, tensorCount: 4 });
    expect(src.size).toBeGreaterThan(32 * 1024 * 1024);
    // The head, a few reads of the zip's last 64 KiB, the directory, data.pkl: not the 32 MiB of storages.
    expect(src.bytesRead).toBeLessThan(512 * 1024);
  });
});

describe('pytorch: unreadable members', () => {
  it('reports a checkpoint whose data.pkl is encrypted as a medium-confidence model, saying why', async () => {
    const files: [string, Uint8Array][] = [
      ['archive/data.pkl', stateDictPickle(TENSORS).bytesOut()],
      ['archive/version', enc.encode('3')],
    ];
    const info = await inspect(buildZip(files, 0, { encrypted: ['archive/data.pkl'] }));
    expect(info.confidence).toBe('medium');
    expect(info.metadata).toMatchObject({
      kind: 'checkpoint',
      globals: [],
      tensorCount: 0,
      walkStopped: 'data.pkl: not read: Zip member "archive/data.pkl" is encrypted and was not read.',
    });
    expect(info.warnings).toEqual([
      {
        severity: 'warning',
        code: 'limit',
        message:
          'PyTorch pickle walk stopped early (data.pkl: not read: Zip member "archive/data.pkl" is encrypted and was not read.); globals after that point were not seen.',
      },
    ]);
  });
});

describe('pytorch: legacy torch.save pickles', () => {
  it('identifies the magic number, reads sys_info, the object and the storage keys', async () => {
    const object = stateDictPickle(TENSORS.slice(0, 2));
    const info = await inspect(legacyTorch(object, ['94343', '94344']));
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toEqual({
      container: 'legacy-pickle',
      kind: 'checkpoint',
      version: 1001,
      byteorder: 'little',
      storages: 2,
      pickleProtocol: 2,
      globals: ['collections.OrderedDict', 'torch.FloatStorage', 'torch._utils._rebuild_tensor_v2'],
      calls: ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2'],
      tensorCount: 2,
      parameters: 448,
      dtypes: { float32: 448 },
      tensorKeys: ['features.0.weight', 'features.0.bias'],
      rootClass: 'collections.OrderedDict',
    } satisfies PytorchMetadata);
    expect(pytorch.card(info.metadata).formatVersion).toBe('1001');
  });

  it('identifies legacy files written with pickle protocols 3 to 5 (a FRAME after PROTO from 4 on)', async () => {
    for (const proto of [3, 4, 5]) {
      const magic = new PickleBuilder().proto(proto);
      if (proto >= 4) magic.frame(13);
      const bytes = legacyTorch(stateDictPickle(TENSORS.slice(0, 1), { protocol: proto }), ['1']);
      const head = magic.int(0x1950a86a20f9469cfc6cn).stop().bytesOut();
      // Swap the protocol 2 magic pickle (14 bytes + STOP) for this protocol's.
      const file = Uint8Array.from([...head, ...bytes.subarray(15)]);
      const info = await inspect(file);
      expect(info.metadata, `protocol ${proto}`).toMatchObject({ container: 'legacy-pickle', pickleProtocol: proto, tensorCount: 1 });
    }
  });

  it('flags a legacy file whose object pickle imports os.system', async () => {
    const info = await inspect(legacyTorch(maliciousPickle(), []));
    expect(info.warnings?.[0]).toMatchObject({ severity: 'error', code: 'security' });
  });

  it('rejects a magic with broken pickles after it, naming the pickle', async () => {
    const full = legacyTorch(stateDictPickle(TENSORS.slice(0, 1)), ['1']);
    expect((await formatError(inspect(full.subarray(0, 40)))).message).toMatch(
      /^Invalid legacy PyTorch file: (protocol version|sys_info) pickle: Invalid pickle: /,
    );
    const bad = full.slice();
    bad[14] = 0xff; // the magic pickle's STOP
    expect((await formatError(inspect(bad))).message).toBe(
      'Invalid legacy PyTorch file: magic number pickle: Invalid pickle: opcode 0xff at offset 14 is not a pickle opcode.',
    );
  });
});

/**
 * Real legacy checkpoints shipped inside the torchmetrics wheel (LPIPS and DISTS weights), read from the
 * package cache at test time (never committed); `AIBOM_PYPI_FILES` overrides the folder.
 */
const pypi = process.env.AIBOM_PYPI_FILES ?? '/opt/pypi/files';
const torchmetricsWheel = fs.existsSync(pypi) ? fs.readdirSync(pypi).find((f) => /^torchmetrics-1\.9\.0-.*\.whl$/.test(f)) : undefined;
const hasUnzip = (() => {
  try {
    run('unzip', ['-v']);
    return true;
  } catch {
    return false;
  }
})();

if (torchmetricsWheel === undefined || !hasUnzip)
  console.warn(`SKIP: no torchmetrics-1.9.0 wheel in ${pypi} (or no unzip); the tests over its real checkpoints are skipped.`);

describe.skipIf(torchmetricsWheel === undefined || !hasUnzip)('pytorch: real legacy checkpoints from the torchmetrics 1.9.0 wheel (skipped without it)', () => {
  const member = (name: string): Uint8Array =>
    Uint8Array.from(runBuffer('unzip', ['-p', path.join(pypi, torchmetricsWheel!), `torchmetrics/functional/image/${name}`]));

  it.each([
    [
      'lpips_models/alex.pth',
      5,
      64 + 192 + 384 + 256 + 256,
      ['lin0.model.1.weight', 'lin1.model.1.weight', 'lin2.model.1.weight', 'lin3.model.1.weight', 'lin4.model.1.weight'],
    ],
    ['dists_models/weights.pt', 2, 2950, ['alpha', 'beta']],
  ])('reads %s like pickletools shows it', async (name, tensors, parameters, keys) => {
    const info = await inspect(member(name));
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toMatchObject({
      container: 'legacy-pickle',
      version: 1001,
      byteorder: 'little',
      storages: tensors,
      pickleProtocol: 2,
      globals: ['collections.OrderedDict', 'torch.FloatStorage', 'torch._utils._rebuild_tensor_v2'],
      tensorCount: tensors,
      parameters,
      dtypes: { float32: parameters },
      tensorKeys: keys,
    });
  });
});

describe('pytorch: look-alikes and broken archives', () => {
  it('matches only zips with <name>/data.pkl and a version record, and legacy magic heads', () => {
    expect(matches(torchZip(stateDictPickle([]).bytesOut()))).toBe(true);
    expect(matches(legacyTorch(stateDictPickle([]), []))).toBe(true);
    // A zip that is not a checkpoint: no version record, a data.pkl at the top, two levels deep.
    expect(matches(buildZip([['archive/data.pkl', new Uint8Array(4)]], 0))).toBe(false);
    expect(
      matches(
        buildZip(
          [
            ['data.pkl', new Uint8Array(4)],
            ['version', enc.encode('3')],
          ],
          0,
        ),
      ),
    ).toBe(false);
    expect(
      matches(
        buildZip(
          [
            ['a/b/data.pkl', new Uint8Array(4)],
            ['a/b/version', enc.encode('3')],
          ],
          0,
        ),
      ),
    ).toBe(false);
    expect(matches(buildZip([['docs/readme.txt', enc.encode('hi')]], 0))).toBe(false);
    // zip64 end records that point nowhere: not a readable zip, hence no match (the zip reader reports it).
    const broken = torchZip(stateDictPickle([]).bytesOut());
    new DataView(broken.buffer).setBigUint64(broken.length - 22 - 12, 5n, true); // the locator's record offset
    expect(matches(broken)).toBe(false);
    const huge = torchZip(stateDictPickle([]).bytesOut());
    new DataView(huge.buffer).setBigUint64(huge.length - 22 - 76 + 32, 2n ** 40n, true); // the zip64 entry count
    expect(matches(huge)).toBe(false);
    // A plain pickle (not the legacy magic) and a zip cut before its directory.
    expect(matches(maliciousPickle().bytesOut())).toBe(false);
    expect(matches(torchZip(stateDictPickle([]).bytesOut()).subarray(0, 200))).toBe(false);
  });

  it('rejects random bytes as data.pkl, naming the member and the opcode', async () => {
    let seed = 3;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 50; i++) {
      const junk = Uint8Array.from({ length: 64 }, rnd);
      junk[0] = 0x80;
      junk[1] = 2;
      try {
        await pytorch.inspect(new BufferSource(torchZip(junk)), createProbe(new BufferSource(torchZip(junk)), 'x.pt'), ctx);
      } catch (err) {
        expect(err).toBeInstanceOf(FormatError);
        expect((err as Error).message).toMatch(/^Invalid PyTorch archive: archive\/data.pkl: Invalid pickle: /);
      }
    }
  });

  it('rejects a version record that is not a number and a bad byteorder', async () => {
    const files = (v: string, order = 'little'): [string, Uint8Array][] => [
      ['archive/data.pkl', stateDictPickle([]).bytesOut()],
      ['archive/byteorder', enc.encode(order)],
      ['archive/version', enc.encode(v)],
    ];
    expect((await formatError(inspect(buildZip(files('three'), 0)))).message).toBe(
      'Invalid PyTorch archive: archive/version holds "three", expected a decimal version number.',
    );
    expect((await formatError(inspect(buildZip(files('3'.repeat(100)), 0)))).message).toBe(
      'Invalid PyTorch archive: archive/version holds 100 bytes, not a short record.',
    );
    expect((await formatError(inspect(buildZip(files('3', 'middle'), 0)))).message).toBe(
      'Invalid PyTorch archive: archive/byteorder holds "middle", expected little or big.',
    );
  });
});

describe('pytorch: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;

  it('finds checkpoints inside a tar and a zip, with security problems for the malicious one only', async () => {
    const d = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(d, 'opt/models'), { recursive: true });
    fs.writeFileSync(path.join(d, 'opt/models/classifier.pt'), torchZip(stateDictPickle(TENSORS).bytesOut(), { storages: 4 }));
    fs.writeFileSync(path.join(d, 'opt/models/legacy.pth'), legacyTorch(stateDictPickle(TENSORS.slice(0, 1)), ['1']));
    fs.writeFileSync(path.join(d, 'opt/models/evil.bin'), torchZip(maliciousPickle().bytesOut()));
    const tar = path.join(tmp, 'rootfs.tar');
    run('tar', ['-cf', tar, '-C', d, 'opt']);
    const zip = path.join(tmp, 'update.zip');
    fs.writeFileSync(zip, buildZip([['payload/net.pt', torchZip(stateDictPickle(TENSORS.slice(1)).bytesOut())]], 0));
    const inv = valid(await scan([tar, zip]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => (m.kind === 'model' ? `${m.model.format}:${m.locations[0]!.path.split('!/')[1]}` : '')).sort()).toEqual([
      'pytorch:opt/models/classifier.pt',
      'pytorch:opt/models/evil.bin',
      'pytorch:opt/models/legacy.pth',
      'pytorch:payload/net.pt',
    ]);
    // The checkpoint's members are not walked as a zip: no data.pkl or storage is reported.
    expect(
      inv.components
        .filter((c) => c.kind !== 'model')
        .map((c) => c.locations[0]?.path ?? '')
        .filter((p) => p.includes('data.pkl')),
    ).toEqual([]);
    expect(inv.problems.map((p) => [p.code, p.severity, p.location.split('!/')[1]])).toEqual([['security', 'error', 'opt/models/evil.bin']]);
  });
});
