import { z } from 'zod';

/**
 * The schema of a rule in `rules/`: knowledge as data, in the manner of syft's binary classifiers.
 * A rule names one piece of AI software (an inference runtime, an SDK or delegate, an app framework, a
 * cloud AI service, an agent framework) and the matchers that recognise it in built firmware. A rule
 * hits an item when any of its matchers does; the engine (`engine.ts`) runs every rule in one pass.
 *
 * Deliberately not expressible: arbitrary code, regexes over whole files (content regexes run only in
 * bounded regions), versions guessed from names without saying so (`versionFromName` marks them, and
 * they are reported with medium confidence).
 */

export const RULE_SCHEMA = 'aibom/rules@1';

const confidence = z.enum(['high', 'medium', 'low']);

/** A JavaScript regular expression source that compiles; checked when the rule is loaded. */
const regexSource = z
  .string()
  .min(1)
  .max(500)
  .refine(
    (s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid regular expression' },
  );

/**
 * The formats a matcher applies to. `elf`, `wasm`, `pe`, `dex` are recognised by their magic bytes,
 * `text` is anything else that is not a model or a container (configs, scripts, JS bundles), `any`
 * every non-empty file.
 */
const fileType = z.enum(['elf', 'wasm', 'pe', 'dex', 'text', 'any']);

/** File-name glob (`*`, `?`, `[...]`, `{a,b}`) over the item's own name; never alone on an empty file. */
const filenameMatcher = z.object({
  type: z.literal('filename'),
  glob: z.string().min(1).max(200),
  /** What the content must be for the name to count (`elf`: an empty `libonnxruntime.so` stays silent). */
  fileType,
  /** A regex over the name whose `version` group is the version: the name carries it (confidence medium). */
  versionFromName: regexSource.optional(),
  confidence: confidence.default('medium'),
});

/** ELF DT_SONAME. */
const sonameMatcher = z.object({
  type: z.literal('soname'),
  pattern: regexSource,
  confidence: confidence.default('high'),
});

/** ELF DT_NEEDED or a PE import: the library links against another (a binding of a runtime). */
const neededMatcher = z.object({
  type: z.literal('needed'),
  pattern: regexSource,
  confidence: confidence.default('medium'),
});

/**
 * A string of a PE file's version resource (`FileDescription`, `ProductName`, `InternalName`...); the
 * version is the leading `x.y[.z]` of `versionField` (ProductVersion by default), which the file states.
 */
const peVersionMatcher = z.object({
  type: z.literal('pe-version'),
  field: z
    .string()
    .regex(/^[A-Za-z]+$/)
    .max(40),
  pattern: regexSource,
  versionField: z
    .string()
    .regex(/^[A-Za-z]+$/)
    .max(40)
    .default('ProductVersion'),
  confidence: confidence.default('high'),
});

/** A dynamic symbol: `defined` true for an export, false for an import, absent for either. */
const symbolMatcher = z.object({
  type: z.literal('symbol'),
  pattern: regexSource,
  defined: z.boolean().optional(),
  confidence: confidence.default('high'),
});

/**
 * A symbol version: a version the library defines (`.gnu.version_d`, `VERS_1.30.0` in ONNX Runtime)
 * or, with `defined: false`, one it needs from another library (`.gnu.version_r`). A `version` group
 * gives the component's version (only for defined versions: a needed one is the other library's).
 */
const symbolVersionMatcher = z.object({
  type: z.literal('symbol-version'),
  pattern: regexSource,
  defined: z.boolean().default(true),
  confidence: confidence.default('high'),
});

/**
 * A regex over bounded regions of the content: an ELF's `.rodata` and `.comment`, otherwise the first
 * and last MiB. `literal` is a plain substring every match contains: the engine searches all literals
 * in one pass and runs a regex only around its literal's hits. A `version` group gives the version.
 */
const contentMatcher = z.object({
  type: z.literal('content'),
  literal: z.string().min(4).max(100),
  pattern: regexSource,
  fileType: fileType.default('any'),
  confidence: confidence.default('medium'),
});

/** Magic bytes at an offset of the head (hex). */
const magicMatcher = z.object({
  type: z.literal('magic'),
  offset: z.number().int().min(0).max(65535),
  hex: z
    .string()
    .regex(/^([0-9a-fA-F]{2})+$/)
    .max(128),
  confidence: confidence.default('medium'),
});

/** A Java/Kotlin package prefix among the class names of a dex string table (`org.tensorflow.lite`). */
const dexPrefixMatcher = z.object({
  type: z.literal('dex-package'),
  prefix: z
    .string()
    .regex(/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/)
    .max(200),
  confidence: confidence.default('high'),
});

/** A distribution named in a package manifest: npm `package.json`, Python METADATA, Maven pom.properties, dpkg/opkg status. */
const packageMatcher = z.object({
  type: z.literal('package'),
  ecosystem: z.enum(['npm', 'pypi', 'maven', 'deb']),
  /** The distribution name (`onnxruntime-node`; Maven `group:artifact`); exact, case-insensitive. */
  name: z.string().min(1).max(214),
  confidence: confidence.default('high'),
});

/**
 * A cloud endpoint written as a URL or quoted string in a config, script, dex string table or binary:
 * either a `host` (or, starting with `.` or `-`, a suffix such as `.openai.azure.com`), or a `literal`
 * with a `pattern` whose named group `host` is the host (`bedrock-runtime.<region>.amazonaws.com`).
 * The service component is keyed by rule id and host.
 */
const endpointMatcher = z.object({
  type: z.literal('endpoint'),
  host: z
    .string()
    .regex(/^[.-]?[a-z0-9-]+(\.[a-z0-9-]+)+$/)
    .max(200)
    .optional(),
  literal: z.string().min(4).max(100).optional(),
  pattern: regexSource.refine((s) => s.includes('(?<host>'), { message: 'an endpoint pattern needs a named group host' }).optional(),
  confidence: confidence.default('high'),
});

export const matcherSchema = z.discriminatedUnion('type', [
  filenameMatcher,
  sonameMatcher,
  neededMatcher,
  symbolMatcher,
  symbolVersionMatcher,
  peVersionMatcher,
  contentMatcher,
  magicMatcher,
  dexPrefixMatcher,
  packageMatcher,
  endpointMatcher,
]);

/** The kinds a rule may declare, and the inventory kind each becomes. */
export const RULE_KINDS = {
  runtime: 'runtime',
  sdk: 'sdk',
  delegate: 'sdk',
  'app-framework': 'sdk',
  'agent-framework': 'sdk',
  'cloud-service': 'service',
} as const;

export const ruleSchema = z
  .object({
    /** Stable, kebab-case; a user rule with the same id replaces the built-in one. */
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]*$/)
      .max(80),
    /** The component name reported (`ONNX Runtime`). */
    name: z.string().min(1).max(120),
    kind: z.enum(['runtime', 'sdk', 'delegate', 'app-framework', 'agent-framework', 'cloud-service']),
    vendor: z.string().max(120).optional(),
    /** Licence hint (SPDX id where one applies); the component's own statement wins when read. */
    license: z.string().max(120).optional(),
    /** Package URL template; `{version}` is replaced, and dropped with its `@` when no version is known. */
    purl: z.string().startsWith('pkg:').max(300).optional(),
    /** CPE 2.3 template; `{version}` becomes the version or `*`. */
    cpe: z.string().startsWith('cpe:2.3:').max(300).optional(),
    /** Model format ids this software can load. */
    loads: z
      .array(z.string().regex(/^[a-z0-9-]+$/))
      .max(50)
      .default([]),
    description: z.string().max(500).optional(),
    matchers: z.array(matcherSchema).min(1).max(50),
  })
  .strict()
  .superRefine((r, ctx) => {
    r.matchers.forEach((m, i) => {
      if (m.type === 'endpoint' && (m.host === undefined) === (m.literal === undefined || m.pattern === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['matchers', i], message: 'an endpoint matcher has either host, or literal and pattern' });
      }
      if (m.type === 'endpoint' && r.kind !== 'cloud-service') {
        ctx.addIssue({ code: 'custom', path: ['matchers', i], message: 'endpoint matchers belong to cloud-service rules' });
      }
    });
  });

/** A rules file: a schema tag and its rules. */
export const rulesFileSchema = z
  .object({
    schema: z.literal(RULE_SCHEMA),
    rules: z.array(ruleSchema).max(1000),
  })
  .strict();

export type Rule = z.infer<typeof ruleSchema>;
export type Matcher = z.infer<typeof matcherSchema>;
export type RuleKind = Rule['kind'];
