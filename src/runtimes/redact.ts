/**
 * Removes anything that looks like a credential from a matched text before it is stored anywhere:
 * provider API keys (OpenAI `sk-...`, Anthropic `sk-ant-...`, Google `AIza...`, AWS `AKIA...`), bearer
 * and basic tokens, JWTs, secret-looking query values and JSON/INI assignments (`api_key=...`,
 * `"apiKey": "..."`), and long high-entropy runs. The one place redaction happens: every matched text
 * the rule engine records goes through it. It errs on the side of redacting; it does not try to tell a
 * live key from a placeholder.
 */

const MARK = '[REDACTED]';

/** Names of query parameters, headers and config keys whose value is a secret. */
const SECRET_NAMES =
  '(?:api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|secret(?:[_-]?(?:access[_-]?)?key)?|client[_-]?secret|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|password|passwd|pwd|signature|sig|x-api-key|x-goog-api-key|ocp-apim-subscription-key|subscription[_-]?key|app[_-]?secret|appkey|app[_-]?key|ak|sk)';

const PATTERNS: RegExp[] = [
  // Provider key shapes, wherever they appear.
  /\bsk-ant-[A-Za-z0-9_-]{8,}/g,
  /\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{16,}/g,
  /\bAIza[0-9A-Za-z_-]{30,}/g,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g,
  // JWTs: three base64url parts, the first starting with '{"' encoded.
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
];

/** `Authorization: Bearer x`, `Bearer x`, `Basic x`: the scheme is kept, the token goes. */
const AUTH = /\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9._~+/=-]{6,}/gi;
/** `name=value`, `name: value`, `"name": "value"` for secret names; the value goes. */
const ASSIGN = new RegExp(`(${SECRET_NAMES}["']?\\s*[:=]\\s*["']?)([^\\s"'&,;}<>]{4,})`, 'gi');
/** Anything left that is long and mixes letters and digits: a key without a telling name. */
const LONG = /[A-Za-z0-9+/_-]{32,}={0,2}/g;

function looksRandom(s: string): boolean {
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s);
}

/** The text with every credential-looking part replaced by `[REDACTED]`. */
export function redactSecrets(text: string): string {
  let s = text;
  for (const p of PATTERNS) s = s.replace(p, MARK);
  s = s.replace(AUTH, (_m, scheme: string, space: string) => `${scheme}${space}${MARK}`);
  s = s.replace(ASSIGN, (m, name: string, value: string) => (value === MARK ? m : `${name}${MARK}`));
  s = s.replace(LONG, (m) => (looksRandom(m) ? MARK : m));
  return s;
}
