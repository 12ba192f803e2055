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
  /** The answer for an item with no declared magic: the structural detectors, in order (shared, never mutated). */
  private readonly structuralOnly: readonly Candidate<T>[];
  private readonly isStructural: boolean[] = [];

  constructor(readonly detectors: readonly T[]) {
    detectors.forEach((d, rank) => {
      const sigs = d.signatures ?? [];
      this.isStructural[rank] = sigs.length === 0;
      if (sigs.length === 0) return;
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
    this.structuralOnly = detectors.filter((_, rank) => this.isStructural[rank] === true).map((detector) => ({ detector }));
  }

  /** Candidates for an item whose first bytes are `head`, in registry order, each detector once. */
  candidates(head: Uint8Array): readonly Candidate<T>[] {
    // Called for every item of a scan: no maps or sorting here, one pass over the declared offsets
    // into a per-rank slot array, then one pass over the registry in order.
    const hit: (Signature | undefined)[] = new Array<Signature | undefined>(this.detectors.length);
    let any = false;
    for (const [offset, byByte] of this.byOffset) {
      if (offset >= head.length) continue;
      const list = byByte.get(head[offset]!);
      if (list === undefined) continue;
      for (const e of list) {
        if (hit[e.rank] !== undefined || offset + e.magic.length > head.length) continue;
        let ok = true;
        for (let i = 1; i < e.magic.length; i++) {
          if (head[offset + i] !== e.magic[i]) {
            ok = false;
            break;
          }
        }
        if (ok) {
          hit[e.rank] = e.signature;
          any = true;
        }
      }
    }
    if (!any) return this.structuralOnly;
    const out: Candidate<T>[] = [];
    for (let rank = 0; rank < this.detectors.length; rank++) {
      const sig = hit[rank];
      if (sig !== undefined) out.push({ detector: this.detectors[rank]!, signature: sig });
      else if (this.isStructural[rank] === true) out.push({ detector: this.detectors[rank]! });
    }
    return out;
  }
}

/** A signature for evidence: `'TFL3' at offset 4` (printable bytes as text, others as hex). */
export function describeSignature(sig: Signature): string {
  const m = magicBytes(sig);
  const printable = m.every((b) => b >= 0x20 && b < 0x7f && b !== 0x27);
  const text = printable ? `'${String.fromCharCode(...m)}'` : [...m].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${text} at offset ${sig.offset}`;
}
