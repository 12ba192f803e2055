import type { ByteSource } from '../io/byte-source.js';
import type { Limits } from '../io/limits.js';
import type { ScanResources } from '../io/scan-resources.js';
import type { Probe } from '../probe.js';
import type { ProblemCode } from '../errors.js';
import type { Signature } from '../detect/signature.js';

/** One member of a container. Opening is lazy: nothing is read or decoded until `open()`. */
export interface ContainerEntry {
  /**
   * The member's path as recorded in the container, '/'-separated, with any leading './' or '/'
   * removed for display. Hostile names (absolute, `..`) are reported through ContainerContext.problem
   * and still listed under their recorded text; they are never used as file-system paths.
   */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /** Declared (uncompressed) size; untrusted, for progress and budgets only. */
  readonly size?: number;
  /** Target of a symlink or hardlink, as recorded. */
  readonly linkTarget?: string;
  /**
   * The member's bytes: a slice of the parent for stored data, a decoded source otherwise.
   * Throws typed errors (FormatError, LimitError, UnsupportedError) for this member only.
   */
  open(): Promise<ByteSource>;
}

/** A problem about one member or about the container itself (`path` omitted). */
export interface EntryProblem {
  path?: string;
  severity: 'error' | 'warning' | 'info';
  code: ProblemCode;
  message: string;
}

/** What the orchestrator hands a container reader. */
export interface ContainerContext {
  readonly limits: Readonly<Limits>;
  /** The container's own name (last location hop), e.g. `update.tar.gz`, for naming a sole member. */
  readonly name: string;
  /**
   * The scan's shared resources: the block cache and decode charge that virtual images with decoded
   * extents (squashfs, EROFS, OTA payloads) pass to ExtentSource. Owned and disposed by the scan.
   */
  readonly resources: ScanResources;
  /** Records a problem; the reader then goes on with the next member where it can. */
  problem(p: EntryProblem): void;
  /**
   * Turns a decompressing stream into a ByteSource under the scan's limits: counts the bytes against
   * the total decompressed budget and the ratio limit (`compressedSize` known), keeps them in memory
   * under the memory budget and spills to a private temp file above it, and hashes them on the way.
   * Throws LimitError when a limit is reached (the partial output is discarded).
   */
  decode(stream: AsyncIterable<Uint8Array>, info: DecodeInfo): Promise<ByteSource>;
  /**
   * Opens a sibling of the item being read: a file of the same folder or container member folder
   * (`system.transfer.list` beside `system.new.dat.br`). Resolves undefined when there is none.
   * Only for formats that are not self-describing; the sibling is still scanned on its own. When the
   * sibling has not been listed yet, the orchestrator defers this item to the end of its container.
   */
  sibling(name: string): Promise<ByteSource | undefined>;
}

export interface DecodeInfo {
  /** For messages: what is being decoded, e.g. `zip member assets/a.bin (deflate)`. */
  readonly what: string;
  /** Compressed input size, for the ratio limit. */
  readonly compressedSize: number;
  /** Declared output size when the container records one (untrusted): output beyond it is an error. */
  readonly declaredSize?: number;
}

/**
 * A container format: one module per format, registered in `containers/index.ts` in priority order.
 * `match` is cheap (head bytes only); `entries` walks members lazily by byte ranges of `src`.
 * A reader knows nothing of models: it only lists and opens members.
 */
export interface ContainerReader {
  /** Equals the module's file name. */
  readonly id: string;
  /** One line for the README's format table. */
  readonly description: string;
  /**
   * What kind of container this is, for the inventory: `archive` (zip, tar, cpio, asar), `compression`
   * (a transparent wrapper: gzip, xz...), `filesystem` (ext4, EROFS, squashfs, ISO), `partitions`
   * (its members are partitions: GPT, MBR, super, payload.bin, Rockchip, sparse and block OTA images,
   * boot images), `other` (recognised only to be reported).
   */
  readonly kind: ContainerKind;
  /**
   * Magic bytes as data (empty when recognised by structure or by name only, as tar v7, MBR and OTA
   * block images are). The orchestrator may call `match` only when one is present in the head, so
   * `match` must never accept a head that holds none of them.
   */
  readonly signatures: readonly Signature[];
  /**
   * Extensions (with dot, lower case) whose items claim to be this container (`.zip`, `.apk`, `.gz`).
   * Detection stays by content: a claimed item that no reader opens is reported (`claimed-container`)
   * instead of passing silently.
   */
  readonly extensions?: readonly string[];
  match(probe: Probe): boolean;
  entries(src: ByteSource, ctx: ContainerContext): AsyncIterable<ContainerEntry>;
}

export type ContainerKind = 'archive' | 'compression' | 'filesystem' | 'partitions' | 'other';
