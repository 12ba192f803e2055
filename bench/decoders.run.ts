import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, it } from 'vitest';
import { decodeLzo1x } from '../src/decoders/lzo.js';
import { decodeXzInto, decodeXzSync } from '../src/decoders/xz-sync.js';
import { LimitError } from '../src/errors.js';
import { hasTool } from '../tests/helpers/corpus.js';
import { python, runBuffer } from '../tests/helpers/container-context.js';
import { measure, printTable, rss } from './measure.js';

// Our synchronous block decoders (used by squashfs, erofs and OTA payloads), with the native tool
// over the same bytes where there is one. Each figure is the best of three runs; outputs are checked.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-bench-decoders-'));
const rows: string[][] = [];
afterAll(() => {
  printTable(['decoder', 'input', 'output', 'aibom', 'MB/s', 'reference', 'peak RSS (growth)'], rows);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Text-like bytes (a firmware log): compressible, not trivially. */
function logText(bytes: number): Buffer {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const l = `line ${i % 977} of a firmware log, value ${(i * 7919) % 10007}, tensor layer_${i % 31}\n`;
    lines.push(l);
    n += l.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** Firmware-like bytes: 64 KiB runs of log text and of random bytes (2 to 1), ratio about 3 under xz. */
function mixed(bytes: number): Buffer {
  const text = logText(bytes);
  for (let off = 0; off < bytes; off += 3 * 65536) text.set(crypto.randomBytes(Math.min(65536, bytes - off)), off);
  return text;
}

function best3<T>(fn: () => T): { value: T; ms: number } {
  let ms = Infinity;
  let value = fn(); // warm-up
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    value = fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { value, ms };
}

const mbps = (bytes: number, ms: number): string => (bytes / 1e6 / (ms / 1000)).toFixed(1);
const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

it.skipIf(!hasTool('xz'))('xz: one 16 MiB file and 64 squashfs-style 128 KiB streams (SKIP without xz)', async () => {
  const big = mixed(16 * 1024 * 1024);
  const packed = runBuffer('xz', ['-c', '-6', '-T2'], big);
  const file = path.join(tmp, 'big.xz');
  fs.writeFileSync(file, packed);
  const m = await measure(() => best3(() => decodeXzSync(packed, big.length, 'bench')));
  if (sha(m.value.value) !== sha(big)) throw new Error('xz: decoded bytes differ');
  const native = best3(() => execFileSync('xz', ['-dc', file], { maxBuffer: 64 * 1024 * 1024 }));
  rows.push([
    'xz (decodeXzSync)',
    `16 MiB, -6 (ratio ${(big.length / packed.length).toFixed(1)})`,
    '16 MiB',
    `${m.value.ms.toFixed(0)} ms`,
    mbps(big.length, m.value.ms),
    `xz -dc ${mbps(big.length, native.ms)} MB/s`,
    rss(m),
  ]);

  const blocks: Buffer[] = [];
  for (let off = 0; off < 8 * 1024 * 1024; off += 128 * 1024) blocks.push(runBuffer('xz', ['-c', '-2'], big.subarray(off, off + 128 * 1024)));
  const into = new Uint8Array(128 * 1024);
  const s = await measure(() => best3(() => blocks.reduce((n, b) => n + decodeXzInto(b, into, 'block'), 0)));
  if (s.value.value !== 8 * 1024 * 1024) throw new Error(`xz blocks: decoded ${s.value.value} bytes`);
  rows.push(['xz (decodeXzInto)', '64 streams of 128 KiB, -2', '8 MiB', `${s.value.ms.toFixed(0)} ms`, mbps(8 * 1024 * 1024, s.value.ms), '', rss(s)]);
});

it.skipIf(!hasTool('xz'))('xz: time to stop a 1 GiB bomb at a 4 MiB output limit (SKIP without xz)', async () => {
  const bomb = execFileSync('sh', ['-c', 'head -c 1073741824 /dev/zero | xz -1 -T2 -c'], { maxBuffer: 64 * 1024 * 1024 });
  const m = await measure(() =>
    best3(() => {
      try {
        decodeXzSync(bomb, 4 * 1024 * 1024, 'bomb');
      } catch (err) {
        if (err instanceof LimitError) return;
        throw err;
      }
      throw new Error('xz bomb: no LimitError');
    }),
  );
  rows.push(['xz (bomb)', `1 GiB of zeros in ${(bomb.length / 1024).toFixed(0)} KiB`, 'LimitError at 4 MiB', `${m.value.ms.toFixed(0)} ms`, '', '', rss(m)]);
});

const LZO_COMPRESS = `
import ctypes, struct, sys
lib = ctypes.CDLL('liblzo2.so.2')
data = open(sys.argv[1], 'rb').read()
wrk = ctypes.create_string_buffer(1 << 20)
out = []
for at in range(0, len(data), 131072):
    item = data[at:at + 131072]
    buf = ctypes.create_string_buffer(len(item) + len(item) // 16 + 64 + 3)
    ol = ctypes.c_size_t(0)
    if lib.lzo1x_999_compress(item, ctypes.c_size_t(len(item)), buf, ctypes.byref(ol), wrk) != 0: sys.exit(1)
    out.append(struct.pack('<I', ol.value) + buf.raw[:ol.value])
open(sys.argv[2], 'wb').write(b''.join(out))
`;

function hasLiblzo(): boolean {
  try {
    python("import ctypes; ctypes.CDLL('liblzo2.so.2')");
    return true;
  } catch {
    return false;
  }
}

it.skipIf(!hasLiblzo())('lzo: 16 MiB of log text in 128 KiB blocks packed by lzo1x_999 (SKIP without python3 and liblzo2)', async () => {
  // The test's oracle, compressing only: liblzo2 through python3 ctypes; records are [u32 length][bytes].
  const text = logText(16 * 1024 * 1024);
  const src = path.join(tmp, 'lzo-in');
  const dst = path.join(tmp, 'lzo-out');
  fs.writeFileSync(src, text);
  python(LZO_COMPRESS, [src, dst]);
  const raw = fs.readFileSync(dst);
  const packed: Buffer[] = [];
  for (let at = 0; at < raw.length; at += 4 + raw.readUInt32LE(at)) packed.push(raw.subarray(at + 4, at + 4 + raw.readUInt32LE(at)));
  const out = new Uint8Array(131072);
  const m = await measure(() => best3(() => packed.reduce((n, p) => n + decodeLzo1x(p, out), 0)));
  if (m.value.value !== text.length) throw new Error(`lzo: decoded ${m.value.value} bytes of ${text.length}`);
  rows.push([
    'lzo (decodeLzo1x)',
    `${packed.length} blocks of 128 KiB (ratio ${(text.length / raw.length).toFixed(1)})`,
    '16 MiB',
    `${m.value.ms.toFixed(0)} ms`,
    mbps(text.length, m.value.ms),
    '',
    rss(m),
  ]);
});
