import { describe, expect, it } from 'vitest';
import { describeSignature, SignatureTable } from '../../src/detect/dispatch.js';
import { magicBytes, signatureAt } from '../../src/detect/signature.js';

const head = (s: string, pad = 0): Uint8Array => {
  const b = new Uint8Array(pad + s.length);
  for (let i = 0; i < s.length; i++) b[pad + i] = s.charCodeAt(i);
  return b;
};

describe('SignatureTable', () => {
  const a = {
    id: 'a',
    signatures: [
      { offset: 0, magic: 'PK\x03\x04' },
      { offset: 0, magic: 'PK\x05\x06' },
    ],
  };
  const b = { id: 'b', signatures: [{ offset: 4, magic: 'TFL3' }] };
  const s1 = { id: 's1', signatures: [] };
  const c = { id: 'c', signatures: [{ offset: 0, magic: [0x1f, 0x8b] }] };
  const s2 = { id: 's2' };
  const table = new SignatureTable([a, b, s1, c, s2]);
  const ids = (h: Uint8Array): string[] => table.candidates(h).map((x) => x.detector.id);

  it('returns detectors whose magic is present plus structural ones, in registry order, each once', () => {
    expect(ids(head('PK\x03\x04rest'))).toEqual(['a', 's1', 's2']);
    expect(ids(head('PK\x05\x06'))).toEqual(['a', 's1', 's2']);
    expect(ids(head('\x1c\x00\x00\x00TFL3'))).toEqual(['b', 's1', 's2']);
    expect(ids(head('\x1f\x8b\x08'))).toEqual(['s1', 'c', 's2']);
    expect(ids(head('nothing'))).toEqual(['s1', 's2']);
  });
  it('never reads past a short head, and needs the whole magic', () => {
    expect(ids(head('PK\x03'))).toEqual(['s1', 's2']);
    expect(ids(head('\x00\x00\x00\x00TFL'))).toEqual(['s1', 's2']);
    expect(ids(new Uint8Array(0))).toEqual(['s1', 's2']);
  });
  it('names the signature that matched, for evidence', () => {
    expect(table.candidates(head('\x00\x00\x00\x00TFL3'))[0]!.signature).toEqual({ offset: 4, magic: 'TFL3' });
    expect(describeSignature({ offset: 4, magic: 'TFL3' })).toBe("'TFL3' at offset 4");
    expect(describeSignature({ offset: 0, magic: [0x1f, 0x8b, 0x08] })).toBe('1f 8b 08 at offset 0');
  });
  it('rejects an empty magic at construction', () => {
    expect(() => new SignatureTable([{ id: 'x', signatures: [{ offset: 0, magic: '' }] }])).toThrow(/at least one byte/);
  });
  it('signatureAt and magicBytes agree with the table', () => {
    expect(magicBytes({ offset: 0, magic: 'PK' })).toEqual(Uint8Array.from([0x50, 0x4b]));
    expect(signatureAt(head('xxxxTFL3'), { offset: 4, magic: 'TFL3' })).toBe(true);
    expect(signatureAt(head('xxxxTFL'), { offset: 4, magic: 'TFL3' })).toBe(false);
  });
});
