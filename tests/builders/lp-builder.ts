import crypto from 'node:crypto';
import fs from 'node:fs';

/**
 * Writes Android dynamic-partition images (super.img) following the published liblp layout
 * (AOSP system/core/fs_mgr/liblp: metadata_format.h, utility.cpp's GetPrimaryMetadataOffset and
 * GetBackupMetadataOffset, writer.cpp's table order), for tests and benchmarks. No Debian package
 * ships lpmake, so this is the builder; it is written from the format description, independently of
 * src/containers/super.ts, and the tests check it against 7-Zip's LP handler and a python3 parser.
 *
 *   0       4096 reserved zero bytes
 *   4096    LpMetadataGeometry (52 bytes, sha256 over itself with the checksum zeroed), 4096-byte block
 *   8192    the same geometry block again (backup)
 *   12288   primary metadata, slot 0 … slot N-1, each in a metadata_max_size area
 *   …       backup metadata, slot 0 … slot N-1
 *   first_logical_sector × 512 (aligned to `alignment`)   partition contents
 *
 *   const b = new LpBuilder({ slotCount: 2 })
 *     .partition('system_a').partition('system_b').partition('vendor_a')
 *     .linear('system_a', systemBytes)     // placed at the next free block
 *     .linear('vendor_a', '/tmp/vendor.img') // a file path works too
 *     .linear('system_a', moreBytes)       // system_a split around vendor_a
 *     .zero('vendor_a', 16);               // a ZERO extent of 16 sectors
 *   b.write('/tmp/super.img');             // or b.build() for a Buffer
 *   b.expected('system_a');                // what the partition reads as
 *
 * `build`/`write` take a `tamper` callback that edits the metadata model (entries, descriptor
 * overrides) before it is serialised with correct checksums, for hostile variants.
 */

export const LP_RESERVED_BYTES = 4096;
export const LP_GEOMETRY_SIZE = 4096;
export const LP_SECTOR = 512;
export const LP_GEOMETRY_MAGIC = 0x616c4467;
export const LP_HEADER_MAGIC = 0x414c5030;
export const LP_TARGET_LINEAR = 0;
export const LP_TARGET_ZERO = 1;

/** Bytes in memory, or the path of a file whose bytes are copied. */
export type LpContent = Uint8Array | string;

export interface LpPartitionEntry {
  /** Up to 36 bytes; a Uint8Array is written verbatim (for hostile names). */
  name: string | Uint8Array;
  attributes: number;
  firstExtentIndex: number;
  numExtents: number;
  groupIndex: number;
}

export interface LpExtentEntry {
  numSectors: bigint;
  targetType: number;
  targetData: bigint;
  targetSource: number;
}

export interface LpGroupEntry {
  name: string;
  flags: number;
  maximumSize: bigint;
}

export interface LpBlockDeviceEntry {
  firstLogicalSector: bigint;
  alignment: number;
  alignmentOffset: number;
  size: bigint;
  partitionName: string;
  flags: number;
}

/** Replaces fields of a table descriptor as written (after the real values are computed). */
export interface LpDescriptorOverride {
  offset?: number;
  numEntries?: number;
  entrySize?: number;
}

/** The metadata as serialised into every slot; `tamper` callbacks edit it. */
export interface LpMetadataModel {
  major: number;
  minor: number;
  /** Header flags (1.2 headers only). */
  flags: number;
  partitions: LpPartitionEntry[];
  extents: LpExtentEntry[];
  groups: LpGroupEntry[];
  blockDevices: LpBlockDeviceEntry[];
  overrides: { partitions?: LpDescriptorOverride; extents?: LpDescriptorOverride; groups?: LpDescriptorOverride; blockDevices?: LpDescriptorOverride };
  /** Extra bytes appended to the tables (counted in tables_size). */
  tablesPadding?: number;
}

export interface LpBuilderOptions {
  /** metadata_max_size (default 65536, lpmake's default). */
  metadataMaxSize?: number;
  /** metadata_slot_count (default 2: A/B). */
  slotCount?: number;
  /** logical_block_size (default 4096); extents start on multiples of it. */
  logicalBlockSize?: number;
  /** Alignment of first_logical_sector (default 1 MiB, lpmake's default). */
  alignment?: number;
  /** Header minor version 0, 1 or 2 (2 writes the 256-byte header). Default 0. */
  minor?: number;
  /** Device size; default the end of the last extent, aligned to `alignment`. */
  deviceSize?: number;
}

