import type { ByteSource, FileSource } from '../io/byte-source.js';

/** A progress report: bytes read from the inputs so far, of their total size. */
export interface ScanProgress {
  location: string;
  bytesDone: number;
  bytesTotal: number;
  models: number;
}

/** Counts the bytes read through a top-level source, for progress. */
export class CountingSource implements ByteSource {
  read_ = 0;
  constructor(private readonly inner: FileSource) {}
  get size(): number {
    return this.inner.size;
  }
  get identity(): string {
    return this.inner.identity;
  }
  read(offset: number, length: number): Uint8Array {
    const b = this.inner.read(offset, length);
    this.read_ += b.length;
    return b;
  }
  readInto(offset: number, target: Uint8Array): number {
    const n = this.inner.readInto(offset, target);
    this.read_ += n;
    return n;
  }
}

/** Throttles progress callbacks to ten a second and tracks which input is being read. */
export class ProgressTicker {
  readonly state: ScanProgress = { location: '', bytesDone: 0, bytesTotal: 0, models: 0 };
  current: CountingSource | undefined;
  doneBefore = 0;
  private last = 0;
  constructor(private readonly cb: ((p: ScanProgress) => void) | undefined) {}

  tick(): void {
    if (!this.cb) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.state.bytesDone = Math.min(this.state.bytesTotal, this.doneBefore + (this.current?.read_ ?? 0));
    this.cb({ ...this.state });
  }
}
