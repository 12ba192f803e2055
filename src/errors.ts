/**
 * Typed errors. A detector or reader throws one of these for a single item; the orchestrator turns it
 * into a Problem for that item's location and the scan goes on. Anything else thrown is a bug in aibom,
 * still recorded as a Problem (code `internal`), never a stopped scan.
 */

/** Machine-readable problem codes; stable across releases because reports and policies key on them. */
export type ProblemCode =
  | 'format' // the bytes are not a valid instance of the format they claim or were matched as
  | 'truncated' // the bytes end before a structure does
  | 'limit' // a scan limit (depth, entries, decompressed bytes, ratio) was reached
  | 'unsupported' // recognised, but not (yet) readable: the content was not scanned
  | 'hostile-path' // an archive entry name that is absolute, climbs out with `..`, or is otherwise unsafe
  | 'duplicate-entry' // the same name twice in one container
  | 'symlink' // a link recorded and not followed
  | 'encrypted' // encrypted content that cannot be read
  | 'claimed-model' // a file named like a model that is not a valid model
  | 'security' // a model that runs code or imports unsafe names when loaded (pickle globals, Keras Lambda layers)
  | 'external-data' // a model's external weights are missing or point outside its folder
  | 'split-image' // a part of an image split in several files, joined with the others
  | 'io' // the operating system refused a read
  | 'internal' // a bug in aibom: please report it
  | 'no-runtime' // a model with no runtime or SDK in reach that can load its format (info)
  | 'claimed-container' // a file named like an archive or image that no reader recognised
  | 'security'; // a model that can read or write files or run code when loaded (TensorFlow ReadFile, PyFunc)

/** Base class: every aibom error carries a problem code. */
export abstract class AibomError extends Error {
  abstract readonly code: ProblemCode;
}

/** The bytes break the format's rules: one sentence naming the field and the value. */
export class FormatError extends AibomError {
  readonly code: 'format' | 'truncated';
  constructor(message: string, code: 'format' | 'truncated' = 'format') {
    super(message);
    this.name = 'FormatError';
    this.code = code;
  }
}

/** A configured limit was reached; `limit` names which one so reports can say what to raise. */
export class LimitError extends AibomError {
  readonly code = 'limit' as const;
  constructor(
    message: string,
    readonly limit: string,
  ) {
    super(message);
    this.name = 'LimitError';
  }
}

/** The format was recognised but this version of aibom cannot read it. */
export class UnsupportedError extends AibomError {
  readonly code: 'unsupported' | 'encrypted';
  constructor(message: string, code: 'unsupported' | 'encrypted' = 'unsupported') {
    super(message);
    this.name = 'UnsupportedError';
    this.code = code;
  }
}

/**
 * Maps anything thrown to a problem code and message. Only aibom's typed errors carry a code of their
 * own, and an operating system error (errno + syscall) is `io`; anything else, a RangeError or
 * TypeError included, is `internal`: bad input is typed where it is checked, so an untyped error is
 * a missing check or a bug of ours, never evidence about the input.
 */
export function describeError(err: unknown): { code: ProblemCode; message: string } {
  if (err instanceof AibomError) return { code: err.code, message: err.message };
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return { code: 'io', message: `${e.syscall} failed: ${e.code}` };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: `internal error: ${message}` };
}