interface PlannedExtent {
  partition: number;
  kind: 'linear' | 'zero';
  sectors: number;
  /** Byte offset in the image (linear). */
  at: number;
  content?: LpContent;
  length: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

function contentLength(c: LpContent): number {
  return typeof c === 'string' ? fs.statSync(c).size : c.length;
}

/** Where liblp puts things, for tests that patch an image. */
export function lpOffsets(
  metadataMaxSize: number,
  slotCount: number,
): {
  primaryGeometry: number;
  backupGeometry: number;
  primaryMetadata(slot: number): number;
  backupMetadata(slot: number): number;
  metadataEnd: number;
} {
  const start = LP_RESERVED_BYTES + 2 * LP_GEOMETRY_SIZE;
  return {
    primaryGeometry: LP_RESERVED_BYTES,
    backupGeometry: LP_RESERVED_BYTES + LP_GEOMETRY_SIZE,
    primaryMetadata: (slot) => start + metadataMaxSize * slot,
    backupMetadata: (slot) => start + metadataMaxSize * slotCount + metadataMaxSize * slot,
    metadataEnd: start + 2 * metadataMaxSize * slotCount,
  };
}

/** Builds an LP (super) image; see the file comment. */
export class LpBuilder {
  readonly metadataMaxSize: number;
  readonly slotCount: number;
  readonly logicalBlockSize: number;
  readonly alignment: number;
  readonly minor: number;
  private readonly names: string[] = [];
  private readonly groupOf: number[] = [];
  private readonly attributes: number[] = [];
  private readonly groups: LpGroupEntry[] = [{ name: 'default', flags: 0, maximumSize: 0n }];
  private readonly planned: PlannedExtent[] = [];
  private next: number;
  private readonly deviceSizeOption: number | undefined;

  constructor(opts: LpBuilderOptions = {}) {
    this.metadataMaxSize = opts.metadataMaxSize ?? 65536;
    this.slotCount = opts.slotCount ?? 2;
    this.logicalBlockSize = opts.logicalBlockSize ?? 4096;
    this.alignment = opts.alignment ?? 1024 * 1024;
    this.minor = opts.minor ?? 0;
    this.deviceSizeOption = opts.deviceSize;
    this.next = this.firstLogicalByte;
  }

  /** first_logical_sector × 512: after the reserved block, both geometries and all metadata copies. */
  get firstLogicalByte(): number {
    return alignUp(lpOffsets(this.metadataMaxSize, this.slotCount).metadataEnd, this.alignment);
  }

  /** Adds a group (index returned by order: 'default' is 0). */
  group(name: string, maximumSize = 0): this {
    this.groups.push({ name, flags: 0, maximumSize: BigInt(maximumSize) });
    return this;
  }

  /** Declares a partition (table order = call order); it stays empty until extents are added. */
  partition(name: string, opts: { group?: number; attributes?: number } = {}): this {
    if (this.names.includes(name)) throw new Error(`partition ${name} declared twice`);
    this.names.push(name);
    this.groupOf.push(opts.group ?? 0);
    this.attributes.push(opts.attributes ?? 1 /* LP_PARTITION_ATTR_READONLY */);
    return this;
  }

  private index(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`partition ${name} is not declared`);
    return i;
  }

  /** Appends a LINEAR extent holding `content` (padded with zeros to whole sectors) at the next free block. */
  linear(name: string, content: LpContent): this {
    const length = contentLength(content);
    const sectors = Math.ceil(length / LP_SECTOR);
    const at = alignUp(this.next, this.logicalBlockSize);
    this.planned.push({ partition: this.index(name), kind: 'linear', sectors, at, content, length });
    this.next = at + sectors * LP_SECTOR;
    return this;
  }

  /** Appends a ZERO extent of `sectors` sectors (dm-zero: reads as zeros, takes no space). */
  zero(name: string, sectors: number): this {
    this.planned.push({ partition: this.index(name), kind: 'zero', sectors, at: 0, length: sectors * LP_SECTOR });
    return this;
  }

