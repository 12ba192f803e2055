import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { globalRisk, pickleSecurity, PICKLE_LIMITS, readPickle, symString, type Sym } from '../../src/decoders/pickle.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { maliciousPickle, PickleBuilder, stateDictPickle } from '../builders/pickle-builder.js';

const read = (b: PickleBuilder | Uint8Array, limits = PICKLE_LIMITS) => readPickle(new BufferSource(b instanceof Uint8Array ? b : b.bytesOut()), 0, limits);

function formatError(f: () => unknown): FormatError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

function keys(s: Sym | undefined): string[] {
  if (s?.k === 'dict' || s?.k === 'call') return s.entries.map(([k]) => symString(k) ?? '?');
  return [];
}

/** python3 when present (the CI image has it); tests that need it say so when it is missing. */
function python(script: string): Uint8Array | undefined {
  try {
    return execFileSync('python3', ['-c', script], { maxBuffer: 1 << 24 });
  } catch {
    return undefined;
  }
}
const hasPython = python('print(1)') !== undefined;
if (!hasPython) console.warn('SKIP: python3 is not installed; the tests over real pickles written by python3 are skipped.');

describe('pickle: opcodes from our builder', () => {
  it('reads a state_dict: tensors with keys, storage dtypes, shapes, and the globals', () => {
    const s = read(
      stateDictPickle([
        { key: 'conv.weight', storage: 'FloatStorage', shape: [8, 3, 3, 3] },
        { key: 'conv.bias', storage: 'HalfStorage', shape: [8] },
      ]),
    );
    expect(s.protocol).toBe(2);
    expect(s.stopped).toBeUndefined();
    expect(s.globals).toEqual(['collections.OrderedDict', 'torch.FloatStorage', 'torch.HalfStorage', 'torch._utils._rebuild_tensor_v2']);
    expect(s.calls).toEqual(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2']);
    expect(s.tensorCount).toBe(2);
    expect(s.persistentIds).toBe(2);
    expect(s.tensors).toEqual([
      { key: 'conv.weight', storage: 'FloatStorage', dtype: 'float32', shape: [8, 3, 3, 3], elements: 216 },
      { key: 'conv.bias', storage: 'HalfStorage', dtype: 'float16', shape: [8], elements: 8 },
    ]);
    expect(keys(s.result)).toEqual(['conv.weight', 'conv.bias']);
    expect(s.result?.k === 'call' && s.result.state?.k).toBe('dict');
  });

  it('names parameters wrapped in _rebuild_parameter by their key', () => {
    const s = read(stateDictPickle([{ key: 'fc.weight', storage: 'BFloat16Storage', shape: [4, 4] }], { parameter: true }));
    expect(s.tensors).toEqual([{ key: 'fc.weight', storage: 'BFloat16Storage', dtype: 'bfloat16', shape: [4, 4], elements: 16 }]);
    expect(s.calls).toContain('torch._utils._rebuild_parameter');
  });

  it('records GLOBAL, STACK_GLOBAL and REDUCE targets without executing anything', () => {
    const s = read(maliciousPickle());
    expect(s.globals).toEqual(['os.system']);
    expect(s.calls).toEqual(['os.system']);
    expect(s.result?.k).toBe('call');
    const sg = read(new PickleBuilder().proto(4).frame(30).stackGlobal('subprocess', 'Popen').memoize().str('ls').tupleN(1).reduce().stop());
    expect(sg.globals).toEqual(['subprocess.Popen']);
    expect(sg.dynamicGlobals).toBe(0);
  });

  it('counts a STACK_GLOBAL over computed names as dynamic', () => {
    const b = new PickleBuilder().proto(4).global('builtins', 'getattr').str('x').tupleN(1).reduce().str('system').raw(0x93).stop();
    const s = read(b);
    expect(s.dynamicGlobals).toBe(1);
    expect(s.globals).toContain('<computed>.system');
    expect(globalRisk('<computed>.system')).toBe('dangerous');
  });

  it('reads protocol 0 text opcodes: INT, LONG, STRING, UNICODE, PUT/GET, DICT, INST', () => {
    const t = new TextEncoder();
    const bytes = t.encode(
      "(dp0\nS'a\\'b'\np1\nI42\nsVcaf\\u00e9\np2\nL12345678901234567890L\nsg1\n(lp3\nI01\naI00\nasS'k'\n(i__main__\nNet\np4\n(dp5\nbsS'n'\nNs.",
    );
    const s = read(bytes);
    expect(s.protocol).toBe(0);
    const d = s.result;
    expect(d?.k).toBe('dict');
    if (d?.k !== 'dict') return;
    expect(d.entries.map(([k]) => symString(k))).toEqual(["a'b", 'café', "a'b", 'k', 'n']);
    expect(d.entries[1]![1]).toEqual({ k: 'int', v: 12345678901234567890n });
    expect(d.entries[2]![1]).toEqual({
      k: 'list',
      items: [
        { k: 'bool', v: true },
        { k: 'bool', v: false },
      ],
    });
    expect(s.globals).toEqual(['__main__.Net']);
    expect(s.calls).toEqual(['__main__.Net']);
  });

  it('skips bytes and keeps long strings truncated', () => {
    const s = read(new PickleBuilder().proto(3).mark().bytes(300).str('x'.repeat(5000)).tuple().stop());
    const r = s.result;
    expect(r?.k === 'tuple' && r.items[0]).toEqual({ k: 'bytes', length: 300 });
    const str = r?.k === 'tuple' ? r.items[1] : undefined;
    expect(str?.k === 'str' && [str.v.length, str.truncated]).toEqual([4096, true]);
  });

  it('reads LONG1 values beyond 2^53 exactly (the legacy torch magic number)', () => {
    const s = read(new PickleBuilder().proto(2).int(0x1950a86a20f9469cfc6cn).stop());
    expect(s.result).toEqual({ k: 'int', v: 0x1950a86a20f9469cfc6cn });
    expect(read(new PickleBuilder().proto(2).int(-5_000_000_000n).stop()).result).toEqual({ k: 'int', v: -5_000_000_000n });
  });

  it('reports where the stream ends so that pickles in a row can be walked', () => {
    const a = new PickleBuilder().proto(2).int(1).stop().bytesOut();
    const b = new PickleBuilder().proto(2).str('two').stop().bytesOut();
    const src = new BufferSource(Uint8Array.from([...a, ...b]));
    const first = readPickle(src, 0);
    expect(first.end).toBe(a.length);
    expect(readPickle(src, first.end).result).toEqual({ k: 'str', v: 'two', truncated: false });
  });
});

describe('pickle: hostile and broken streams', () => {
  it.each([
    ['an unknown opcode', new PickleBuilder().proto(2).raw(0xff), /^Invalid pickle: opcode 0xff at offset 2 is not a pickle opcode\.$/],
    ['a pop of an empty stack', new PickleBuilder().proto(2).pop(), /opcode '0' at offset 2 pops an empty stack/],
    ['a GET of an absent memo entry', new PickleBuilder().proto(2).binget(7), /opcode 'h' at offset 2 reads memo entry 7, which was never stored/],
    ['a REDUCE without arguments', new PickleBuilder().proto(2).global('os', 'system').reduce(), /opcode 'R' at offset \d+ pops an empty stack/],
    ['a SETITEMS without a mark', new PickleBuilder().proto(2).emptyDict().setitems(), /opcode 'u' at offset 3 has no mark to pop to/],
    ['a protocol above 5', new PickleBuilder().proto(9), /opcode 0x80 at offset 0 names protocol 9, above 5/],
    ['a SETITEM on a list', new PickleBuilder().proto(2).emptyList().int(1).int(2).setitem(), /sets an item on a list/],
  ])('rejects %s, naming the opcode and offset', (_what, b, message) => {
    expect(formatError(() => read(b)).message).toMatch(message);
  });

  it('rejects a stream cut short as truncated', () => {
    const full = stateDictPickle([{ key: 'w', storage: 'FloatStorage', shape: [2] }]).bytesOut();
    for (let n = 1; n < full.length; n += 3) {
      const err = formatError(() => read(full.subarray(0, n)));
      expect(err.message).toMatch(/^Invalid pickle: /);
    }
    const cut = new PickleBuilder().proto(2).raw(0x58, 0xff, 0xff, 0xff, 0x7f).bytesOut();
    const e = formatError(() => read(cut));
    expect(e.code).toBe('truncated');
    expect(e.message).toBe('Invalid pickle: BINUNICODE at offset 7 needs 4096 bytes, but the stream ends at 7.');
  });

  it('stops at an absurd memo, stack or opcode count with what it saw, never crashing', () => {
    const memo = new PickleBuilder().proto(4).global('os', 'system');
    for (let i = 0; i < 2000; i++) memo.memoize();
    const m = read(memo, { ...PICKLE_LIMITS, maxMemo: 1000 });
    expect(m.stopped).toMatch(/^memo limit of 1000 entries reached at offset \d+$/);
    expect(m.globals).toEqual(['os.system']);
    expect(m.result).toBeUndefined();

    const stack = new PickleBuilder().proto(2);
    for (let i = 0; i < 3000; i++) stack.none();
    expect(read(stack, { ...PICKLE_LIMITS, maxStack: 1000 }).stopped).toMatch(/^stack limit of 1000 values reached/);
    const marks = new PickleBuilder().proto(2);
    for (let i = 0; i < 3000; i++) marks.mark();
    expect(read(marks, { ...PICKLE_LIMITS, maxMarks: 100 }).stopped).toMatch(/^mark limit of 100 reached/);
    const ops = new PickleBuilder().proto(2);
    for (let i = 0; i < 100; i++) ops.none().pop();
    expect(read(ops, { ...PICKLE_LIMITS, maxOpcodes: 50 }).stopped).toMatch(/^opcode limit of 50 reached/);
  });

  it('handles a memo index of 2^32 - 1 and deep sharing without blowing up', () => {
    const b = new PickleBuilder().proto(2).emptyList().binput(0xffffffff);
    // 30 levels of a list holding the previous one twice: 2^30 paths, 60 opcodes.
    for (let i = 0; i < 30; i++) b.emptyList().mark().binget(0xffffffff).binget(0xffffffff).appends().binput(0xffffffff);
    const s = read(b.stop());
    expect(s.result?.k).toBe('list');
  });

  it('walks joblib object arrays (a pickle inside the stream) and bounds their nesting', () => {
    // One level: a NumpyArrayWrapper of dtype object, BUILD, then the nested pickle of the array.
    const wrapper = (b: PickleBuilder): PickleBuilder =>
      b
        .stackGlobal('joblib.numpy_pickle', 'NumpyArrayWrapper')
        .emptyTuple()
        .newobj()
        .emptyDict()
        .mark()
        .str('shape')
        .int(1)
        .tupleN(1)
        .str('dtype')
        .global('numpy', 'dtype')
        .str('O8')
        .bool(false)
        .bool(true)
        .tupleN(3)
        .reduce()
        .setitems()
        .build();
    const nest = (levels: number): Uint8Array => {
      const b = new PickleBuilder();
      for (let i = 0; i < levels; i++) wrapper(b.proto(4));
      b.proto(4).global('os', 'system').stop(); // the innermost array's pickle
      for (let i = 0; i < levels; i++) b.stop();
      return b.bytesOut();
    };
    const two = read(nest(2));
    expect(two.stopped).toBeUndefined();
    expect(two.globals).toEqual(['joblib.numpy_pickle.NumpyArrayWrapper', 'numpy.dtype', 'os.system']);
    const deep = read(nest(40));
    expect(deep.stopped).toMatch(/^joblib object arrays nested deeper than 16 levels at offset \d+$/);
    expect(deep.globals).toContain('numpy.dtype');
  });

  it('never throws anything but a FormatError on random streams', () => {
    let seed = 11;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 500; i++) {
      const b = Uint8Array.from({ length: 10 + (i % 60) }, rnd);
      b[0] = 0x80;
      b[1] = 2;
      try {
        read(b);
      } catch (err) {
        expect(err).toBeInstanceOf(FormatError);
      }
    }
  });
});

