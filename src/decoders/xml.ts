import { FormatError } from '../errors.js';

/**
 * A small, bounded, pull XML tokenizer for model descriptors (OpenVINO IR today; OpenCV cascades and
 * others later). It turns a string into start tags with their attributes, end tags and text, and checks
 * that tags nest and match. Why our own: descriptors are written by tools, plain and regular, and a
 * general XML library would bring entity expansion and a DOM of the whole file; here nothing is
 * expanded but the five predefined entities and character references, and nothing is kept but the
 * current path.
 *
 * Bounds, each a FormatError naming the offset: nesting depth, attributes per element, name length,
 * and a work budget of tokens (the caller sizes the input itself: read at most a limit of bytes).
 *
 * Not handled (a FormatError where it matters, skipped where it does not): DOCTYPE internal subsets
 * (refused: they declare entities we will not expand), namespaces (a prefixed name is kept whole),
 * encodings other than UTF-8, and validation of names beyond their characters being plausible.
 */

/** One token. `open` carries the attributes; a self-closing tag yields `open` with `selfClosing`, then no `close`. */
export type XmlToken =
  | { kind: 'open'; name: string; attrs: Readonly<Record<string, string>>; selfClosing: boolean; offset: number }
  | { kind: 'close'; name: string; offset: number }
  | { kind: 'text'; text: string; offset: number };

export interface XmlTokenizerOptions {
  /** Names the document in errors: `Invalid ${label}: ...`. */
  label: string;
  /** Deepest element nesting; 256 by default. */
  maxDepth?: number;
  /** Attributes per element; 1024 by default. */
  maxAttributes?: number;
  /** Tokens before the tokenizer gives up; 50 million by default. */
  maxTokens?: number;
  /**
   * True when `text` is only the first part of a document (a probe's head): running out of input inside
   * a tag then ends the tokens quietly instead of failing as truncated.
   */
  partial?: boolean;
}

const MAX_NAME = 256;
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** True for characters a tag or attribute name may hold (letters, digits, `_ : . -` and non-ASCII). */
function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x3a || c === 0x2e || c === 0x2d || c >= 0x80;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Reads tokens of one document in order; `next()` returns undefined at the end. */
export class XmlTokenizer {
  private pos = 0;
  private tokens = 0;
  private readonly stack: string[] = [];
  private readonly maxDepth: number;
  private readonly maxAttributes: number;
  private readonly maxTokens: number;
  private readonly label: string;
  private readonly partial: boolean;
  private pendingClose: string | undefined;
  private rootSeen = false;
  private done = false;

  constructor(
    private readonly text: string,
    options: XmlTokenizerOptions,
  ) {
    this.label = options.label;
    this.maxDepth = options.maxDepth ?? 256;
    this.maxAttributes = options.maxAttributes ?? 1024;
    this.maxTokens = options.maxTokens ?? 50_000_000;
    this.partial = options.partial ?? false;
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1; // byte order mark
  }

  /** Names of the open elements, outermost first (the current path). */
  get path(): readonly string[] {
    return this.stack;
  }

  private fail(message: string, truncated = false): never {
    throw new FormatError(`Invalid ${this.label}: ${message}`, truncated ? 'truncated' : 'format');
  }

  /** Ends the tokens when the input is partial, else fails as truncated. */
  private cut(what: string): undefined {
    if (this.partial) {
      this.done = true;
      return undefined;
    }
    return this.fail(`the document ends inside ${what} at offset ${this.text.length}.`, true);
  }

  private spend(): void {
    if (++this.tokens > this.maxTokens) this.fail(`more than ${this.maxTokens} tokens; no model descriptor is that large.`);
  }

