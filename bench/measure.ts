import crypto from 'node:crypto';
import fs from 'node:fs';
import type { ContainerReader } from '../src/containers/types.js';
import { chunks, type ByteSource } from '../src/io/byte-source.js';
import type { Limits } from '../src/io/limits.js';
import { makeContext } from '../tests/helpers/container-context.js';

/**
 * Shared pieces of the in-process measurements (`*.run.ts` beside this file): a timer, peak RSS
 * around one measurement, and a Markdown table. Not a test helper: nothing here asserts.
 */

/** Peak resident set size of this process since the last `resetPeakRss`, in MiB (Linux VmHWM). */
export function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 1024 / 1024;
}

/**
 * Resets the peak RSS to the current RSS (Linux: `5` into /proc/self/clear_refs), so that several
 * measurements in one process each get their own peak. Returns false where the kernel refuses.
 */
export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** One measured run: wall time, and the RSS before and at its peak (MiB). */
export interface Measured<T> {
  value: T;
  ms: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
}

/** Runs `fn` once, timing it and recording this process's peak RSS during it. */
export async function measure<T>(fn: () => T | Promise<T>): Promise<Measured<T>> {
  resetPeakRss();
  const rssBeforeMiB = process.memoryUsage().rss / 1024 / 1024;
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  return { value, ms, rssBeforeMiB, peakRssMiB: peakRssMiB() };
}

/** MiB/s for `bytes` in `ms`. */
export function mibps(bytes: number, ms: number): string {
  return (bytes / 2 ** 20 / (ms / 1000)).toFixed(0);
}

/** Peak RSS and its growth over the RSS before the run, e.g. `412 MiB (+96)`. */
export function rss(m: Measured<unknown>): string {
  return `${m.peakRssMiB.toFixed(0)} MiB (+${Math.max(0, m.peakRssMiB - m.rssBeforeMiB).toFixed(0)})`;
}

/** Prints a Markdown table. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  console.log(`\n${[line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')}\n`);
}

/**
 * Opens every entry of `src` through `reader` and hashes it in 4 MiB chunks, as a scan does.
 * Returns the bytes read and each entry's sha256 by path (for checking the run against the input).
 */
export async function readAllEntries(
  reader: ContainerReader,
  src: ByteSource,
  name: string,
  limits: Partial<Limits> = {},
): Promise<{ bytes: number; sha256: Map<string, string> }> {
  const t = makeContext(name, limits);
  try {
    let bytes = 0;
    const sha256 = new Map<string, string>();
    for await (const e of reader.entries(src, t.ctx)) {
      if (e.type !== 'file') continue;
      const s = await e.open();
      const h = crypto.createHash('sha256');
      for (const c of chunks(s, 4 * 1024 * 1024)) h.update(c);
      sha256.set(e.path, h.digest('hex'));
      bytes += s.size;
      t.budget.release(s);
    }
    return { bytes, sha256 };
  } finally {
    t.cleanup();
  }
}

/** sha256 of a file, streamed, followed by `trailingZeros` zero bytes. */
export function sha256File(file: string, trailingZeros = 0): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(8 * 1024 * 1024);
    for (let n: number; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  if (trailingZeros > 0) h.update(Buffer.alloc(trailingZeros));
  return h.digest('hex');
}
