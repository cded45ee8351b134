/**
 * Signed webhooks: the Notifier posts to a real local receiver; the receiver check printed in
 * docs/admin-api.md (run as it is written) accepts the real posts and refuses a changed body, another
 * secret and an old timestamp. Retries of one post keep the delivery id and are signed afresh.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { Notifier, webhookSignature } from '../../src/notify/notifier.js';
import type { Approval } from '../../src/stores/state-store.js';
import { ROOT } from '../helpers/paths.js';
import { waitFor } from '../helpers/processes.js';

type Verify = (secret: string, headers: IncomingHttpHeaders, rawBody: string) => boolean;

/** The `verify` function of docs/admin-api.md's webhook section, imported from a copy of the block. */
async function docVerify(): Promise<Verify> {
  const doc = readFileSync(path.join(ROOT, 'docs/admin-api.md'), 'utf8');
  const block = /## Webhooks[\s\S]*?```js\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('no js block in the Webhooks section of docs/admin-api.md');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mcpg-doc-')), 'verify.mjs');
  writeFileSync(file, `${block}\nexport { verify };\n`);
  return ((await import(pathToFileURL(file).href)) as { verify: Verify }).verify;
}

const approval: Approval = {
  id: 'apr_0123456789abcdef0123',
  agent: 'shopper',
  server: 'wallet',
  tool: 'pay',
  argsHash: 'a'.repeat(64),
  args: '{"amount_usd":25,"to":"bob","card":"[REDACTED]"}',
  amountUsd: 25,
  createdAt: Date.parse('2026-05-01T10:00:00Z'),
  expiresAt: Date.parse('2026-05-01T11:00:00Z'),
  status: 'pending',
  decidedAt: null,
  decidedBy: null,
  note: null,
  consumedAt: null,
};

describe('signed webhooks', () => {
  const posts: Array<{ headers: IncomingHttpHeaders; text: string }> = [];
  let statuses: number[] = [];
  let server: Server;
  let url: string;
  const SECRET = 'a-webhook-secret-of-some-length';

  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        posts.push({ headers: req.headers, text });
        res.writeHead(statuses.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => {
    server?.close();
  });

  it('the documented receiver check accepts real posts and refuses tampering, another secret and replays', async () => {
    const verify = await docVerify();
    const notifier = new Notifier(
      { webhookUrl: url, webhookSecret: SECRET, timeoutMs: 5_000 },
      silentLogger,
      {
        publicUrl: 'https://gw.example',
      },
    );
    notifier.notify('approval_created', approval);
    await notifier.idle();
    const post = posts.at(-1) as (typeof posts)[number];
    expect(verify(SECRET, post.headers, post.text)).toBe(true);
    expect(JSON.parse(post.text)).toEqual({
      event: 'approval_created',
      approval: expect.objectContaining({
        id: approval.id,
        args: { amount_usd: 25, to: 'bob', card: '[REDACTED]' },
        created_at: '2026-05-01T10:00:00.000Z',
      }),
      url: `https://gw.example/ui/approvals/${approval.id}`,
      approve_command: `mcp-guard approvals approve ${approval.id}`,
      deny_command: `mcp-guard approvals deny ${approval.id}`,
    });
    expect(verify(SECRET, post.headers, post.text.replace('"bob"', '"eve"'))).toBe(false);
    expect(verify('another-secret-of-some-length', post.headers, post.text)).toBe(false);
    const old = Math.floor(Date.now() / 1000) - 3_600;
    expect(verify(SECRET, { ...post.headers, ...webhookSignature(SECRET, post.text, old) }, post.text)).toBe(
      false,
    );
  });

  it('a retried post keeps its delivery id and is signed again; without a secret nothing is signed', async () => {
    const verify = await docVerify();
    statuses = [503];
    const notifier = new Notifier(
      { webhookUrl: url, webhookSecret: SECRET, timeoutMs: 5_000 },
      silentLogger,
      {
        retryDelaysMs: [50],
      },
    );
    const before = posts.length;
    notifier.notify('approval_decided', {
      ...approval,
      status: 'approved',
      decidedAt: Date.now(),
      decidedBy: 'ops',
    });
    await notifier.idle();
    await waitFor(() => posts.length === before + 2, 5_000, 'the retried post');
    const [first, second] = posts.slice(before) as [(typeof posts)[number], (typeof posts)[number]];
    expect(first.headers['x-mcp-guard-delivery']).toBe(second.headers['x-mcp-guard-delivery']);
    expect(verify(SECRET, second.headers, second.text)).toBe(true);
    // Without a listen address or public URL there is no page to link to.
    expect(JSON.parse(second.text).url).toBeNull();

    const unsigned = new Notifier({ webhookUrl: url, timeoutMs: 5_000 }, silentLogger);
    unsigned.notify('approval_created', approval);
    await unsigned.idle();
    expect(posts.at(-1)?.headers['x-mcp-guard-signature']).toBeUndefined();
  });
});
