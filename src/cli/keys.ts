import { createHash, randomBytes } from 'node:crypto';

/** `mcp-guard keys new`: a fresh random API key and the config entry that accepts it (as a digest). */
export async function keysNew(options: { agent?: string }): Promise<void> {
  const key = `mcpg_${randomBytes(32).toString('base64url')}`;
  const digest = createHash('sha256').update(key).digest('hex');
  const agent = options.agent ?? `key-${digest.slice(0, 8)}`;
  process.stdout.write(
    [
      `key: ${key}`,
      '',
      '# Give the key to the agent (HTTP: "Authorization: Bearer <key>"; stdio: MCP_GUARD_API_KEY=<key>).',
      '# Put this entry under auth.keys in the gateway config: only the digest is stored there.',
      `- { agent: ${JSON.stringify(agent)}, key_sha256: "${digest}" }`,
      '',
    ].join('\n'),
  );
}