  get deviceSize(): number {
    return this.deviceSizeOption ?? alignUp(Math.max(this.next, this.firstLogicalByte + this.alignment), this.alignment);
  }

  /** What partition `name` reads as: its extents in order, each padded to whole sectors. */
  expected(name: string): Buffer {
    const i = this.index(name);
    const parts: Buffer[] = [];
    for (const e of this.planned.filter((p) => p.partition === i)) {
      const b = Buffer.alloc(e.sectors * LP_SECTOR);
      if (e.content !== undefined) Buffer.from(typeof e.content === 'string' ? fs.readFileSync(e.content) : e.content).copy(b);
      parts.push(b);
    }
    return Buffer.concat(parts);
  }

  /** Partition names with at least one extent, in table order. */
  get nonEmpty(): string[] {
    return this.names.filter((_, i) => this.planned.some((p) => p.partition === i));
  }

  /** The metadata model as liblp would write it: extents grouped per partition in table order. */
  model(): LpMetadataModel {
    const partitions: LpPartitionEntry[] = [];
    const extents: LpExtentEntry[] = [];
    this.names.forEach((name, i) => {
      const mine = this.planned.filter((p) => p.partition === i);
      partitions.push({
        name,
        attributes: this.attributes[i]!,
        firstExtentIndex: mine.length === 0 ? 0 : extents.length,
        numExtents: mine.length,
        groupIndex: this.groupOf[i]!,
      });
      for (const e of mine) {
        extents.push({
          numSectors: BigInt(e.sectors),
          targetType: e.kind === 'linear' ? LP_TARGET_LINEAR : LP_TARGET_ZERO,
          targetData: e.kind === 'linear' ? BigInt(e.at / LP_SECTOR) : 0n,
          targetSource: 0,
        });
      }
    });
    return {
      major: 10,
      minor: this.minor,
      flags: 0,
      partitions,
      extents,
      groups: this.groups.map((g) => ({ ...g })),
      blockDevices: [
        {
          firstLogicalSector: BigInt(this.firstLogicalByte / LP_SECTOR),
          alignment: this.alignment,
          alignmentOffset: 0,
          size: BigInt(this.deviceSize),
          partitionName: 'super',
          flags: 0,
        },
      ],
      overrides: {},
    };
  }

  /** The 52-byte LpMetadataGeometry with its checksum. */
  geometry(): Buffer {
    const g = Buffer.alloc(52);
    g.writeUInt32LE(LP_GEOMETRY_MAGIC, 0);
    g.writeUInt32LE(52, 4);
    g.writeUInt32LE(this.metadataMaxSize, 40);
    g.writeUInt32LE(this.slotCount, 44);
    g.writeUInt32LE(this.logicalBlockSize, 48);
    crypto.createHash('sha256').update(g).digest().copy(g, 8);
    return g;
  }

