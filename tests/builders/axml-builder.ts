/**
 * A binary XML (AXML) writer for tests, shaped like aapt2's output: RES_XML_TYPE header, a string pool
 * (UTF-16 by default, UTF-8 on request), a resource map for the android attributes it knows, and
 * start/end element chunks. Attribute values are strings (TYPE_STRING), numbers (TYPE_INT_DEC) or
 * booleans. `obfuscateNames` empties attribute names, leaving only resource ids, as shrinkers do.
 */

export interface XmlNode {
  name: string;
  attrs?: Record<string, string | number | boolean>;
  children?: XmlNode[];
}

const ATTR_IDS: Record<string, number> = {
  name: 0x01010003,
  value: 0x01010024,
  versionCode: 0x0101021b,
  versionName: 0x0101021c,
  minSdkVersion: 0x0101020c,
  targetSdkVersion: 0x01010270,
};
const ANDROID_NS = 'http://schemas.android.com/apk/res/android';

class W {
  b: number[] = [];
  u8(v: number): void {
    this.b.push(v & 0xff);
  }
  u16(v: number): void {
    this.b.push(v & 0xff, (v >> 8) & 0xff);
  }
  u32(v: number): void {
    this.b.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
}

export function buildAxml(root: XmlNode, opts: { utf8?: boolean; obfuscateNames?: boolean } = {}): Uint8Array {
  // Resource-mapped attribute names come first in the pool, as aapt orders them.
  const attrNames = new Set<string>();
  const walk = (n: XmlNode): void => {
    for (const k of Object.keys(n.attrs ?? {})) attrNames.add(k);
    for (const c of n.children ?? []) walk(c);
  };
  walk(root);
  const mapped = [...attrNames].filter((a) => ATTR_IDS[a] !== undefined);
  const strings: string[] = opts.obfuscateNames ? mapped.map(() => '') : [...mapped];
  const index = new Map<string, number>();
  for (const [i, a] of mapped.entries()) index.set(`attr:${a}`, i);
  const str = (s: string): number => {
    const k = `s:${s}`;
    if (!index.has(k)) {
      index.set(k, strings.length);
      strings.push(s);
    }
    return index.get(k)!;
  };
  const attrIdx = (a: string): number => index.get(`attr:${a}`) ?? str(a);
  str(ANDROID_NS);

  const body = new W();
  const emit = (n: XmlNode): void => {
    const attrs = Object.entries(n.attrs ?? {});
    const nameIdx = str(n.name);
    const attrIdxs = attrs.map(([k, v]) => [attrIdx(k), typeof v === 'string' ? str(v) : -1, v] as const);
    body.u16(0x0102);
    body.u16(16);
    body.u32(16 + 20 + attrs.length * 20);
    body.u32(1); // line
    body.u32(0xffffffff); // comment
    body.u32(0xffffffff); // ns
    body.u32(nameIdx);
    body.u16(20); // attributeStart
    body.u16(20); // attributeSize
    body.u16(attrs.length);
    body.u16(0);
    body.u16(0);
    body.u16(0);
    for (const [k, sv, v] of attrIdxs) {
      body.u32(ATTR_IDS[strings[k] ?? ''] !== undefined || opts.obfuscateNames ? str(ANDROID_NS) : 0xffffffff);
      body.u32(k);
      body.u32(sv >= 0 ? sv : 0xffffffff);
      body.u16(8);
      body.u8(0);
      if (typeof v === 'string') {
        body.u8(0x03);
        body.u32(sv);
      } else if (typeof v === 'boolean') {
        body.u8(0x12);
        body.u32(v ? 0xffffffff : 0);
      } else {
        body.u8(0x10);
        body.u32(v);
      }
    }
    for (const c of n.children ?? []) emit(c);
    body.u16(0x0103);
    body.u16(16);
    body.u32(24);
    body.u32(1);
    body.u32(0xffffffff);
    body.u32(0xffffffff);
    body.u32(nameIdx);
  };
  emit(root);

  // String pool.
  const data = new W();
  const offsets: number[] = [];
  for (const s of strings) {
    offsets.push(data.b.length);
    if (opts.utf8) {
      const bytes = new TextEncoder().encode(s);
      data.u8(s.length);
      data.u8(bytes.length);
      data.b.push(...bytes, 0);
    } else {
      data.u16(s.length);
      for (let i = 0; i < s.length; i++) data.u16(s.charCodeAt(i));
      data.u16(0);
    }
  }
  while (data.b.length % 4 !== 0) data.u8(0);
  const pool = new W();
  const poolHeader = 28;
  pool.u16(0x0001);
  pool.u16(poolHeader);
  pool.u32(poolHeader + strings.length * 4 + data.b.length);
  pool.u32(strings.length);
  pool.u32(0);
  pool.u32(opts.utf8 ? 0x100 : 0);
  pool.u32(poolHeader + strings.length * 4);
  pool.u32(0);
  for (const o of offsets) pool.u32(o);
  pool.b.push(...data.b);

  const map = new W();
  map.u16(0x0180);
  map.u16(8);
  map.u32(8 + mapped.length * 4);
  for (const a of mapped) map.u32(ATTR_IDS[a]!);

  const out = new W();
  out.u16(0x0003);
  out.u16(8);
  out.u32(8 + pool.b.length + map.b.length + body.b.length);
  out.b.push(...pool.b, ...map.b, ...body.b);
  return Uint8Array.from(out.b);
}

/** A typical app manifest. */
export function manifest(o: {
  package: string;
  versionCode?: number;
  versionName?: string;
  minSdk?: number;
  targetSdk?: number;
  permissions?: string[];
  metaData?: Record<string, string>;
}): XmlNode {
  const attrs: Record<string, string | number> = { package: o.package };
  if (o.versionCode !== undefined) attrs.versionCode = o.versionCode;
  if (o.versionName !== undefined) attrs.versionName = o.versionName;
  const sdk: Record<string, number> = {};
  if (o.minSdk !== undefined) sdk.minSdkVersion = o.minSdk;
  if (o.targetSdk !== undefined) sdk.targetSdkVersion = o.targetSdk;
  return {
    name: 'manifest',
    attrs,
    children: [
      { name: 'uses-sdk', attrs: sdk },
      ...(o.permissions ?? []).map((p) => ({ name: 'uses-permission', attrs: { name: p } })),
      {
        name: 'application',
        attrs: { name: 'App' },
        children: Object.entries(o.metaData ?? {}).map(([name, value]) => ({ name: 'meta-data', attrs: { name, value } })),
      },
    ],
  };
}
