import { describe, expect, it } from 'vitest';
import { template, templateMetadataSchema } from '../../src/formats/_template.js';
import { formats } from '../../src/formats/index.js';
import { FormatError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { signatureAt } from '../../src/detect/signature.js';
import { expectConforms } from '../helpers/conformance.js';

// The template for new formats is compiled and unregistered; these tests keep it working, so that a
// format copied from it starts from code that runs.

/** A template model: 'TMPL', version, tensors given as [type code, dims], a name; then fake weights. */
function sample(opts: { version?: number; name?: string; tensors?: Array<[number, number[]]>; nameLength?: number } = {}): Uint8Array {
  const name = new TextEncoder().encode(opts.name ?? 'tiny');
  const tensors = opts.tensors ?? [
    [0, [2, 3]],
    [1, [4]],
  ];
  const bytes: number[] = [0x54, 0x4d, 0x50, 0x4c];
  const u16 = (v: number): void => void bytes.push(v & 0xff, (v >>> 8) & 0xff);
  const u32 = (v: number): void => void bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  u16(opts.version ?? 1);
  u16(tensors.length);
  u32(opts.nameLength ?? name.length);
  bytes.push(...name);
  for (const [type, dims] of tensors) {
    bytes.push(type, dims.length);
    for (const d of dims) u32(d);
  }
  bytes.push(...new Array<number>(16).fill(0xee)); // weights, never read
  return Uint8Array.from(bytes);
}

async function inspect(bytes: Uint8Array): Promise<Record<string, unknown>> {
  const src = new BufferSource(bytes);
  return (await template.inspect(src, createProbe(src, 'model.tmpl'), { limits: DEFAULT_LIMITS })).metadata;
}

const matches = (bytes: Uint8Array): boolean => template.match(createProbe(new BufferSource(bytes), 'x.tmpl'));

describe('format template', () => {
  it('is not registered', () => {
    expect(formats.map((f) => f.id)).not.toContain(template.id);
  });

  it('matches its own sample and declares the magic it matches on', () => {
    const bytes = sample();
    expect(matches(bytes)).toBe(true);
    expect(template.signatures.every((s) => signatureAt(bytes, s))).toBe(true);
  });

  it('rejects look-alikes: the magic with an unknown version, the magic as text, another magic', () => {
    expect(matches(sample({ version: 2 }))).toBe(false);
    expect(matches(new TextEncoder().encode('TMPL is a word in this text file'))).toBe(false);
    const other = sample();
    other[0] = 0x58; // 'XMPL'
    expect(matches(other)).toBe(false);
    expect(matches(new Uint8Array(0))).toBe(false);
  });

  it('inspects into metadata that matches its schema, and a card that matches the card schema', async () => {
    const md = await inspect(sample());
    expect(md).toEqual({
      version: 1,
      name: 'tiny',
      tensors: [
        { type: 'float32', shape: [2, 3] },
        { type: 'int8', shape: [4] },
      ],
      parameters: 10,
    });
    const card = expectConforms(template, md);
    expect(card).toEqual({
      name: 'tiny',
      format: '_template',
      formatVersion: '1',
      inputs: [],
      outputs: [],
      parameters: 10,
      weightTypes: ['float32', 'int8'],
      quantized: true,
      operators: [],
      customOperators: false,
    });
    expect(templateMetadataSchema.safeParse({ ...md, producer: 'x' }).success).toBe(false);
  });

  it('fails with a FormatError naming the field and value on truncated or hostile headers', async () => {
    const full = sample();
    await expect(inspect(full.subarray(0, 14))).rejects.toThrow(/name at offset 12 needs 4 bytes, 2 remain/);
    await expect(inspect(sample({ nameLength: 0xffffffff }))).rejects.toThrow(/name length 4294967295 is outside \[0, 4096\]/);
    await expect(inspect(sample({ tensors: [[0, new Array<number>(9).fill(1)]] }))).rejects.toThrow(/tensor 0 rank 9 is outside \[0, 8\]/);
    await expect(inspect(sample({ version: 3 }))).rejects.toBeInstanceOf(FormatError);
  });

  it('keeps counts exact on hostile dims, and names unknown element types', async () => {
    const md = await inspect(sample({ name: '', tensors: [[7, new Array<number>(8).fill(0xffffffff)]] }));
    expect(md.parameters).toBe(Number.MAX_SAFE_INTEGER);
    expect(md.name).toBeUndefined();
    expect(expectConforms(template, md).weightTypes).toEqual(['unknown(7)']);
  });
});
