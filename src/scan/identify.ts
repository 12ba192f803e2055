import type { ContainerReader } from '../containers/types.js';
import { SignatureTable, describeSignature, type Candidate } from '../detect/dispatch.js';
import type { ModelFormat } from '../formats/types.js';
import { extensionOf, type Probe } from '../probe.js';

/**
 * The identify stage's tables: which model formats and which container readers an item may be. It is
 * exclusive (an item is at most one model format or one container; analyzers do the non-exclusive
 * work). Declared signatures narrow the candidates before any `match` is called.
 */
export class Identifier {
  private readonly formatTable: SignatureTable<ModelFormat>;
  private readonly containerTable: SignatureTable<ContainerReader>;
  private readonly claims = new Map<string, ModelFormat[]>();
  private readonly containerClaims = new Map<string, string[]>();

  constructor(formats: readonly ModelFormat[], containers: readonly ContainerReader[]) {
    this.formatTable = new SignatureTable(formats);
    this.containerTable = new SignatureTable(containers);
    for (const f of formats) {
      for (const ext of f.extensions) this.claims.set(ext, [...(this.claims.get(ext) ?? []), f]);
    }
    for (const c of containers) {
      for (const ext of c.extensions ?? []) this.containerClaims.set(ext, [...(this.containerClaims.get(ext) ?? []), c.id]);
    }
  }

  /** Container readers the item's name claims by its extension (`.zip` -> zip), for items none opened. */
  containersClaimedBy(name: string): readonly string[] {
    return this.containerClaims.get(extensionOf(name)) ?? [];
  }

  /** Model formats whose signature is present (or that have none) and whose `match` accepts the probe. */
  formats(probe: Probe): Candidate<ModelFormat>[] {
    return this.formatTable.candidates(probe.head).filter((c) => c.detector.match(probe));
  }

  /** Formats the item's name claims by its extension (validated anyway: detection is by content). */
  claimedBy(name: string): readonly ModelFormat[] {
    return this.claims.get(extensionOf(name)) ?? [];
  }

  /** The first container reader that accepts the probe. */
  container(probe: Probe): Candidate<ContainerReader> | undefined {
    for (const c of this.containerTable.candidates(probe.head)) if (c.detector.match(probe)) return c;
    return undefined;
  }
}

/** Evidence text for a candidate: the signature found, or the structural recognition. */
export function matchDetail(kind: string, id: string, c: { signature?: Parameters<typeof describeSignature>[0] }): string {
  return c.signature !== undefined ? `${id} ${kind}: ${describeSignature(c.signature)}` : `${id} ${kind}: recognised by structure`;
}