  /** The next token, or undefined at the end of the document (after checking every element was closed). */
  next(): XmlToken | undefined {
    if (this.pendingClose !== undefined) {
      const name = this.pendingClose;
      this.pendingClose = undefined;
      this.stack.pop();
      return { kind: 'close', name, offset: this.pos };
    }
    const s = this.text;
    while (!this.done) {
      if (this.pos >= s.length) {
        if (this.stack.length > 0 && !this.partial) this.fail(`element <${this.stack[this.stack.length - 1]}> is not closed at the end of the document.`, true);
        if (!this.rootSeen && !this.partial) this.fail('the document holds no element.');
        this.done = true;
        return undefined;
      }
      const start = this.pos;
      if (s.charCodeAt(start) !== 0x3c) {
        // Text up to the next '<'.
        let end = s.indexOf('<', start);
        if (end < 0) end = s.length;
        this.pos = end;
        const raw = s.slice(start, end);
        if (this.stack.length === 0) {
          if (raw.trim() !== '') this.fail(`text outside the root element at offset ${start}.`);
          continue;
        }
        this.spend();
        return { kind: 'text', text: this.decode(raw, start), offset: start };
      }
      if (s.startsWith('<!--', start)) {
        const end = s.indexOf('-->', start + 4);
        if (end < 0) return this.cut('a comment');
        this.pos = end + 3;
        continue;
      }
      if (s.startsWith('<![CDATA[', start)) {
        const end = s.indexOf(']]>', start + 9);
        if (end < 0) return this.cut('a CDATA section');
        this.pos = end + 3;
        if (this.stack.length === 0) this.fail(`a CDATA section outside the root element at offset ${start}.`);
        this.spend();
        return { kind: 'text', text: s.slice(start + 9, end), offset: start };
      }
      if (s.startsWith('<?', start)) {
        const end = s.indexOf('?>', start + 2);
        if (end < 0) return this.cut('a processing instruction');
        this.pos = end + 2;
        continue;
      }
      if (s.startsWith('<!', start)) {
        const end = s.indexOf('>', start + 2);
        if (end < 0) return this.cut('a declaration');
        // A DOCTYPE with an internal subset declares entities; we expand none, so we refuse it.
        if (s.slice(start, end).includes('[')) this.fail(`a DOCTYPE with an internal subset at offset ${start} is not supported.`);
        this.pos = end + 1;
        continue;
      }
      if (s.charCodeAt(start + 1) === 0x2f) return this.closeTag(start);
      return this.openTag(start);
    }
    return undefined;
  }

  private name(at: number, what: string): { name: string; end: number } | undefined {
    const s = this.text;
    let p = at;
    while (p < s.length && isNameChar(s.charCodeAt(p))) p++;
    if (p >= s.length) return this.cut(what);
    if (p === at) this.fail(`${what} at offset ${at} has no name.`);
    if (p - at > MAX_NAME) this.fail(`${what} at offset ${at} has a name longer than ${MAX_NAME} characters.`);
    return { name: s.slice(at, p), end: p };
  }

  private closeTag(start: number): XmlToken | undefined {
    const s = this.text;
    const n = this.name(start + 2, 'an end tag');
    if (n === undefined) return undefined;
    let p = n.end;
    while (p < s.length && isSpace(s.charCodeAt(p))) p++;
    if (p >= s.length) return this.cut('an end tag');
    if (s.charCodeAt(p) !== 0x3e) this.fail(`end tag </${n.name}> at offset ${start} is not closed by '>'.`);
    const open = this.stack[this.stack.length - 1];
    if (open !== n.name) this.fail(`end tag </${n.name}> at offset ${start} does not match ${open === undefined ? 'any open element' : `<${open}>`}.`);
    this.stack.pop();
    this.pos = p + 1;
    this.spend();
    return { kind: 'close', name: n.name, offset: start };
  }

