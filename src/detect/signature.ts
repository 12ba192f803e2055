/**
 * Declared signatures: the magic bytes a format or container is known by, as data. One table built
 * from every registry gives a fast dispatch (only detectors whose signature is present in an item's
 * head have their `match` called) and, in a later stage, the signature set for carving models out of
 * unknown bytes. A detector without signatures (ONNX, tar v7, MBR: recognised by structure) declares
 * an empty list and is always asked.
 */
export interface Signature {
  /** Offset of the magic from the start of the item (TFLite's 'TFL3' sits at 4). */
  readonly offset: number;
  /** The magic bytes, given as a latin1 string ('PK\x03\x04') or as byte values. */
  readonly magic: string | readonly number[];
  /** What the magic is, for documentation and the README (`FlatBuffers file identifier`). */
  readonly note?: string;
}

/** The magic of a signature as bytes. */
export function magicBytes(sig: Signature): Uint8Array {
  const m = sig.magic;
  if (typeof m === 'string') {
    const out = new Uint8Array(m.length);
    for (let i = 0; i < m.length; i++) out[i] = m.charCodeAt(i) & 0xff;
    return out;
  }
  return Uint8Array.from(m);
}

/** True when `sig` is present in `head` (which starts at the item's offset 0). */
export function signatureAt(head: Uint8Array, sig: Signature): boolean {
  const m = magicBytes(sig);
  if (sig.offset < 0 || sig.offset + m.length > head.length) return false;
  for (let i = 0; i < m.length; i++) if (head[sig.offset + i] !== m[i]) return false;
  return true;
}
