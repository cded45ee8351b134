/** Judging file-system paths found in server arguments and container mounts. */

/** Home-folder spellings that clients or shells expand (`~`, `$HOME`, `${env:USERPROFILE}`…). */
const HOME_TOKENS =
  /^(?:~|\$HOME|\$\{HOME\}|\$\{env:HOME\}|\$\{env:USERPROFILE\}|\$\{userHome\}|%USERPROFILE%|%HOMEPATH%|\$env:USERPROFILE)$/i;

function normalise(p: string): string {
  const trimmed = p.trim().replace(/^["']|["']$/g, '');
  // Keep a root ("/" or "C:\") intact; drop trailing separators elsewhere.
  if (/^(?:[\\/]+|[A-Za-z]:[\\/]*)$/.test(trimmed)) return trimmed;
  // A loop, not /[\\/]+$/: that regex retries from every separator of a long run (quadratic).
  let end = trimmed.length;
  while (end > 0 && (trimmed[end - 1] === '/' || trimmed[end - 1] === '\\')) end--;
  return trimmed.slice(0, end);
}

/**
 * What a broad root stands for ("the whole file system", "the home folder"), or undefined when the
 * path is narrower. `home` is the scanning user's home folder.
 */
export function broadRoot(p: string, home: string): string | undefined {
  const n = normalise(p);
  if (/^[\\/]+$/.test(n) || /^[A-Za-z]:[\\/]*$/.test(n)) return 'the whole file system';
  if (HOME_TOKENS.test(n)) return 'the home folder';
  if (n === normalise(home)) return 'the home folder';
  if (/^\/(?:home|Users)(?:\/[^/]+)?$/.test(n) || n === '/root') return 'a home folder';
  if (/^[A-Za-z]:[\\/]Users(?:[\\/][^\\/]+)?$/i.test(n)) return 'a home folder';
  return undefined;
}

/** Credential stores and system secrets, matched as path segments. */
const SENSITIVE = [
  /(?:^|[\\/])\.ssh(?:[\\/]|$)/,
  /(?:^|[\\/])id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?$/,
  /(?:^|[\\/])\.aws(?:[\\/]|$)/,
  /(?:^|[\\/])\.gnupg(?:[\\/]|$)/,
  /(?:^|[\\/])\.kube(?:[\\/]|$)/,
  /(?:^|[\\/])\.docker[\\/]config\.json$/,
  /(?:^|[\\/])\.config[\\/]gcloud(?:[\\/]|$)/,
  /(?:^|[\\/])\.azure(?:[\\/]|$)/,
  /(?:^|[\\/])\.netrc$/,
  /(?:^|[\\/])\.password-store(?:[\\/]|$)/,
  /(?:^|[\\/])Library[\\/]Keychains(?:[\\/]|$)/,
  /^\/etc\/(?:shadow|gshadow|sudoers)$/,
];

/** True when the path is (or is inside) a credential store. */
export function isSensitivePath(p: string): boolean {
  const n = normalise(p);
  return SENSITIVE.some((re) => re.test(n));
}

/** System folders a container must not see: /etc, /proc, /sys, /boot, /var/run, /root. */
export function isSystemFolder(p: string): boolean {
  return /^\/(?:etc|proc|sys|boot|dev|root|var\/run|run)(?:\/|$)/.test(normalise(p));
}
