import type { ContainerContext } from './types.js';

/**
 * Turns member names as recorded in an archive into display paths, and records what is hostile about
 * them (unblob's habit: hostile content is recorded with what was done, never obeyed). Shared by the
 * zip and tar readers. A name is never used as a file-system path anywhere in aibom; these checks
 * exist so that the report says which archives would be dangerous to extract.
 */
export class EntryNames {
  private readonly seen = new Set<string>();
  constructor(
    private readonly ctx: ContainerContext,
    /** Format named in messages, e.g. 'zip'. */
    private readonly format: string,
    /** Zip names use '/' only; a backslash there is a Windows separator (a tar name may contain one). */
    private readonly backslashIsSeparator: boolean,
  ) {}

  /**
   * Returns the display path of a member: '/'-separated, leading '/' and './' removed, a directory's
   * trailing '/' removed. Records `hostile-path` for absolute names, drive letters, backslash
   * separators and '..' segments, and `duplicate-entry` for a non-directory seen twice; both members
   * are still listed.
   */
  accept(recorded: string, isDirectory: boolean): string {
    const reasons: string[] = [];
    let p = recorded;
    if (this.backslashIsSeparator && p.includes('\\')) {
      reasons.push('uses backslashes as separators');
      p = p.replaceAll('\\', '/');
    }
    if (/^[A-Za-z]:/.test(p)) reasons.push('starts with a drive letter');
    if (p.startsWith('/') || p.startsWith('\\')) reasons.push('is absolute');
    // Split on both separators: a Windows extractor treats '..\' in a tar name as climbing too.
    if (p.split(/[\\/]/).includes('..')) reasons.push("has '..' segments");
    let display = p;
    for (;;) {
      if (display.startsWith('/')) display = display.slice(1);
      else if (display.startsWith('./')) display = display.slice(2);
      else break;
    }
    if (isDirectory) display = display.replace(/\/+$/, '');
    if (reasons.length > 0) {
      this.ctx.problem({
        path: display,
        severity: 'warning',
        code: 'hostile-path',
        message: `The ${this.format} member name ${JSON.stringify(recorded)} ${reasons.join(' and ')}: recorded, not used as a path.`,
      });
    }
    if (!isDirectory) {
      if (this.seen.has(display)) {
        this.ctx.problem({
          path: display,
          severity: 'warning',
          code: 'duplicate-entry',
          message: `The ${this.format} member name ${JSON.stringify(display)} occurs more than once: every copy is listed (an extractor would keep only one).`,
        });
      } else {
        this.seen.add(display);
      }
    }
    return display;
  }
}
