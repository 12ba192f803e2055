import crypto from 'node:crypto';

/**
 * Writes Rockchip firmware images the way the public packers do, for tests: an RKAF package as
 * afptool -pack writes it (rk2918_tools / rkflashtool's rkafp.h; the 4096-byte RK3562 header of
 * rk3562_tools for more than 16 items) and an RKFW update.img as rkImageMaker / img_maker writes it
 * (rkrom.h). Offsets are written from those headers here, independently of src/containers/rockchip.ts,
 * so the two check each other.
 *
 *   const rkaf = buildRkaf({ model: 'RK3568', items: [
 *     { name: 'parameter', fileName: 'parameter.txt', data: text },
 *     { name: 'boot', fileName: 'Image/boot.img', data: bytes, nandAddr: 0x8000, nandSize: 0x10000 },
 *     { name: 'backup', fileName: 'RESERVED' }, { name: 'update-script', fileName: 'SELF' },
 *   ] });
 *   const img = buildRkfw(loaderBytes, rkaf);
 */

/** One RKAF item. `data` is absent for 'SELF' and 'RESERVED'. */
export interface RkItem {
  name: string;
  fileName: string;
  data?: Uint8Array;
  nandAddr?: number;
  nandSize?: number;
}

export interface RkafOptions {
  model?: string;
  id?: string;
  manufacturer?: string;
  /** ROM_VERSION(a, b, c) = a << 24 | b << 16 | c. */
  version?: number;
  items: RkItem[];
  /** 2048 (classic, at most 16 items) or 4096 (RK3562, at most 35). */
  headerSize?: 2048 | 4096;
  /** Written in the count field instead of the number of items (hostile variants). */
  declaredCount?: number;
}

const RKCRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c10db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** rkflashtool's RKCRC: CRC-32 MSB first, polynomial 0x04C10DB7, initial value 0, no final xor. */
export function rkcrc(data: Uint8Array, crc = 0): number {
  let c = crc >>> 0;
  for (let i = 0; i < data.length; i++) c = ((c << 8) ^ (RKCRC_TABLE[((c >>> 24) ^ (data[i] as number)) & 0xff] as number)) >>> 0;
  return c;
}

const pad = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * An RKAF package: the header, then each item padded to 2048 bytes at its recorded position (the
 * 'parameter' item wrapped as 'PARM', u32 length, text, u32 RKCRC), then the RKCRC of everything.
 * 'SELF' items get the package's own size (length + 4); 'RESERVED' items hold nothing.
 */
export function buildRkaf(o: RkafOptions): Buffer {
  const headerSize = o.headerSize ?? 2048;
  const header = Buffer.alloc(headerSize);
  const bodies: Buffer[] = [];
  let pos = headerSize;
  o.items.forEach((it, i) => {
    const at = 0x8c + i * 112;
    if (at + 112 > headerSize) throw new Error(`${o.items.length} items do not fit a ${headerSize}-byte header`);
    header.write(it.name, at, 32, 'latin1');
    header.write(it.fileName, at + 32, 60, 'latin1');
    header.writeUInt32LE(it.nandSize ?? 0, at + 0x5c);
    header.writeUInt32LE(it.nandAddr ?? 0xffffffff, at + 0x64);
    if (it.fileName === 'SELF' || it.fileName === 'RESERVED' || it.data === undefined) return;
    let body: Buffer = Buffer.from(it.data);
    if (it.name === 'parameter') {
      const wrapped = Buffer.alloc(8 + body.length + 4);
      wrapped.write('PARM', 0, 'latin1');
      wrapped.writeUInt32LE(body.length, 4);
      body.copy(wrapped, 8);
      wrapped.writeUInt32LE(rkcrc(body), 8 + body.length);
      body = wrapped;
    }
    const padded = Buffer.alloc(pad(Math.max(body.length, 1), 2048));
    body.copy(padded);
    header.writeUInt32LE(pos, at + 0x60);
    header.writeUInt32LE(padded.length, at + 0x68);
    header.writeUInt32LE(body.length, at + 0x6c);
    bodies.push(padded);
    pos += padded.length;
  });
  header.write('RKAF', 0, 'latin1');
  header.writeUInt32LE(pos, 4); // length: everything but the trailing CRC
  header.write(o.model ?? 'RK3568', 0x08, 34, 'latin1');
  header.write(o.id ?? '', 0x2a, 30, 'latin1');
  header.write(o.manufacturer ?? 'ROCKCHIP', 0x48, 56, 'latin1');
  header.writeUInt32LE(o.version ?? (1 << 24) | (2 << 16) | 3, 0x84);
  header.writeUInt32LE(o.declaredCount ?? o.items.length, 0x88);
  o.items.forEach((it, i) => {
    if (it.fileName === 'SELF') {
      const at = 0x8c + i * 112;
      header.writeUInt32LE(pos + 4, at + 0x6c);
      header.writeUInt32LE(pad(pos + 4, 512), at + 0x68);
    }
  });
  const body = Buffer.concat([header, ...bodies]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(rkcrc(body));
  return Buffer.concat([body, crc]);
}

/** A loader as the RKFW carries it: 'BOOT' magic, header length, then bytes. */
export function fakeLoader(size = 3000): Buffer {
  const b = crypto.randomBytes(size);
  b.write('BOOT', 0, 'latin1');
  b.writeUInt16LE(0x66, 4);
  return b;
}

/**
 * An RKFW update.img: the 0x66-byte header (offsets of rkrom.h), the loader at 0x66, the RKAF right
 * after it, then the MD5 of everything before, as 32 hex characters.
 */
export function buildRkfw(loader: Uint8Array, rkaf: Uint8Array, o: { chip?: number; date?: Date } = {}): Buffer {
  const h = Buffer.alloc(0x66);
  const date = o.date ?? new Date(Date.UTC(2024, 4, 17, 10, 20, 30));
  h.write('RKFW', 0, 'latin1');
  h.writeUInt16LE(0x66, 0x04);
  h.writeUInt32LE(rkaf.length >= 0x88 ? Buffer.from(rkaf).readUInt32LE(0x84) : 0, 0x06);
  h.writeUInt32LE(0x01030000, 0x0a);
  h.writeUInt16LE(date.getUTCFullYear(), 0x0e);
  h[0x10] = date.getUTCMonth() + 1;
  h[0x11] = date.getUTCDate();
  h[0x12] = date.getUTCHours();
  h[0x13] = date.getUTCMinutes();
  h[0x14] = date.getUTCSeconds();
  h.writeUInt32LE(o.chip ?? 0x33353638, 0x15);
  h.writeUInt32LE(0x66, 0x19);
  h.writeUInt32LE(loader.length, 0x1d);
  h.writeUInt32LE(0x66 + loader.length, 0x21);
  h.writeUInt32LE(rkaf.length, 0x25);
  h.writeUInt32LE(1, 0x2d);
  const body = Buffer.concat([h, loader, rkaf]);
  return Buffer.concat([body, Buffer.from(crypto.createHash('md5').update(body).digest('hex'), 'latin1')]);
}
