/**
 * `mcp-guard backends list | login NAME` (SPEC §1): the remote backends and their upstream OAuth. Both
 * work on the state store named in the config, the one the gateway reads, so a login here is picked up
 * by a running gateway (every replica) without a restart.
 */
import { login } from '../auth/upstream/login.js';
import type { DeviceAuthorization } from '../auth/upstream/oauth-client.js';
import { subjectOf, UpstreamRecords } from '../auth/upstream/records.js';
import { ENCRYPTION_KEY_ENV, resolveVaultKey, TokenVault } from '../auth/upstream/token-vault.js';
import { isOAuthServer, type UpstreamStatus, upstreamStatusOf } from '../auth/upstream/upstream-oauth.js';
import type { GuardConfig } from '../config/types.js';
import { ExitError, GatewayError } from '../core/errors.js';
import { openStateStore } from '../stores/open-store.js';
import type { StateStore } from '../stores/state-store.js';
import { loadConfigForCommand } from './config-source.js';

interface Common {
  readonly config?: string;
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where lines go (stdout by default). */
  readonly out?: (line: string) => void;
}

async function withRecords<T>(
  options: Common,
  needKey: boolean,
  fn: (records: UpstreamRecords, config: GuardConfig, store: StateStore) => Promise<T>,
): Promise<T> {
  const config = await loadConfigForCommand(options.config, options.cwd, { keepUnsetVariables: !needKey });
  const env = options.env ?? process.env;
  let key: ReturnType<typeof resolveVaultKey>;
  try {
    key = resolveVaultKey(config.state, env);
  } catch (err) {
    throw new ExitError(1, (err as Error).message);
  }
  if (needKey && !key)
    throw new ExitError(
      1,
      `no key to encrypt upstream tokens: set state.encryption_key or ${ENCRYPTION_KEY_ENV} (32+ characters), the same the gateway uses`,
    );
  let store: StateStore;
  try {
    store = await openStateStore(config.state);
  } catch (err) {
    throw new ExitError(1, (err as Error).message);
  }
  try {
    return await fn(new UpstreamRecords(new TokenVault(store, key)), config, store);
  } finally {
    await store.close();
  }
}

const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function describeOAuth(s: UpstreamStatus): string {
  if (s.tokens === 'per_user') return `per user: ${s.users ?? 0} signed in`;
  switch (s.state) {
    case 'authorized':
      return `authorized${s.expires_at ? ` until ${when(s.expires_at)}` : ''}${s.refreshable ? ' (refreshable)' : ''}`;
    case 'step_up_required':
      return `needs scope ${s.needs?.scope ?? '?'}`;
    case 'login_required':
      return `login required: ${s.needs?.detail ?? ''}`;
    case 'expired':
      return 'expired (no refresh token)';
    default:
      return 'not logged in';
  }
}

/** `backends list`: every backend, how it is reached and, for OAuth ones, the state of its token. */
export async function backendsList(options: Common & { readonly json?: boolean }): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  await withRecords(options, false, async (records, config) => {
    const rows = await Promise.all(
      config.servers.map(async (server) => {
        if (server.kind === 'stdio')
          return {
            name: server.name,
            kind: 'stdio',
            target: [server.command, ...server.args].join(' '),
            auth: 'env',
          };
        const oauth = isOAuthServer(server) ? await upstreamStatusOf(records, server) : undefined;
        return {
          name: server.name,
          kind: server.transport,
          target: server.url,
          auth: oauth ? 'oauth' : Object.keys(server.headers).length > 0 ? 'headers' : 'none',
          ...(oauth ? { oauth } : {}),
        };
      }),
    );
    if (options.json) {
      out(JSON.stringify(rows, null, 2));
      return;
    }
    const table = [
      ['NAME', 'TRANSPORT', 'URL / COMMAND', 'AUTH', 'STATE'],
      ...rows.map((r) => [
        r.name,
        r.kind,
        r.target,
        r.auth,
        'oauth' in r && r.oauth ? describeOAuth(r.oauth) : '-',
      ]),
    ];
    const widths = (table[0] ?? []).map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
    for (const row of table)
      out(
        row
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      );
    const todo = rows
      .filter((r) => 'oauth' in r && r.oauth?.action)
      .map((r) => `  ${(r as { oauth: UpstreamStatus }).oauth.action}`);
    if (todo.length > 0) out(`\nto log in:\n${todo.join('\n')}`);
  });
}

export interface LoginCommandOptions extends Common {
  readonly name: string;
  /** Use the device flow (where the server offers it) instead of a loopback redirect. */
  readonly device?: boolean;
  /** For `tokens: per_user`: the gateway user the token is for. */
  readonly user?: string;
  readonly timeoutMs?: number;
  /** What to do with the URL the person must open (default: print it). */
  readonly open?: (url: string) => void | Promise<void>;
}

/** `backends login NAME`: one consent, then the gateway keeps the token (encrypted) and refreshes it. */
export async function backendsLogin(options: LoginCommandOptions): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  await withRecords(options, true, async (records, config) => {
    const server = config.servers.find((s) => s.name === options.name);
    if (!server)
      throw new ExitError(
        2,
        `no server ${options.name} (servers: ${config.servers.map((s) => s.name).join(', ')})`,
      );
    if (!isOAuthServer(server))
      throw new ExitError(
        2,
        `servers.${options.name} has no oauth: setting (only remote servers with oauth: log in)`,
      );
    const perUser = server.oauth.tokens === 'per_user';
    if (perUser && !options.user)
      throw new ExitError(
        2,
        `servers.${options.name} keeps a token per user: pass --user NAME (a user of the gateway)`,
      );
    if (!perUser && options.user)
      throw new ExitError(2, `servers.${options.name} keeps one service token: --user does not apply`);
    const subject = perUser ? subjectOf(options.user) : subjectOf(undefined);
    try {
      const result = await login({
        server,
        records,
        subject,
        device: options.device,
        timeoutMs: options.timeoutMs,
        onAuthorizationUrl:
          options.open ??
          ((url) => {
            out(
              `Open this URL in a browser to let mcp-guard use ${server.name}${perUser ? ` as ${options.user}` : ''}:\n\n  ${url}\n`,
            );
            out(`Waiting for the answer (up to ${Math.round((options.timeoutMs ?? 300_000) / 60_000)} min)…`);
          }),
        onDeviceCode: (d: DeviceAuthorization) => {
          out(
            `On any device, open ${d.verificationUriComplete ?? d.verificationUri} and enter the code ${d.userCode}.`,
          );
          out('Waiting for the approval…');
        },
      });
      out(
        `Logged in to ${server.name}: issuer ${result.issuer}, client ${result.clientId} (${result.registration}), ` +
          `scope ${result.scope ?? '(none)'}, ${result.expiresAt ? `expires ${when(new Date(result.expiresAt).toISOString())}` : 'no expiry given'}` +
          `${result.refreshable ? ', refreshable' : ', no refresh token (log in again when it expires)'}.`,
      );
    } catch (err) {
      if (err instanceof GatewayError)
        throw new ExitError(1, `login to ${server.name} failed: ${err.message}`);
      throw err;
    }
  });
}
