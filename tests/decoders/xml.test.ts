import { describe, expect, it } from 'vitest';
import { leadingElements, XmlTokenizer, type XmlToken } from '../../src/decoders/xml.js';
import { FormatError } from '../../src/errors.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function tokens(text: string): XmlToken[] {
  const t = new XmlTokenizer(text, { label: 'test XML' });
  const out: XmlToken[] = [];
  for (let tok = t.next(); tok !== undefined; tok = t.next()) out.push(tok);
  return out;
}

describe('xml tokenizer', () => {
  it('yields start tags with attributes, text, CDATA and end tags, skipping prolog and comments', () => {
    const toks = tokens('\ufeff<?xml version="1.0"?>\n<!DOCTYPE a>\n<!-- c --><a x="1" y=\'two\'><b/>t&amp;u<![CDATA[<raw>]]></a>\n');
    expect(
      toks.map((t) => (t.kind === 'open' ? `<${t.name} ${JSON.stringify(t.attrs)}${t.selfClosing ? '/' : ''}>` : t.kind === 'close' ? `</${t.name}>` : t.text)),
    ).toEqual(['<a {"x":"1","y":"two"}>', '<b {}/>', '</b>', 't&u', '<raw>', '</a>']);
  });

  it('keeps the path of open elements', () => {
    const t = new XmlTokenizer('<a><b><c/></b></a>', { label: 'x' });
    const paths: string[] = [];
    for (let tok = t.next(); tok !== undefined; tok = t.next()) paths.push(`${tok.kind}:${t.path.join('/')}`);
    expect(paths).toEqual(['open:a', 'open:a/b', 'open:a/b/c', 'close:a/b', 'close:a', 'close:']);
  });

  it.each([
    ['', 'the document holds no element.'],
    ['text', 'text outside the root element at offset 0.'],
    ['<a x=1/>', 'attribute x of <a> at offset 5 is not quoted.'],
    ['<a x="<"/>', "attribute x of <a> at offset 5 holds '<'."],
    ['<a x="1"y="2"/>', 'start tag <a> at offset 0 has no space before its attribute at offset 8.'],
    ['<a>&#0;</a>', 'entity &#0; near offset 3 is not one of the five predefined entities or a character reference.'],
    ['<a>& b</a>', "an '&' at offset 3 does not start an entity."],
    ['<a><b></a>', 'end tag </a> at offset 6 does not match <b>.'],
    ['<a>', 'element <a> is not closed at the end of the document.', 'truncated'],
    ['<a x="1', 'the document ends inside an attribute value at offset 7.', 'truncated'],
  ])('rejects %j', (text, message, code = 'format') => {
    let err: unknown;
    try {
      tokens(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect({ message: (err as FormatError).message, code: (err as FormatError).code }).toEqual({ message: `Invalid test XML: ${message}`, code });
  });

  it('gives up after its token budget', () => {
    const t = new XmlTokenizer(`<a>${'<b/>'.repeat(100)}</a>`, { label: 'x', maxTokens: 50 });
    expect(() => {
      while (t.next() !== undefined);
    }).toThrow('more than 50 tokens');
  });

  it('reads the leading elements of a head cut anywhere, and nothing of a malformed one', () => {
    const head = enc('<?xml version="1.0"?><net name="n" version="11"><layers><layer id="0" na');
    expect(leadingElements(head, 5).map((e) => e.name)).toEqual(['net', 'layers']);
    expect(leadingElements(enc('<a><b x=1>'), 5).map((e) => e.name)).toEqual(['a']);
    expect(leadingElements(enc('\u0000\u0001'), 5)).toEqual([]);
  });
});