describe('pickle: the security judgement of globals', () => {
  it.each([
    'os.system',
    'posix.system',
    'nt.system',
    'subprocess.Popen',
    'subprocess.check_output',
    'builtins.eval',
    'builtins.exec',
    'builtins.__import__',
    'builtins.getattr',
    '__builtin__.eval',
    'runpy._run_code',
    'webbrowser.open',
    'socket.create_connection',
    'shutil.rmtree',
    'pty.spawn',
    'importlib.import_module',
    'torch.load',
    'numpy.testing._private.utils.runstring',
  ])('flags %s as dangerous', (g) => {
    expect(globalRisk(g)).toBe('dangerous');
  });
  it.each([
    'torch._utils._rebuild_tensor_v2',
    'torch._utils._rebuild_parameter',
    'torch.FloatStorage',
    'torch.BFloat16Storage',
    'torch.float32',
    'torch.Size',
    'collections.OrderedDict',
    'numpy.core.multiarray._reconstruct',
    'numpy.dtype',
    'builtins.set',
    '__builtin__.frozenset',
    'builtins.slice',
    '_codecs.encode',
  ])('allows %s', (g) => {
    expect(globalRisk(g)).toBe('safe');
  });
  it('calls other names unknown, and extra safe prefixes allow them', () => {
    expect(globalRisk('__main__.Net')).toBe('unknown');
    expect(globalRisk('sklearn.svm._classes.SVC')).toBe('unknown');
    expect(globalRisk('sklearn.svm._classes.SVC', ['sklearn.*'])).toBe('safe');
    expect(globalRisk('sklearnx.Evil', ['sklearn.*'])).toBe('unknown');
    // An allowlisted prefix never clears a dangerous name.
    expect(globalRisk('os.system', ['os.*'])).toBe('dangerous');
  });
  it('turns globals into one error and one warning, nothing when clean', () => {
    expect(pickleSecurity(['collections.OrderedDict', 'torch.FloatStorage'], 'data.pkl')).toEqual([]);
    expect(pickleSecurity(['__main__.Net', 'collections.OrderedDict', 'os.system'], 'data.pkl')).toEqual([
      {
        severity: 'error',
        code: 'security',
        message: 'unsafe-deserialization: data.pkl imports os.system, which can run code or touch the system when the pickle is loaded.',
      },
      {
        severity: 'warning',
        code: 'security',
        message: 'unsafe-deserialization: data.pkl imports __main__.Net, outside the allowlist of known-safe constructors; loading it imports and calls them.',
      },
    ]);
  });
});

