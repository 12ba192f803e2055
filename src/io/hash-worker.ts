import { Worker } from 'node:worker_threads';

// The worker's code, inline so that it runs the same from the compiled CLI and from tests over the
// TypeScript sources. It reads the file with positional reads into one buffer and hashes it.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const fd = fs.openSync(workerData.path, 'r');
try {
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(n === buf.length ? buf : buf.subarray(0, n));
    pos += n;
  }
  parentPort.postMessage({ sha256: h.digest('hex'), size: pos });
} finally {
  fs.closeSync(fd);
}
`;

/** Below this size a worker's start-up costs more than hashing on the main thread. */
export const WORKER_HASH_MIN_SIZE = 16 * 1024 * 1024;

/**
 * sha256 of a whole file on a worker thread, so that an input's own hash is computed while the main
 * thread walks its contents (two cores: the scan of a 1 GB archive then costs one pass, not two).
 * Resolves with the digest and the number of bytes hashed (the caller compares it with the size it
 * scanned: a file that changed during the scan is reported, not silently mis-hashed).
 */
export function hashFileInWorker(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { path } });
    w.once('message', (m: { sha256: string; size: number }) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`hash worker exited with code ${code}`));
    });
  });
}
