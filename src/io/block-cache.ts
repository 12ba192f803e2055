/**
 * An LRU cache of decoded blocks, bounded in bytes. One instance belongs to one scan (through
 * ScanResources), so the memory held by decoded blocks stays bounded whatever the image, and two
 * scans never see each other's blocks.
 *
 * Keys are strings inside a keyspace handed out by `newKeyspace()`: each ExtentSource, squashfs
 * image or OTA payload partition takes its own, so keys never come from module-level counters and
 * a fresh cache starts its numbering afresh.
 */
export class BlockCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  private keyspaces = 0;
  private disposed = false;
  constructor(readonly maxBytes: number) {}

  /** A prefix no other user of this cache has: keys are `${keyspace}:${whatever the user chooses}`. */
  newKeyspace(): string {
    return `k${this.keyspaces++}`;
  }

  /**
   * The cached block under `key`, or `compute()` kept under it (a block larger than the whole cache
   * is returned without being kept; after `clear()` nothing is kept any more).
   */
  get(key: string, compute: () => Uint8Array): Uint8Array {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used.
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = compute();
    if (!this.disposed && value.length <= this.maxBytes) {
      this.map.set(key, value);
      this.bytes += value.length;
      for (const [k, v] of this.map) {
        if (this.bytes <= this.maxBytes) break;
        this.map.delete(k);
        this.bytes -= v.length;
      }
    }
    return value;
  }

  /** Bytes currently held. */
  get size(): number {
    return this.bytes;
  }

  /** Drops every block; later `get`s still compute but keep nothing (the scan is over). */
  clear(): void {
    this.map.clear();
    this.bytes = 0;
    this.disposed = true;
  }
}
