import type { ProblemCode } from '../errors.js';
import type { Evidence, Problem, SoftwareComponent } from '../inventory/schema.js';
import type { ByteSource } from '../io/byte-source.js';
import type { Probe } from '../probe.js';

/**
 * An analyzer: a non-exclusive pass of the scan pipeline. Identification is exclusive (an item is one
 * model format or one container); analyzers run on every item whatever it was identified as, including
 * items that are also containers (an APK is a zip to walk and an app to describe), and on the complete
 * listing of every container and directory (a folder holding `model.xml` and `model.bin`). Runtime
 * rules, cloud endpoints, carving and app manifests are analyzers. Registered in `scan/analyzers.ts`
 * or passed in `ScanOptions.analyzers`. Results are kept relative to the item, so they are replayed
 * with it when identical content is met again.
 */
export interface Analyzer {
  readonly id: string;
  readonly description: string;
  /** Called for every file item after identification. */
  item?(item: AnalyzedItem, out: AnalyzerOutput): void | Promise<void>;
  /** Called once per container and per directory, when its listing is complete. */
  listing?(listing: Listing, out: AnalyzerOutput): void | Promise<void>;
}

/** What an analyzer sees of one item. */
export interface AnalyzedItem {
  readonly name: string;
  readonly size: number;
  readonly source: ByteSource;
  /** The shared probe (head bytes and memoized facts), the same the detectors saw. */
  readonly probe: Probe;
  /** What identification made of the item. */
  readonly identified: { kind: 'model' | 'container'; id: string } | undefined;
  /** The item's sha256, computed once per scan for the same bytes. */
  sha256(): string;
}

/** A complete listing: the members of one container, or the files of one input directory. */
export interface Listing {
  /** The container reader id, or `directory`. */
  readonly reader: string;
  readonly entries: readonly { path: string; type: string; size?: number }[];
}

/** What an analyzer may record. Paths are relative to the item or listing it was given. */
export interface AnalyzerOutput {
  problem(severity: Problem['severity'], code: ProblemCode, message: string, path?: string): void;
  /** A file that belongs to a model (`role`: labels, vocabulary, config, weights), with how it was found. */
  data(role: string, evidence: Evidence, path?: string): void;
  /**
   * A runtime, SDK, app, package or service. Its id is derived from its kind and `key`: by default,
   * for the item itself, its name, version and the item's sha256 (the same library in two partitions is
   * one component); a finding about a listing member or a service gives its own key (rule id and
   * endpoint host, so one service called from two apps is one component).
   */
  software(c: SoftwareReport, path?: string): void;
  /**
   * The files a package's own list says it installed (a Python `RECORD`, a dpkg `.list`), for the link
   * stage to tell which package ships a model or a runtime; never written to the inventory.
   */
  fileList(l: FileListReport, path?: string): void;
}

/** A package's file list: its kind says what the entries are relative to (see `runtimes/packages.ts`). */
export interface FileListReport {
  kind: 'record' | 'sources' | 'installed' | 'pkg';
  paths: readonly string[];
}

export interface SoftwareReport {
  kind: SoftwareComponent['kind'];
  name: string;
  version?: string;
  key?: readonly string[];
  evidence: Evidence;
  software: SoftwareComponent['software'];
}
