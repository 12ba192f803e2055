import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, it } from 'vitest';
import { androidBoot } from '../src/containers/android-boot.js';
import { androidSparse } from '../src/containers/android-sparse.js';
import { lz4 } from '../src/containers/lz4.js';
import { otaPayload } from '../src/containers/ota-payload/index.js';
import { superImage } from '../src/containers/super.js';
import type { ContainerReader } from '../src/containers/types.js';
import { BufferSource, FileSource, type ByteSource } from '../src/io/byte-source.js';
import type { Limits } from '../src/io/limits.js';
import { buildPayload, compress, type OpSpec } from '../tests/builders/ota-builder.js';
import { LpBuilder } from '../tests/builders/lp-builder.js';
import { hasTool } from '../tests/helpers/corpus.js';
import { run, runBuffer } from '../tests/helpers/container-context.js';
import { measure, mibps, printTable, readAllEntries, rss, sha256File } from './measure.js';

// Readers of large Android images, in this process: the input is generated (not measured), then every
// entry is opened and hashed in 4 MiB chunks, as a scan does, and the hashes are checked against the
// input. Figures: wall time, MiB/s of entry bytes, peak RSS of this process during the read and its
// growth over the RSS before it (the peak is reset before each reader). The inputs are random bytes,
// so that no reader can skip work; AIBOM_BENCH_BIG_MB sets the size of the 1 GiB ones.
const BIG_MB = Number(process.env.AIBOM_BENCH_BIG_MB ?? 1024);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-bench-containers-'));
const rows: string[][] = [];
afterAll(() => {
  printTable(['reader', 'input', 'entry bytes', 'time', 'MiB/s', 'peak RSS (growth)'], rows);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A file of `mb` MiB of random bytes, written by dd so that this process's RSS does not hold it. */
function randomFile(name: string, mb: number): string {
  const file = path.join(tmp, name);
  run('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${mb}`, 'status=none']);
  return file;
}

/** Reads every entry of `src` (a file called `name`), checks the hashes named in `expected`, and adds a row. */
async function readAndRecord(
  label: string,
  name: string,
  input: string,
  reader: ContainerReader,
  src: ByteSource,
  expected: Record<string, string>,
  limits: Partial<Limits> = {},
): Promise<void> {
  const m = await measure(() => readAllEntries(reader, src, name, limits));
  for (const [entry, sha] of Object.entries(expected)) {
    const got = m.value.sha256.get(entry);
    if (got !== sha)
      throw new Error(`${label}: entry ${entry} hashed to ${got ?? `nothing (entries: ${[...m.value.sha256.keys()].join(', ')})`}, expected ${sha}`);
  }
  rows.push([label, input, `${(m.value.bytes / 2 ** 20).toFixed(0)} MiB`, `${(m.ms / 1000).toFixed(2)} s`, mibps(m.value.bytes, m.ms), rss(m)]);
}

it.skipIf(!hasTool('mke2fs') || !hasTool('img2simg'))('android-sparse: expands and hashes a sparse ext4 image (SKIP without mke2fs, img2simg)', async () => {
  const tree = path.join(tmp, 'tree');
  fs.mkdirSync(tree);
  for (let i = 0; i < 8; i++) fs.renameSync(randomFile(`f${i}.bin`, Math.floor(BIG_MB / 16)), path.join(tree, `f${i}.bin`));
  const raw = path.join(tmp, 'system.raw');
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, raw, `${BIG_MB}M`]);
  fs.rmSync(tree, { recursive: true });
  const rawSha = sha256File(raw);
  const sparse = path.join(tmp, 'system.img');
  run('img2simg', [raw, sparse]);
  fs.rmSync(raw);
  const src = FileSource.open(sparse);
  try {
    await readAndRecord('android-sparse', 'system.img', `sparse ext4, ${BIG_MB} MiB expanded (half data)`, androidSparse, src, { 'system.raw': rawSha });
  } finally {
    src.close();
    fs.rmSync(sparse);
  }
});

it.skipIf(!hasTool('mkbootimg'))('android-boot: lists and hashes a boot image with a large kernel (SKIP without mkbootimg)', async () => {
  const kernel = randomFile('kernel', BIG_MB);
  const kernelSha = sha256File(kernel);
  fs.writeFileSync(path.join(tmp, 'ramdisk'), crypto.randomBytes(30_000));
  fs.writeFileSync(path.join(tmp, 'dtb'), crypto.randomBytes(2_049));
  const img = path.join(tmp, 'boot.img');
  run('mkbootimg', ['--header_version', '2', '--kernel', 'kernel', '--ramdisk', 'ramdisk', '--dtb', 'dtb', '-o', img], { cwd: tmp });
  fs.rmSync(kernel);
  const src = FileSource.open(img);
  try {
    await readAndRecord('android-boot', 'boot.img', `boot v2, ${BIG_MB} MiB kernel`, androidBoot, src, { kernel: kernelSha });
  } finally {
    src.close();
    fs.rmSync(img);
  }
});

it('super: reads and hashes the partitions of a super image (a large linear extent and a zero extent)', async () => {
  const part = randomFile('system.bin', BIG_MB);
  const systemSha = sha256File(part, 2048 * 512); // system_a: the file, then 2048 zero sectors
  const file = path.join(tmp, 'super.img');
  new LpBuilder().partition('system_a').partition('system_b').linear('system_a', part).zero('system_a', 2048).write(file);
  fs.rmSync(part);
  const src = FileSource.open(file);
  try {
    await readAndRecord('super', 'super.img', `super, ${BIG_MB} MiB + 1 MiB zero extent`, superImage, src, { system_a: systemSha });
  } finally {
    src.close();
    fs.rmSync(file);
  }
});

it.skipIf(!hasTool('xz'))('ota-payload: rebuilds a 256 MiB partition from REPLACE_XZ operations (SKIP without xz)', async () => {
  // 128 operations of 2 MiB (the generator's chunk size) carrying the same data, compressed once.
  const size = 256 * 1024 * 1024;
  const chunkBlocks = 512;
  const chunk = new Uint8Array(chunkBlocks * 4096);
  for (let b = 0; b < chunkBlocks; b += 4) chunk.set(crypto.randomBytes(1024), b * 4096);
  const data = compress('REPLACE_XZ', chunk);
  const ops: OpSpec[] = [];
  for (let b = 0; b < size / 4096; b += chunkBlocks) ops.push({ type: 'REPLACE_XZ', dst: [[b, chunkBlocks]], data });
  const h = crypto.createHash('sha256');
  for (let i = 0; i < ops.length; i++) h.update(chunk);
  const bytes = buildPayload({ partitions: [{ name: 'big', image: new Uint8Array(0), omitSize: true, ops }] });
  await readAndRecord(
    'ota-payload',
    'payload.bin',
    `payload.bin, ${(bytes.length / 2 ** 20).toFixed(0)} MiB of REPLACE_XZ`,
    otaPayload,
    new BufferSource(bytes),
    { big: h.digest('hex') },
  );
});

it.skipIf(!hasTool('lz4'))('lz4: decodes 64 MiB of legacy ramdisk into a spill file under a 16 MiB memory budget (SKIP without lz4)', async () => {
  const chunk = Buffer.concat([crypto.randomBytes(256 * 1024), Buffer.from('weights '.repeat(96 * 1024))]);
  const plain = Buffer.concat(Array.from({ length: (64 * 1024 * 1024) / chunk.length }, () => chunk));
  const legacy = runBuffer('lz4', ['-q', '-c', '-l'], plain);
  const sha = crypto.createHash('sha256').update(plain).digest('hex');
  await readAndRecord(
    'lz4 (legacy, spilled)',
    'big.lz4',
    `big.lz4, ${(legacy.length / 2 ** 20).toFixed(0)} MiB`,
    lz4,
    new BufferSource(legacy),
    { big: sha },
    { memoryBudget: 16 * 1024 * 1024 },
  );
});
