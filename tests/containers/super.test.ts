import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidSparse } from '../../src/containers/android-sparse.js';
import { superImage } from '../../src/containers/super.js';
import { AibomError, FormatError, UnsupportedError } from '../../src/errors.js';
import { scan } from '../../src/index.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { ExtentSource } from '../../src/io/extent-source.js';
import { createProbe } from '../../src/probe.js';
import { LpBuilder, lpOffsets, type LpMetadataModel } from '../builders/lp-builder.js';
import { tinyTflite } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';
import { listEntries, listTree, makeContext, openFile, python, run, sha256Bytes, tempDir, type Listed } from '../helpers/container-context.js';

const tools = hasTool('python3') && hasTool('mke2fs');
const d = describe.skipIf(!tools);

/** Whether the installed 7-Zip has the LP (liblp super image) handler: 7-Zip 23+ has, p7zip 16.02 has not. */
function sevenZipHasLp(): boolean {
  if (!hasTool('7z')) return false;
  const ok = / LP\s+lpimg/.test(run('7z', ['i']));
  if (!ok) console.warn('SKIP: the installed 7z has no LP handler; the 7-Zip cross-check of super images is skipped.');
  return ok;
}

/**
 * An independent liblp parser in python3 (struct + hashlib): checks both geometry and both metadata
 * checksums, walks slot 0's tables and prints every partition with extents as {path, size, sha256}.
 */
const PY_LP = String.raw`
import struct, sys, hashlib, json
f = open(sys.argv[1], 'rb'); img = f.read()
g = bytearray(img[4096:4096+52])
magic, size = struct.unpack_from('<II', g, 0); assert magic == 0x616c4467 and size == 52
cs = bytes(g[8:40]); g[8:40] = bytes(32); assert hashlib.sha256(g).digest() == cs, 'geometry checksum'
max_size, slots, lbs = struct.unpack_from('<III', g, 40)
at = 4096 + 8192
h = bytearray(img[at:at+128])
magic, major, minor, hsize = struct.unpack_from('<IHHI', h, 0); assert magic == 0x414c5030 and major == 10
h = bytearray(img[at:at+hsize])
cs = bytes(h[12:44]); h[12:44] = bytes(32); assert hashlib.sha256(h).digest() == cs, 'header checksum'
tsize = struct.unpack_from('<I', h, 44)[0]
tables = img[at+hsize:at+hsize+tsize]; assert hashlib.sha256(tables).digest() == bytes(h[48:80]), 'tables checksum'
desc = [struct.unpack_from('<III', h, 80 + 12*i) for i in range(4)]
def entries(k, fmt):
  off, n, es = desc[k]
  return [struct.unpack_from(fmt, tables, off + i*es) for i in range(n)]
parts = entries(0, '<36sIIII'); exts = entries(1, '<QIQI')
out = []
for name, attrs, first, num, group in parts:
  if num == 0: continue
  data = bytearray()
  for sectors, ttype, tdata, tsrc in exts[first:first+num]:
    if ttype == 0: data += img[tdata*512:(tdata+sectors)*512]
    else: data += bytes(sectors*512)
  out.append({'path': name.rstrip(b'\0').decode(), 'type': 'file', 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()})
print(json.dumps(sorted(out, key=lambda e: e['path'])))
`;
import { modelsOf } from '../helpers/inventory.js';

/** What a super image lists as, or the typed error it throws. */
interface Outcome {
  listed: Listed[];
  problems: string[];
  error?: AibomError;
}

async function listSuper(bytes: Uint8Array | ByteSource, hash = true): Promise<Outcome> {
  const t = makeContext('super.img');
  const src = bytes instanceof Uint8Array ? new BufferSource(bytes) : bytes;
  try {
    const listed = await listEntries(superImage, src, t, 'super.img', { hash });
    for (const e of listed) if (e.sha256?.startsWith('error:') === true) throw new Error(`opening ${e.path} failed: ${e.sha256}`);
    return { listed, problems: t.problems.map((p) => `${p.code}${p.path === undefined ? '' : ` ${p.path}`}: ${p.message}`) };
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
    return { listed: [], problems: t.problems.map((p) => `${p.code}: ${p.message}`), error: err };
  } finally {
    t.cleanup();
  }
}