describe.skipIf(!hasPython)('pickle: real pickles written by python3 (skipped without python3)', () => {
  it.each([0, 1, 2, 3, 4, 5])('finds the globals pickletools shows in protocol %i pickles of stdlib classes', (proto) => {
    // pickletools only lists opcodes (nothing is unpickled); STACK_GLOBAL operands are followed through
    // the memo as the strings they were stored as.
    const out = python(
      `import pickle, pickletools, datetime, decimal, fractions, uuid, collections, json, base64, sys
o = {'t': datetime.datetime(2024, 1, 2, 3, 4, 5), 'd': decimal.Decimal('1.5'), 'f': fractions.Fraction(1, 3), 'u': uuid.UUID(int=5),
     'od': collections.OrderedDict(a=1), 'dd': collections.defaultdict(list, a=[1]), 'd2': datetime.date(2020, 1, 1), 'c': complex(1, 2),
     'r': range(3), 's': slice(1, 2), 'again': datetime.datetime(2025, 1, 1)}
b = pickle.dumps(o, protocol=${proto})
memo, stack, found = {}, [], set()
for op, arg, pos in pickletools.genops(b):
    n = op.name
    if n in ('GLOBAL', 'INST'): found.add(arg.replace(' ', '.'))
    if n in ('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE', 'STRING', 'BINSTRING', 'SHORT_BINSTRING'): stack.append(arg)
    elif n == 'MEMOIZE': memo[len(memo)] = stack[-1] if stack else None
    elif n in ('BINPUT', 'LONG_BINPUT', 'PUT'): memo[arg] = stack[-1] if stack else None
    elif n in ('BINGET', 'LONG_BINGET', 'GET'): stack.append(memo.get(arg))
    elif n == 'STACK_GLOBAL': found.add(stack[-2] + '.' + stack[-1]); stack.append(None)
    else: stack.append(None)
sys.stdout.write(json.dumps({'pickle': base64.b64encode(b).decode(), 'globals': sorted(found)}))`,
    )!;
    const { pickle, globals } = JSON.parse(new TextDecoder().decode(out)) as { pickle: string; globals: string[] };
    const s = read(Uint8Array.from(Buffer.from(pickle, 'base64')));
    expect(s.stopped).toBeUndefined();
    expect(s.globals).toEqual(globals);
    expect(s.globals).toContain('decimal.Decimal');
    // Every one of them is outside the allowlist except the containers: judged, not dangerous.
    expect(s.globals.filter((g) => globalRisk(g) === 'dangerous')).toEqual([]);
  });

  it.each([0, 1, 2, 3, 4, 5])('reads protocol %i dicts, lists, tuples, sets and OrderedDicts like pickle does', (proto) => {
    const bytes = python(
      `import pickle, sys, collections
o = {'name': 'net', 'n': 2**70, 'neg': -3, 'f': 1.5, 'l': [1, 'two', None, True], 't': (1, 2, 3), 's': {4}, 'fs': frozenset([5]), 'b': b'\\x00' * 300,
     'od': collections.OrderedDict([('a', 1), ('b', 2)]), 'u': 'caf\\u00e9 \\u4e2d'}
o['again'] = o['l']
sys.stdout.buffer.write(pickle.dumps(o, protocol=${proto}))`,
    )!;
    const s = read(bytes);
    expect(s.stopped).toBeUndefined();
    expect(s.end).toBe(bytes.length);
    expect(s.protocol).toBe(proto >= 2 ? proto : 0);
    expect(s.globals).toContain('collections.OrderedDict');
    expect(keys(s.result)).toEqual(['name', 'n', 'neg', 'f', 'l', 't', 's', 'fs', 'b', 'od', 'u', 'again']);
    const d = s.result;
    if (d?.k !== 'dict') throw new Error('not a dict');
    const get = (k: string): Sym | undefined => d.entries.find(([key]) => symString(key) === k)?.[1];
    expect(get('name')).toEqual({ k: 'str', v: 'net', truncated: false });
    expect(get('n')).toEqual({ k: 'int', v: 2n ** 70n });
    expect(get('neg')).toEqual({ k: 'int', v: -3n });
    expect(get('u')).toEqual({ k: 'str', v: 'café 中', truncated: false });
    expect(get('again')).toBe(get('l')); // the memo shares the object, as pickle does
    expect(pickleSecurity(s.globals, 'x')).toEqual([]);
  });
});
