import fs from 'node:fs';
import path from 'node:path';
import { FileSource, type ByteSource } from '../io/byte-source.js';

/**
 * Opens a file beside the item being read (`system.transfer.list` beside `system.new.dat.br`,
 * `weights.bin` beside `model.xml`), by a name relative to the item's folder. Resolves undefined when
 * there is none. Sources it opens are closed by its owner.
 */
export type SiblingResolver = (name: string) => Promise<ByteSource | undefined>;

/**
 * Thrown through a reader or format when it asks for a sibling its container has not listed yet: the
 * item is processed again once the whole container is listed. Never reaches a report.
 */
export class SiblingPending extends Error {}

export const noSiblings: SiblingResolver = () => Promise.resolve(undefined);

/**
 * Only a plain name, or one sub-folder and a name (`variables/variables.index`): a reader cannot reach
 * outside the item's own folder through `sibling`, nor walk a tree with it.
 */
export function siblingName(name: string): boolean {
  if (name.length === 0 || name.length > 512 || name.includes('\\') || name.includes('\0')) return false;
  const parts = name.split('/');
  return parts.length <= 2 && parts.every((p) => p.length > 0 && p.length <= 255 && p !== '.' && p !== '..');
}

function isRegularFile(p: string): boolean {
  try {
    return fs.lstatSync(p).isFile();
  } catch {
    return false;
  }
}

/** A resolver over a folder on disk; the files it opens are pushed to `opened` for the caller to close. */
export function diskSiblings(dirAbs: string, opened: FileSource[]): SiblingResolver {
  return (name) => {
    if (!siblingName(name)) return Promise.resolve(undefined);
    const p = path.join(dirAbs, name);
    // A sub-folder that is a symlink out of the folder is not followed, nor is a symlinked file.
    if (name.includes('/')) {
      const sub = safeRealpath(path.dirname(p));
      const root = safeRealpath(dirAbs);
      if (sub === undefined || root === undefined || !sub.startsWith(root + path.sep)) return Promise.resolve(undefined);
    }
    if (!isRegularFile(p)) return Promise.resolve(undefined);
    const f = FileSource.open(p);
    opened.push(f);
    return Promise.resolve(f);
  };
}

function safeRealpath(p: string): string | undefined {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return undefined;
  }
}

/** True when a recorded relative path (a link target, an external data reference) is absolute or climbs out of its root. */
export function escapesRoot(rel: string): boolean {
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel) || rel.includes('\\')) return true;
  const norm = path.posix.normalize(rel);
  return norm === '..' || norm.startsWith('../');
}
