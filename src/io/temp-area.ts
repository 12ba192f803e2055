import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Temp areas still on disk, removed by one process 'exit' hook if the scan did not clean up. */
const liveAreas = new Set<TempArea>();
let exitHookInstalled = false;
function onExit(): void {
  for (const area of [...liveAreas]) area.cleanup();
}

/**
 * The scan's private scratch directory: created lazily with `fs.mkdtempSync` (mode 0700) under the
 * OS temp folder, holding only files this class creates with exclusive flags (`O_CREAT|O_EXCL`,
 * mode 0600) under names it chooses. Nothing is ever written anywhere else, and never under a name
 * taken from an archive. `cleanup()` closes and removes everything; a process 'exit' hook does the
 * same if the scan did not.
 */
export class TempArea {
  private dir: string | undefined;
  private counter = 0;
  private readonly files = new Map<number, string>();

  /** The directory, once something has been written; undefined before. */
  get path(): string | undefined {
    return this.dir;
  }

  /** Number of files created here and not yet removed. */
  get openFiles(): number {
    return this.files.size;
  }

  /** Creates a new empty file opened read-write; the caller removes it with `removeFile(fd)`. */
  createFile(): { fd: number; path: string } {
    if (this.dir === undefined) {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-'));
      liveAreas.add(this);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.once('exit', onExit);
      }
    }
    const file = path.join(this.dir, `decoded-${++this.counter}.bin`);
    // 'wx+': O_RDWR | O_CREAT | O_EXCL, so an existing file (or a planted symlink) is never reused.
    const fd = fs.openSync(file, 'wx+', 0o600);
    this.files.set(fd, file);
    return { fd, path: file };
  }

  /** Closes and deletes a file made by `createFile`; unknown descriptors are ignored. */
  removeFile(fd: number): void {
    const file = this.files.get(fd);
    if (file === undefined) return;
    this.files.delete(fd);
    try {
      fs.closeSync(fd);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  /** Closes every file still open and removes the directory. Safe to call twice. */
  cleanup(): void {
    for (const fd of [...this.files.keys()]) {
      try {
        this.removeFile(fd);
      } catch {
        // Already closed: the directory removal below still deletes it.
      }
    }
    if (this.dir !== undefined) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      this.dir = undefined;
    }
    liveAreas.delete(this);
  }
}