  private openTag(start: number): XmlToken | undefined {
    const s = this.text;
    if (this.stack.length === 0 && this.rootSeen) this.fail(`a second root element at offset ${start}.`);
    const n = this.name(start + 1, 'a start tag');
    if (n === undefined) return undefined;
    const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
    let count = 0;
    let p = n.end;
    for (;;) {
      const before = p;
      while (p < s.length && isSpace(s.charCodeAt(p))) p++;
      if (p >= s.length) return this.cut('a start tag');
      const c = s.charCodeAt(p);
      if (c === 0x3e || (c === 0x2f && s.charCodeAt(p + 1) === 0x3e)) {
        const selfClosing = c === 0x2f;
        this.pos = p + (selfClosing ? 2 : 1);
        if (this.stack.length >= this.maxDepth) this.fail(`elements nest deeper than ${this.maxDepth} levels at offset ${start}.`);
        this.stack.push(n.name);
        this.rootSeen = true;
        if (selfClosing) this.pendingClose = n.name;
        this.spend();
        return { kind: 'open', name: n.name, attrs, selfClosing, offset: start };
      }
      if (c === 0x2f && p + 1 >= s.length) return this.cut('a start tag');
      if (p === before) this.fail(`start tag <${n.name}> at offset ${start} has no space before its attribute at offset ${p}.`);
      const a = this.name(p, `an attribute of <${n.name}>`);
      if (a === undefined) return undefined;
      p = a.end;
      while (p < s.length && isSpace(s.charCodeAt(p))) p++;
      if (p >= s.length) return this.cut('a start tag');
      if (s.charCodeAt(p) !== 0x3d) this.fail(`attribute ${a.name} of <${n.name}> at offset ${p} has no '='.`);
      p++;
      while (p < s.length && isSpace(s.charCodeAt(p))) p++;
      if (p >= s.length) return this.cut('a start tag');
      const q = s.charCodeAt(p);
      if (q !== 0x22 && q !== 0x27) this.fail(`attribute ${a.name} of <${n.name}> at offset ${p} is not quoted.`);
      const end = s.indexOf(q === 0x22 ? '"' : "'", p + 1);
      if (end < 0) return this.cut('an attribute value');
      const raw = s.slice(p + 1, end);
      if (raw.includes('<')) this.fail(`attribute ${a.name} of <${n.name}> at offset ${p} holds '<'.`);
      if (Object.hasOwn(attrs, a.name)) this.fail(`attribute ${a.name} appears twice in <${n.name}> at offset ${start}.`);
      if (++count > this.maxAttributes) this.fail(`<${n.name}> at offset ${start} has more than ${this.maxAttributes} attributes.`);
      attrs[a.name] = this.decode(raw, p + 1);
      p = end + 1;
    }
  }

  /** Replaces the predefined entities and character references; any other entity is an error. */
  private decode(raw: string, at: number): string {
    if (!raw.includes('&')) return raw;
    return raw.replace(/&([^;&\s]{0,12});?/g, (m, body: string) => {
      if (!m.endsWith(';')) this.fail(`an '&' at offset ${at} does not start an entity.`);
      const named = ENTITIES[body];
      if (named !== undefined) return named;
      const code = body.startsWith('#x') ? Number.parseInt(body.slice(2), 16) : body.startsWith('#') ? Number.parseInt(body.slice(1), 10) : Number.NaN;
      if (!Number.isInteger(code) || code <= 0 || code > 0x10ffff)
        this.fail(`entity &${body}; near offset ${at} is not one of the five predefined entities or a character reference.`);
      return String.fromCodePoint(code);
    });
  }
}

/**
 * The first `n` start tags of a document's head, for cheap `match` functions: tolerant of the head
 * ending mid-tag, and of anything malformed (an empty list then, or the tags read so far).
 */
export function leadingElements(head: Uint8Array, n: number): { name: string; attrs: Readonly<Record<string, string>> }[] {
  // latin1 keeps offsets equal to bytes and never fails; names and ASCII attributes read the same.
  const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  const text = Buffer.from(head.buffer, head.byteOffset + bom, head.byteLength - bom).toString('latin1');
  const t = new XmlTokenizer(text, { label: 'XML', partial: true, maxTokens: 10_000 });
  const out: { name: string; attrs: Readonly<Record<string, string>> }[] = [];
  try {
    for (let tok = t.next(); tok !== undefined && out.length < n; tok = t.next()) if (tok.kind === 'open') out.push({ name: tok.name, attrs: tok.attrs });
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
  }
  return out;
}
