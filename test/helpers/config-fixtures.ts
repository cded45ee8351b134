/**
 * The config fixtures of test/fixtures/config: together they use every key of the config schema, with
 * every secret taken from the environment below (used by the `config check` round trip and the JSON
 * Schema tests).
 */
import path from 'node:path';
import { ROOT } from './paths.js';

export const CONFIG_FIXTURES = path.join(ROOT, 'test/fixtures/config');

export const RICH_CONFIGS = [
  'rich-api-key.yaml',
  'rich-jwt-secret.yaml',
  'rich-jwt-pem.yaml',
  'rich-jwt-file.yaml',
  'rich-jwks.yaml',
  'rich-oauth2.yaml',
] as const;

/** The variables the fixtures reference; each value is a secret that no output may contain. */
export const FIXTURE_ENV: Readonly<Record<string, string>> = {
  AGENT_API_KEY: 'agent-key-0123456789abcdef',
  BILLING_KEY: 'billing-key-0123456789',
  FS_TOKEN: 'fs-token-abcdef0123456789',
  DB_PASSWORD: 'db-pw-9876543210',
  SEARCH_TOKEN: 'search-token-abcdef0123456789',
  PAY_CLIENT_SECRET: 'pay-secret-0123456789',
  ENCRYPTION_KEY: 'encryption-key-0123456789abcdefghijklmnop',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX',
  WEBHOOK_SECRET: 'webhook-secret-0123456789',
  ADMIN_KEY: 'admin-key-0123456789abcdef',
  JWT_SECRET: 'jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  REDIS_PASSWORD: 'redis-pw-0123456789',
  PG_PASSWORD: 'pg-pw-0123456789',
  ALICE_PASSWORD: 'alice-password-0123',
  BOB_PASSWORD_SHA256: 'df53c27a66157885ba143e34f25d6380e12168b0f7da4f0c46efa54cd9a083b7',
  DESKTOP_CLIENT_SECRET: 'desktop-secret-0123456789',
  OTLP_TOKEN: 'otlp-token-0123456789abcdef',
};
