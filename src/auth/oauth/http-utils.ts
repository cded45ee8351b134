/** Small HTTP helpers for the authorization server's form and JSON endpoints. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../../http/read-body.js';

const MAX_FORM_BYTES = 64 * 1024;

/** Parses an application/x-www-form-urlencoded (or JSON, for /register) request body. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const body = await readBody(req, MAX_FORM_BYTES);
  if (!body.ok) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const params = new URLSearchParams(body.text);
  // A parameter given twice is ambiguous (RFC 6749 §3.1): refuse rather than pick one.
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) return undefined;
    seen.add(key);
  }
  return params;
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const body = await readBody(req, MAX_FORM_BYTES);
  if (!body.ok) return undefined;
  try {
    const value = JSON.parse(body.text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** JSON with the no-store caching OAuth token responses need (RFC 6749 §5.1). */
export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

/** An OAuth error response (RFC 6749 §5.2). */
export function oauthError(
  res: ServerResponse,
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): void {
  json(res, status, { error, error_description: description }, headers);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store' });
  res.end();
}

/**
 * Client credentials from HTTP Basic (RFC 6749 §2.3.1): undefined when the request carries no Basic
 * header, `'malformed'` when it carries one that cannot be read (not base64, no colon, a bad
 * percent-escape) — which is a failed client authentication, never a server error.
 */
export function basicCredentials(
  req: IncomingMessage,
): { id: string; secret: string } | 'malformed' | undefined {
  const header = req.headers.authorization;
  if (header === undefined || !/^Basic(?:[ \t]|$)/i.test(header)) return undefined;
  const match = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!match) return 'malformed';
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  try {
    // The id and secret are form-urlencoded before base64 (RFC 6749 §2.3.1).
    return {
      id: decodeURIComponent(decoded.slice(0, colon)),
      secret: decodeURIComponent(decoded.slice(colon + 1)),
    };
  } catch {
    return 'malformed';
  }
}
