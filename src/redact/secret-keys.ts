/**
 * Decides whether an object key names a secret, so its value is masked whatever it looks like.
 *
 * Keys are compared case-insensitively with `-`, `_`, `.` and spaces removed, so `API-Key`, `api_key`
 * and `apiKey` are one name. Three kinds of rule keep false positives low: words that are secret
 * wherever they appear in the key (`password`, `secret`), words that are secret as the key's last
 * word (`…token` masks `github_token` but not `max_tokens` or `token_count`), and short names that
 * are secret only on their own (`auth`, `pwd`).
 */

const ANYWHERE = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'credential',
  'privatekey',
  'apikey',
  'accesskey',
  'authorization',
  'cookie',
];

const AS_SUFFIX = ['token', 'pwd', 'sessionid', 'signingkey', 'encryptionkey', 'masterkey'];

const EXACT = new Set(['auth', 'pass', 'otp', 'jwt', 'bearer', 'xauth']);

/** Normalises a key for comparison: lower case, separators removed. */
export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}

/** True when an object key names a secret (`password`, `api_key`, `Authorization`, `x-api-key`, …). */
export function isSecretKey(key: string): boolean {
  if (key.length > 128) return false;
  const k = normalizeKey(key);
  if (EXACT.has(k)) return true;
  for (const word of ANYWHERE) if (k.includes(word)) return true;
  for (const word of AS_SUFFIX) if (k.endsWith(word)) return true;
  return false;
}
