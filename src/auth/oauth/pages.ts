/**
 * The login/consent and device pages. Plain server-rendered HTML (no script), every value escaped, and
 * headers that keep the page from being framed (clickjacking) or cached.
 */
import type { ServerResponse } from 'node:http';

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/**
 * Sends a page; `formTargets` are extra origins a form on it may submit to (redirects count in Chrome),
 * `headers` extra response headers (e.g. Retry-After).
 */
export function sendPage(
  res: ServerResponse,
  status: number,
  title: string,
  body: string,
  formTargets: readonly string[] = [],
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // Not `no-referrer`: with it, Chrome sends `Origin: null` on the form POST (Fetch spec), which the
    // Origin check must refuse. `same-origin` still sends nothing to the client's redirect URI.
    'Referrer-Policy': 'same-origin',
    'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${formTargets.join(' ')}; frame-ancestors 'none'; base-uri 'none'`,
  });
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.6rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}
.actions{margin-top:1rem;display:flex;gap:.5rem}button{padding:.5rem 1rem}code{background:#f3f3f3;padding:0 .2rem}
.error{color:#a00}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

export function consentPage(options: {
  clientName: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  requestId: string;
  csrf: string;
  error?: string;
}): string {
  const o = options;
  return `<p><strong>${escapeHtml(o.clientName)}</strong> (<code>${escapeHtml(o.clientId)}</code>) asks to use this mcp-guard gateway on your behalf.</p>
<p>Scope: <code>${escapeHtml(o.scope || '(none)')}</code><br>It will be sent back to: <code>${escapeHtml(o.redirectUri)}</code></p>
${o.error ? `<p class="error" role="alert">${escapeHtml(o.error)}</p>` : ''}
<form method="post" action="/authorize">
<input type="hidden" name="request_id" value="${escapeHtml(o.requestId)}">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label for="username">User</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div>
</form>`;
}

export function devicePage(options: {
  userCode?: string;
  csrf: string;
  requestId: string;
  error?: string;
  done?: string;
}): string {
  const o = options;
  if (o.done) return `<p>${escapeHtml(o.done)}</p>`;
  return `<p>Enter the code shown on the device, then sign in to approve it.</p>
${o.error ? `<p class="error" role="alert">${escapeHtml(o.error)}</p>` : ''}
<form method="post" action="/device">
<input type="hidden" name="request_id" value="${escapeHtml(o.requestId)}">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label for="user_code">Code</label><input id="user_code" name="user_code" value="${escapeHtml(o.userCode ?? '')}" required>
<label for="username">User</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div>
</form>`;
}
