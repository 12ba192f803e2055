import { magicBytes, type Signature } from './signature.js';

/** Anything a dispatch table can hold: a model format or a container reader. */
export interface Detector {
  readonly id: string;
  readonly signatures?: readonly Signature[] | undefined;
}

/** A detector chosen for an item, with the signature that was present (none for structural detectors). */
export interface Candidate<T extends Detector> {
  detector: T;
  signature?: Signature;
}

interface Entry<T> {
  rank: number;
  detector: T;
  signature: Signature;
  magic: Uint8Array;
}

/**
 * One table over the declared signatures of a registry, for fast identification: instead of calling
 * forty `match` functions on every item, the table looks up the item's bytes at each declared offset
 * and returns, in registry order, the detectors whose magic is present plus those that declare none
 * (recognised by structure only, always asked). Their `match` then decides.
 */
export class SignatureTable<T extends Detector> {
  /** offset -> first magic byte -> entries. */
  private readonly byOffset = new Map<number, Map<number, Entry<T>[]>>();
  private readonly structural: { rank: number; detector: T }[] = [];

  constructor(readonly detectors: readonly T[]) {
    detectors.forEach((d, rank) => {
      const sigs = d.signatures ?? [];
      if (sigs.length === 0) {
        this.structural.push({ rank, detector: d });
        return;
      }
      for (const signature of sigs) {
        const magic = magicBytes(signature);
        if (magic.length === 0) throw new Error(`${d.id}: a signature needs at least one byte.`);
        let byByte = this.byOffset.get(signature.offset);
        if (byByte === undefined) this.byOffset.set(signature.offset, (byByte = new Map()));
        const list = byByte.get(magic[0]!) ?? [];
        list.push({ rank, detector: d, signature, magic });
        byByte.set(magic[0]!, list);
      }
    });
  }

  /** Candidates for an item whose first bytes are `head`, in registry order, each detector once. */
  candidates(head: Uint8Array): Candidate<T>[] {
    const found = new Map<number, Candidate<T>>();
    for (const [offset, byByte] of this.byOffset) {
      if (offset >= head.length) continue;
      const list = byByte.get(head[offset]!);
      if (list === undefined) continue;
      for (const e of list) {
        if (found.has(e.rank) || offset + e.magic.length > head.length) continue;
        let ok = true;
        for (let i = 1; i < e.magic.length; i++) {
          if (head[offset + i] !== e.magic[i]) {
            ok = false;
            break;
          }
        }
        if (ok) found.set(e.rank, { detector: e.detector, signature: e.signature });
      }
    }
    for (const s of this.structural) found.set(s.rank, { detector: s.detector });
    return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
  }
}

/** A signature for evidence: `'TFL3' at offset 4` (printable bytes as text, others as hex). */
export function describeSignature(sig: Signature): string {
  const m = magicBytes(sig);
  const printable = m.every((b) => b >= 0x20 && b < 0x7f && b !== 0x27);
  const text = printable ? `'${String.fromCharCode(...m)}'` : [...m].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${text} at offset ${sig.offset}`;
}
