import { describe, expect, it } from 'vitest';
import type { ContainerReader } from '../../src/containers/types.js';
import { describeError, FormatError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { makeContext } from './container-context.js';
import { listsTyped, survivesByteFlips } from './hostile.js';

/** A reader whose walk or member open fails the way `fail` says. */
function failing(where: 'walk' | 'open', fail: () => never): ContainerReader {
  return {
    id: 'failing',
    description: 'a reader that fails on purpose, for the helpers test',
    kind: 'other',
    signatures: [],
    match: () => true,
    async *entries() {
      if (where === 'walk') fail();
      yield { path: 'm', type: 'file', open: () => Promise.resolve().then(fail) };
    },
  };
}

// The hostile-input helpers are what every container's corruption tests rely on: they must fail on
// an untyped error (reported as `internal`), or those tests could not fail.
describe('hostile-input helpers', () => {
  const rangeError = (): never => {
    throw new RangeError('index out of range');
  };
  const formatError = (): never => {
    throw new FormatError('Invalid thing: field x is 3.', 'truncated');
  };

  it('describeError calls an untyped error internal, never truncated', () => {
    expect(describeError(new RangeError('x')).code).toBe('internal');
    expect(describeError(new TypeError('x')).code).toBe('internal');
    expect(describeError(Object.assign(new Error('EIO'), { code: 'EIO', syscall: 'read' })).code).toBe('io');
  });

  it('accept typed errors, from the walk or from a member', async () => {
    expect(await listsTyped(failing('walk', formatError), new Uint8Array(1), makeContext('x'), 'walk')).toBe('truncated');
    expect(await listsTyped(failing('open', formatError), new Uint8Array(1), makeContext('x'), 'open')).toBe('ok');
  });

  it('fail on an untyped error, from the walk or from a member', async () => {
    await expect(listsTyped(failing('walk', rangeError), new Uint8Array(1), makeContext('x'), 'walk')).rejects.toThrow();
    await expect(listsTyped(failing('open', rangeError), new Uint8Array(1), makeContext('x'), 'open')).rejects.toThrow(/error:internal/);
    await expect(survivesByteFlips(failing('open', rangeError), new Uint8Array(4), 1, () => makeContext('x'))).rejects.toThrow();
  });

  it('fail on a problem coded internal', async () => {
    const reader: ContainerReader = {
      ...failing('walk', formatError),
      async *entries(_src, ctx) {
        ctx.problem({ severity: 'error', code: 'internal', message: 'a bug' });
        yield* [];
      },
    };
    await expect(listsTyped(reader, new BufferSource(new Uint8Array(1)).read(0, 1), makeContext('x'), 'problem')).rejects.toThrow(/a bug/);
  });
});
