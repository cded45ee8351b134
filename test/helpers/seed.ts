/** The seed config of SPEC §2, exactly as written there (it must load unchanged). */
export const SEED_CONFIG = `auth:
  mode: api_key            # none | api_key | jwt | oauth2
  keys:
    - \${AGENT_API_KEY}
rate_limit:
  requests_per_minute: 30
policies:
  spend_cap_usd: 100.0
  require_approval_above: 5.0
  deny:
    - filesystem.delete_file
    - wallet_pay.bulk_transfer
  audit_log: ./audit.jsonl
servers:
  filesystem:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-filesystem", "/data"]
`;

/** The seed with its `servers:` section replaced (tests run real local backends, not npx). */
export function seedWithServers(servers: string): string {
  return `${SEED_CONFIG.slice(0, SEED_CONFIG.indexOf('servers:\n'))}servers:\n${servers}`;
}
