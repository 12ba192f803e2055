/**
 * What each problem code means and what to do about it, for reports that carry a rule or help text
 * per code (SARIF rules, the HTML and Markdown problem tables). The codes are those of `src/errors.ts`
 * (copied as data: encoders import no scan code); a code not listed here gets a generic text, so a
 * new code never breaks a report.
 */
export interface ProblemCodeHelp {
  /** Short title, a few words. */
  title: string;
  /** What happened and what the reader can do. */
  help: string;
}

export const PROBLEM_CODES: Readonly<Record<string, ProblemCodeHelp>> = {
  format: {
    title: 'Invalid content',
    help: 'The bytes are not a valid instance of the format they claim or were matched as. The item was skipped; check whether the file is damaged or of another format.',
  },
  truncated: {
    title: 'Truncated content',
    help: 'The bytes end before a structure does, often a partial download or a damaged image. Whatever came before the cut was read.',
  },
  limit: {
    title: 'Scan limit reached',
    help: 'A scan limit (depth, entries, decompressed bytes, compression ratio, time) stopped the reading of this item; what lies beyond is not in the report. Raise the limit with its --max-* option if the input is trusted.',
  },
  unsupported: {
    title: 'Unsupported content',
    help: 'The content was recognised but aibom cannot read it (yet), so it was not scanned. Models inside it are not in the report.',
  },
  'hostile-path': {
    title: 'Hostile archive entry name',
    help: 'An archive entry name is absolute, climbs out with "..", or is otherwise unsafe. It was recorded under a safe name and never written anywhere.',
  },
  'duplicate-entry': {
    title: 'Duplicate archive entry',
    help: 'The same name appears twice in one container; readers of the archive may disagree on which one is used.',
  },
  symlink: { title: 'Symbolic link', help: 'A symbolic link was recorded and not followed.' },
  encrypted: { title: 'Encrypted content', help: 'Encrypted content cannot be read without its key; models inside it are not in the report.' },
  'claimed-model': {
    title: 'Named like a model, not a valid model',
    help: 'A file whose name claims a model format does not validate as that format: a damaged, encrypted or obfuscated model, or a misnamed file. Inspect it by hand.',
  },
  'external-data': {
    title: 'Missing or escaping external data',
    help: "A model's external weights are missing or point outside its folder; the model is reported without them.",
  },
  'split-image': { title: 'Split image joined', help: 'A part of an image split in several files was joined with the others before reading.' },
  io: { title: 'Read error', help: 'The operating system refused a read; the item was skipped.' },
  security: {
    title: 'Unsafe model content',
    help: 'Loading this model would run code or import names that touch the system: pickle globals outside the data-only allowlist (os.system, subprocess, eval...), Keras Lambda layers or custom objects, graph ops that read or write files. Load it only in isolation, or convert it to a format without code (safetensors, ONNX).',
  },
  'claimed-container': {
    title: 'Unrecognised archive or image',
    help: 'The file is named like an archive or firmware image (.zip, .gz, .img...) but no reader recognised its content, so nothing inside it was scanned. It may be damaged, encrypted or of a vendor format aibom does not read yet.',
  },
  'no-runtime': {
    title: 'No runtime in reach',
    help: 'No runtime or SDK that can load this model format was found in the same app or package, or as a shared library on the same partition. It may be loaded by software aibom does not recognise, downloaded at run time, or be dead weight; add a rule (--rules DIR) if you know its runtime.',
  },
  internal: { title: 'Internal error', help: 'aibom failed on this item (a bug); the scan went on. Please report it with the file if you can share it.' },
};

/** The help of a code, or a generic one for a code this version does not know. */
export function problemCodeHelp(code: string): ProblemCodeHelp {
  return PROBLEM_CODES[code] ?? { title: code, help: `Problem code '${code}': see the message of each result.` };
}