/** Opens every listed partition and reads a few ranges, without hashing (hostile sizes can be huge). */
async function sampleSuper(bytes: Uint8Array): Promise<void> {
  const t = makeContext('super.img');
  try {
    for await (const e of superImage.entries(new BufferSource(bytes), t.ctx)) {
      const s = await e.open();
      for (let k = 0; k < 8; k++) s.read(Math.floor((s.size * k) / 8), 4096);
    }
  } catch (err) {
    if (!(err instanceof AibomError)) throw err;
  } finally {
    t.cleanup();
  }
}

/** What the builder put in each non-empty partition. */
function expectedListing(b: LpBuilder): Listed[] {
  return b.nonEmpty
    .map((name) => {
      const bytes = b.expected(name);
      return { path: name, type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) };
    })
    .sort((x, y) => (x.path < y.path ? -1 : 1));
}

/** Rewrites a geometry field and reseals its sha256, at the primary (4096) or backup (8192) copy. */
function patchGeometry(img: Buffer, at: number, f: (g: Buffer) => void): void {
  const g = img.subarray(at, at + 52);
  f(g);
  g.fill(0, 8, 40);
  crypto.createHash('sha256').update(g).digest().copy(g, 8);
}

d('super (dynamic partitions) reader', () => {
  let tmp: { dir: string; remove(): void };
  let ext4: string;
  beforeAll(() => {
    tmp = tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'etc/model.bin'), crypto.randomBytes(200_000));
    ext4 = path.join(tmp.dir, 'product.ext4');
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, ext4, '2M']);
  });
  afterAll(() => tmp.remove());

  /** An A/B super with a split partition, ZERO extents, an empty B slot and an ext4 partition from a file. */
  function abBuilder(opts: ConstructorParameters<typeof LpBuilder>[0] = {}): LpBuilder {
    return new LpBuilder({ slotCount: 2, ...opts })
      .partition('system_a')
      .partition('system_b')
      .partition('vendor_a')
      .partition('product_a')
      .partition('odm_a')
      .linear('system_a', crypto.randomBytes(40_000))
      .linear('vendor_a', crypto.randomBytes(9_000)) // not a sector multiple: padded with zeros
      .linear('system_a', crypto.randomBytes(12_288)) // system_a's second extent, after vendor_a
      .zero('vendor_a', 8)
      .linear('vendor_a', crypto.randomBytes(4096))
      .linear('product_a', ext4)
      .zero('odm_a', 16);
  }

  it('lists an A/B super image as the builder wrote it and as python3 parses it', async () => {
    const b = abBuilder();
    const file = path.join(tmp.dir, 'super.img');
    b.write(file);
    const expected = expectedListing(b);
    expect(expected.map((e) => e.path)).toEqual(['odm_a', 'product_a', 'system_a', 'vendor_a']);
    // Independent parser: python3 struct + hashlib.
    expect(JSON.parse(python(PY_LP, [file])) as Listed[]).toEqual(expected);
    const t = makeContext('super.img');
    const src = openFile(file);
    const sources: ByteSource[] = [];
    try {
      expect(superImage.match(createProbe(src, 'super.img'))).toBe(true);
      const ours = await listEntries(superImage, src, t, 'super.img', { onSource: (_, s) => sources.push(s) });
      expect(ours).toEqual(expected);
      expect(t.problems).toEqual([]);
      expect(t.temp.path).toBeUndefined();
      for (const s of sources) expect(s).toBeInstanceOf(ExtentSource);
    } finally {
      src.close();
      t.cleanup();
    }
  });

  it.skipIf(!sevenZipHasLp())('lists an A/B super image as 7-Zip extracts it (SKIP without a 7z that has the LP handler: 7-Zip 23+)', () => {
    const b = abBuilder();
    const file = path.join(tmp.dir, 'super-7z.img');
    b.write(file);
    const expected = expectedListing(b);
    // 7-Zip names a partition 'name.img' ('name.ext' when it holds an ext4 of the same size) and lists empty ones bare.
    const out = path.join(tmp.dir, 'x7z');
    run('7z', ['x', '-y', `-o${out}`, file]);
    const extracted = listTree(out)
      .filter((e) => e.size !== 0)
      .map((e) => ({ ...e, path: e.path.replace(/\.(img|ext)$/, '') }));
    expect(extracted).toEqual(expected);
    expect(listTree(out).find((e) => e.path === 'product_a.ext')).toBeDefined();
    const listing = run('7z', ['l', '-slt', file]);
    expect(
      [...listing.matchAll(/^Path = (.+)$/gm)]
        .map((m) => m[1])
        .slice(1)
        .sort(),
    ).toEqual(['odm_a.img', 'product_a.ext', 'system_a.img', 'system_b', 'vendor_a.img']);
  });

  it('reads 1.2 headers (256 bytes) and one or three metadata slots', async () => {
    for (const opts of [{ minor: 2 }, { minor: 1, slotCount: 1 }, { slotCount: 3, metadataMaxSize: 4096, alignment: 4096 }]) {
      const b = abBuilder(opts);
      const img = b.build();
      const r = await listSuper(img);
      expect(r.problems, JSON.stringify(opts)).toEqual([]);
      expect(r.listed, JSON.stringify(opts)).toEqual(expectedListing(b));
      const file = path.join(tmp.dir, 'opts.img');
      fs.writeFileSync(file, img);
      expect(JSON.parse(python(PY_LP, [file])) as Listed[]).toEqual(expectedListing(b));
    }
  });

  it('matches the geometry magic at 4096 or at its copy at 8192, and nothing else', () => {
    const img = abBuilder().build();
    expect(superImage.match(createProbe(new BufferSource(img), 'super.img'))).toBe(true);
    const backupOnly = Buffer.from(img);
    backupOnly.fill(0, 4096, 8192);
    expect(superImage.match(createProbe(new BufferSource(backupOnly), 'x'))).toBe(true);
    expect(superImage.match(createProbe(new BufferSource(new Uint8Array(65536)), 'zeros'))).toBe(false);
    expect(superImage.match(createProbe(new BufferSource(crypto.randomBytes(65536)), 'random'))).toBe(false);
    expect(superImage.match(createProbe(new BufferSource(img.subarray(0, 4100)), 'short'))).toBe(false);
    const ext = fs.readFileSync(ext4);
    expect(superImage.match(createProbe(new BufferSource(ext), 'product.img'))).toBe(false);
  });

  it.skipIf(!hasTool('img2simg'))('reads a sparse super.img by recursion (sparse -> raw -> super) through scan()', async () => {
    const model = tinyTflite('in super');
    const b = new LpBuilder({ slotCount: 2 })
      .partition('system_a')
      .partition('system_b')
      .partition('vendor_a')
      .linear('system_a', model)
      .linear('vendor_a', crypto.randomBytes(8192));
    const raw = path.join(tmp.dir, 'scan-super.img');
    b.write(raw);
    const dir = path.join(tmp.dir, 'scan');
    fs.mkdirSync(dir);
    const sparse = path.join(dir, 'super.img');
    run('img2simg', [raw, sparse]);
    const inv = await scan([sparse], { containers: [androidSparse, superImage] });
    expect(inv.problems).toEqual([]);
    expect(modelsOf(inv).map((m) => m.location)).toEqual([`${sparse}!/super.raw!/system_a`]);
    expect(inv.stats.containers).toBe(2);
  });

  describe('checksums', () => {
    let b: LpBuilder;
    let img: Buffer;
    let off: ReturnType<typeof lpOffsets>;
    beforeAll(() => {
      b = abBuilder();
      img = b.build();
      off = lpOffsets(b.metadataMaxSize, b.slotCount);
    });
    const patched = (f: (x: Buffer) => void): Buffer => {
      const x = Buffer.from(img);
      f(x);
      return x;
    };

    it('uses the backup geometry when the primary checksum fails', async () => {
      const r = await listSuper(patched((x) => (x[off.primaryGeometry + 8]! ^= 1)));
      expect(r.listed).toEqual(expectedListing(b));
      expect(r.problems).toEqual([expect.stringMatching(/^format: The super image's primary geometry is corrupt .* backup copy was used/)]);
    });

    it('reads the geometry anyway, with an error, when both checksums fail', async () => {
      const r = await listSuper(
        patched((x) => {
          x[off.primaryGeometry + 8]! ^= 1;
          x[off.backupGeometry + 8]! ^= 1;
        }),
      );
      expect(r.listed).toEqual(expectedListing(b));
      expect(r.problems).toEqual([expect.stringMatching(/geometry checksums do not match .* primary copy was read anyway/)]);
    });

    it('uses the backup metadata when the primary header or tables fail their checksum', async () => {
      for (const at of [off.primaryMetadata(0) + 12, off.primaryMetadata(0) + 128 + 3]) {
        const r = await listSuper(patched((x) => (x[at]! ^= 0x40)));
        expect(r.listed).toEqual(expectedListing(b));
        expect(r.problems).toEqual([
          expect.stringMatching(/primary metadata for slot 0 is corrupt \((header|tables) sha256 mismatch.*backup copy at offset 143360 was used/),
        ]);
      }
    });

    it('reads the tables anyway, with an error, when every copy fails its checksum', async () => {
      const r = await listSuper(
        patched((x) => {
          x[off.primaryMetadata(0) + 48]! ^= 1;
          x[off.backupMetadata(0) + 48]! ^= 1;
        }),
      );
      expect(r.listed).toEqual(expectedListing(b));
      expect(r.problems).toEqual([
        expect.stringMatching(/fails its checksums \(header sha256 mismatch, tables sha256 mismatch\) in every copy; the primary copy/),
      ]);
    });

    it('throws a FormatError when no copy has a header', async () => {
      const r = await listSuper(
        patched((x) => {
          x.fill(0, off.primaryMetadata(0), off.primaryMetadata(0) + 4);
          x.fill(0, off.backupMetadata(0), off.backupMetadata(0) + 4);
        }),
      );
      expect(r.error).toBeInstanceOf(FormatError);
      expect(r.error?.message).toMatch(/no header magic 'ALP0'/);
    });

    it('rejects geometry fields out of range', async () => {
      for (const [field, value, message] of [
        [40, 0x7fffffff, /metadata_max_size 2147483647/],
        [40, 1000, /metadata_max_size 1000, not a multiple of 512/],
        [44, 0, /metadata_slot_count 0/],
        [44, 100000, /metadata_slot_count 100000/],
      ] as const) {
        const x = Buffer.from(img);
        for (const at of [off.primaryGeometry, off.backupGeometry]) patchGeometry(x, at, (g) => g.writeUInt32LE(value, field));
        const r = await listSuper(x);
        expect(r.error, String(message)).toBeInstanceOf(FormatError);
        expect(r.error?.message).toMatch(message);
      }
    });
  });

  describe('hostile tables', () => {
    const tampered = async (f: (m: LpMetadataModel) => void, builder = abBuilder()): Promise<Outcome & { b: LpBuilder }> => ({
      ...(await listSuper(builder.build(f))),
      b: builder,
    });
    const index = (m: LpMetadataModel, name: string): number => m.partitions.findIndex((p) => p.name === name);

    it('skips a partition whose extents lie past the extent table, and lists the others', async () => {
      for (const [first, num] of [
        [100, 1],
        [1, 0xffffffff],
        [0xffffffff, 2],
      ] as const) {
        const r = await tampered((m) => {
          const p = m.partitions[index(m, 'vendor_a')]!;
          p.firstExtentIndex = first;
          p.numExtents = num;
        });
        expect(r.listed.map((e) => e.path)).toEqual(['odm_a', 'product_a', 'system_a']);
        expect(r.problems).toEqual([expect.stringMatching(/^format vendor_a: .* past the 7-entry extent table; it was not read\./)]);
      }
    });

    it("skips a partition sharing another one's extents", async () => {
      const r = await tampered((m) => {
        const p = m.partitions[index(m, 'odm_a')]!;
        p.firstExtentIndex = 0;
        p.numExtents = 2;
      });
      expect(r.listed.map((e) => e.path)).toEqual(['product_a', 'system_a', 'vendor_a']);
      expect(r.problems).toEqual([expect.stringMatching(/odm_a' shares extent 0 with partition 'system_a'/)]);
    });

    it('clips extents past the end of the image and reads the missing part as zeros', async () => {
      const b = abBuilder();
      const img = b.build();
      // vendor_a's last extent (index 4, 8 sectors) moved to start 4 sectors before the end.
      const r = await listSuper(
        b.build((m) => {
          m.extents[4]!.targetData = BigInt(img.length / 512 - 4);
        }),
      );
      const vendor = r.listed.find((e) => e.path === 'vendor_a');
      const bytes = Buffer.concat([b.expected('vendor_a').subarray(0, 9216 + 4096), img.subarray(img.length - 2048), Buffer.alloc(2048)]);
      expect(vendor).toEqual({ path: 'vendor_a', type: 'file', size: bytes.length, sha256: sha256Bytes(bytes) });
      expect(r.problems).toEqual([
        expect.stringMatching(/^truncated vendor_a: .* extent 4 ends at byte \d+, past the end of the \d+-byte image; the missing part reads as zeros/),
      ]);
      // Wholly past the end, even at a sector number above 2^53.
      for (const target of [10n ** 9n, 2n ** 63n]) {
        const far = await listSuper(b.build((m) => void (m.extents[0]!.targetData = target)));
        const system = far.listed.find((e) => e.path === 'system_a');
        const expected = Buffer.concat([Buffer.alloc(40_448), b.expected('system_a').subarray(40_448)]);
        expect(system?.sha256).toBe(sha256Bytes(expected));
        expect(far.problems.join('\n')).toMatch(/system_a' extent 0 ends at byte/);
      }
    });

    it('reports extents mapping the same bytes twice, and reads both partitions', async () => {
      const r = await tampered((m) => {
        // Extent 6 is odm_a's ZERO extent: made LINEAR, its 16 sectors inside system_a's first extent.
        m.extents[6]!.targetType = 0;
        m.extents[6]!.targetData = m.extents[0]!.targetData + 8n;
      });
      expect(r.listed.map((e) => e.path)).toEqual(['odm_a', 'product_a', 'system_a', 'vendor_a']);
      expect(r.problems).toEqual([expect.stringMatching(/^format odm_a: Super partition 'odm_a' maps bytes \d+\.\.\d+ of the image that 'system_a' maps too/)]);
    });

    it('refuses huge counts, tables past tables_size and entry sizes below the struct size', async () => {
      for (const [what, f, message] of [
        ['huge num_entries', (m: LpMetadataModel) => void (m.overrides.partitions = { numEntries: 0xffffffff }), /partitions table num_entries 4294967295/],
        [
          'extents entry_size 20',
          (m: LpMetadataModel) => void (m.overrides.extents = { entrySize: 20 }),
          /extents table has entry_size 20, smaller than the 24-byte entry/,
        ],
        ['partitions entry_size 0', (m: LpMetadataModel) => void (m.overrides.partitions = { entrySize: 0 }), /entry_size 0/],
        ['groups offset past the tables', (m: LpMetadataModel) => void (m.overrides.groups = { offset: 0x10000000 }), /groups table offset 268435456/],
        ['block devices past the tables', (m: LpMetadataModel) => void (m.overrides.blockDevices = { numEntries: 3 }), /block_devices table num_entries 3/],
      ] as const) {
        const r = await tampered(f);
        expect(r.error, what).toBeInstanceOf(FormatError);
        expect(r.error?.message, what).toMatch(message);
      }
    });

    it('reports partitions on another block device, unknown targets and huge sizes per partition', async () => {
      const withSecondDevice = (m: LpMetadataModel): void => {
        m.blockDevices.push({ ...m.blockDevices[0]!, partitionName: 'super_2' });
      };
      let r = await tampered((m) => {
        withSecondDevice(m);
        m.extents[2]!.targetSource = 1; // vendor_a's first extent
      });
      expect(r.listed.map((e) => e.path)).toEqual(['odm_a', 'product_a', 'system_a']);
      expect(r.problems).toEqual([
        expect.stringMatching(/^unsupported vendor_a: .* lies on block device 1, another disk than this image \(a multi-device super\)/),
      ]);
      r = await tampered((m) => void (m.extents[2]!.targetSource = 9));
      expect(r.problems).toEqual([expect.stringMatching(/^format vendor_a: .* names block device 9 of 1/)]);
      r = await tampered((m) => void (m.extents[2]!.targetType = 7));
      expect(r.problems).toEqual([expect.stringMatching(/^unsupported vendor_a: .* target_type 7, neither LINEAR \(0\) nor ZERO \(1\)/)]);
      r = await tampered((m) => void (m.extents[6]!.numSectors = 2n ** 60n));
      expect(r.problems).toEqual([expect.stringMatching(/^format odm_a: .* larger than 1099511627776 bytes/)]);
      // A ZERO partition of exactly 1 TiB is accepted: it costs nothing until read.
      const big = await listSuper(
        abBuilder().build((m) => void (m.extents[6]!.numSectors = 2n ** 31n)),
        false,
      );
      expect(big.listed.find((e) => e.path === 'odm_a')?.size).toBe(2 ** 40);
      r = await tampered((m) => void (m.partitions[0]!.groupIndex = 5));
      expect(r.listed.map((e) => e.path)).toEqual(['odm_a', 'product_a', 'system_a', 'vendor_a']);
      expect(r.problems).toEqual([expect.stringMatching(/^format system_a: .* names group 5 of 1; its contents are read anyway/)]);
    });

    it('refuses other metadata versions as unsupported', async () => {
      for (const [major, minor] of [
        [10, 3],
        [11, 0],
        [1, 0],
      ] as const) {
        const r = await tampered((m) => {
          m.major = major;
          m.minor = minor;
        });
        expect(r.error).toBeInstanceOf(UnsupportedError);
        expect(r.error?.message).toMatch(new RegExp(`version ${major}\\.${minor} is not 10\\.0-10\\.2: its partitions were not scanned`));
      }
    });

    it('records hostile, empty and duplicate names, and never uses them as paths', async () => {
      const r = await tampered((m) => {
        m.partitions[0]!.name = '../../evil';
        m.partitions[2]!.name = Uint8Array.from([0x76, 0x01, 0x0a, 0x41]);
        m.partitions[3]!.name = '';
        m.partitions[4]!.name = '../../evil';
      });
      expect(r.listed.map((e) => e.path)).toEqual(['../../evil', '../../evil', 'partition3', 'v__A']);
      const text = r.problems.join('\n');
      expect(text).toMatch(/hostile-path \.\.\/\.\.\/evil: The super partition member name "\.\.\/\.\.\/evil" has '\.\.' segments/);
      expect(text).toMatch(/duplicate-entry \.\.\/\.\.\/evil/);
      expect(text).toMatch(/hostile-path v__A: Super partition 2's name has bytes outside printable ASCII/);
      expect(text).toMatch(/format partition3: Super partition 3 has an empty name/);
    });

    it('survives truncation and byte flips of the metadata with typed errors or problems only', async () => {
      const b = abBuilder({ metadataMaxSize: 4096, alignment: 4096, slotCount: 1 });
      const img = b.build();
      const off = lpOffsets(b.metadataMaxSize, b.slotCount);
      const cuts = [0, 100, 4096, 4100, 4148, 8192, 12288, 12300, 12416, 12600, 16384, 20480, 30000, img.length - 1];
      for (const n of cuts) {
        const r = await listSuper(img.subarray(0, n));
        if (n < off.primaryMetadata(0) + 128) expect(r.error, `prefix ${n}`).toBeInstanceOf(FormatError);
        else if (n < img.length) expect(r.error !== undefined || r.problems.length > 0, `prefix ${n}`).toBe(true);
      }
      for (let i = 0; i < 600; i++) {
        const x = Buffer.from(img);
        const at = off.primaryMetadata(0) + crypto.randomInt(0, 700);
        x[at] = crypto.randomInt(0, 256);
        // Without a valid backup (one slot, both copies flipped alike) the flipped tables are read anyway.
        x[at + b.metadataMaxSize] = x[at]!;
        await sampleSuper(x);
      }
    });
  });
});
