/**
 * Signing a configured user in on the consent and device pages. An address with too many recent failures
 * gets 429 without its password even being looked at; a wrong one counts as a failure.
 */
import type { AsContext } from './as-context.js';

export type SignInResult =
  | { ok: true; user: string }
  | { ok: false; status: number; error: string; headers: Record<string, string> };

export async function signIn(ctx: AsContext, address: string, form: URLSearchParams): Promise<SignInResult> {
  const wait = ctx.limiter.blockedFor(address);
  if (wait > 0)
    return {
      ok: false,
      status: 429,
      error: `Too many failed sign-ins; try again in ${wait} s.`,
      headers: { 'Retry-After': String(wait) },
    };
  const user = await ctx.users.check(form.get('username') ?? '', form.get('password') ?? '');
  if (user) return { ok: true, user };
  await ctx.failed(address, 'sign-in refused: wrong user or password');
  return { ok: false, status: 401, error: 'Wrong user or password.', headers: {} };
}