  /** Serialises one metadata copy (header + tables) with both sha256 checksums. */
  static serializeMetadata(m: LpMetadataModel): Buffer {
    const name36 = (n: string | Uint8Array): Buffer => {
      const b = Buffer.alloc(36);
      (typeof n === 'string' ? Buffer.from(n, 'latin1') : Buffer.from(n)).copy(b, 0, 0, 36);
      return b;
    };
    const parts = m.partitions.map((p) => {
      const b = Buffer.alloc(52);
      name36(p.name).copy(b, 0);
      b.writeUInt32LE(p.attributes >>> 0, 36);
      b.writeUInt32LE(p.firstExtentIndex >>> 0, 40);
      b.writeUInt32LE(p.numExtents >>> 0, 44);
      b.writeUInt32LE(p.groupIndex >>> 0, 48);
      return b;
    });
    const exts = m.extents.map((e) => {
      const b = Buffer.alloc(24);
      b.writeBigUInt64LE(e.numSectors, 0);
      b.writeUInt32LE(e.targetType >>> 0, 8);
      b.writeBigUInt64LE(e.targetData, 12);
      b.writeUInt32LE(e.targetSource >>> 0, 20);
      return b;
    });
    const groups = m.groups.map((g) => {
      const b = Buffer.alloc(48);
      name36(g.name).copy(b, 0);
      b.writeUInt32LE(g.flags >>> 0, 36);
      b.writeBigUInt64LE(g.maximumSize, 40);
      return b;
    });
    const devices = m.blockDevices.map((d) => {
      const b = Buffer.alloc(64);
      b.writeBigUInt64LE(d.firstLogicalSector, 0);
      b.writeUInt32LE(d.alignment >>> 0, 8);
      b.writeUInt32LE(d.alignmentOffset >>> 0, 12);
      b.writeBigUInt64LE(d.size, 16);
      name36(d.partitionName).copy(b, 24);
      b.writeUInt32LE(d.flags >>> 0, 60);
      return b;
    });
    const tableList = [parts, exts, groups, devices];
    const entrySizes = [52, 24, 48, 64];
    const keys = ['partitions', 'extents', 'groups', 'blockDevices'] as const;
    const tables = Buffer.concat([...tableList.flat(), Buffer.alloc(m.tablesPadding ?? 0)]);
    const headerSize = m.minor >= 2 ? 256 : 128;
    const h = Buffer.alloc(headerSize);
    h.writeUInt32LE(LP_HEADER_MAGIC, 0);
    h.writeUInt16LE(m.major, 4);
    h.writeUInt16LE(m.minor, 6);
    h.writeUInt32LE(headerSize, 8);
    h.writeUInt32LE(tables.length, 44);
    crypto.createHash('sha256').update(tables).digest().copy(h, 48);
    let offset = 0;
    keys.forEach((k, t) => {
      const o = m.overrides[k] ?? {};
      const at = 80 + 12 * t;
      h.writeUInt32LE((o.offset ?? offset) >>> 0, at);
      h.writeUInt32LE((o.numEntries ?? tableList[t]!.length) >>> 0, at + 4);
      h.writeUInt32LE((o.entrySize ?? entrySizes[t]!) >>> 0, at + 8);
      offset += tableList[t]!.length * entrySizes[t]!;
    });
    if (headerSize === 256) h.writeUInt32LE(m.flags >>> 0, 128);
    crypto.createHash('sha256').update(h).digest().copy(h, 12);
    return Buffer.concat([h, tables]);
  }

  private emit(writeAt: (offset: number, bytes: Uint8Array) => void, tamper?: (m: LpMetadataModel) => void): void {
    const geometry = this.geometry();
    const off = lpOffsets(this.metadataMaxSize, this.slotCount);
    writeAt(off.primaryGeometry, geometry);
    writeAt(off.backupGeometry, geometry);
    const model = this.model();
    tamper?.(model);
    const metadata = LpBuilder.serializeMetadata(model);
    if (metadata.length > this.metadataMaxSize) throw new Error(`metadata of ${metadata.length} bytes exceeds metadata_max_size ${this.metadataMaxSize}`);
    for (let slot = 0; slot < this.slotCount; slot++) {
      writeAt(off.primaryMetadata(slot), metadata);
      writeAt(off.backupMetadata(slot), metadata);
    }
    for (const e of this.planned) {
      if (e.kind !== 'linear' || e.content === undefined) continue;
      if (typeof e.content !== 'string') {
        writeAt(e.at, e.content);
        continue;
      }
      // Files are copied in pieces, so a large partition never sits in memory whole.
      const fd = fs.openSync(e.content, 'r');
      try {
        const buf = Buffer.alloc(4 * 1024 * 1024);
        for (let done = 0; done < e.length; ) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, e.length - done), done);
          if (n === 0) break;
          writeAt(e.at + done, buf.subarray(0, n));
          done += n;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  /** The whole image in memory (small fixtures). */
  build(tamper?: (m: LpMetadataModel) => void): Buffer {
    const out = Buffer.alloc(this.deviceSize);
    this.emit((o, b) => {
      if (o + b.length > out.length) throw new Error(`write of ${b.length} bytes at ${o} past the ${out.length}-byte device`);
      out.set(b, o);
    }, tamper);
    return out;
  }

  /** Writes the image to `file` (a sparse file on disk: unwritten ranges cost nothing). */
  write(file: string, tamper?: (m: LpMetadataModel) => void): void {
    const fd = fs.openSync(file, 'w');
    try {
      fs.ftruncateSync(fd, this.deviceSize);
      this.emit((o, b) => {
        let done = 0;
        while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, o + done);
      }, tamper);
    } finally {
      fs.closeSync(fd);
    }
  }
}
