import { describe, expect, test } from 'vitest';
import { REDACTED, redactText } from '../../src/redact/secret-text.js';

// Built by concatenation so that no secret-shaped literal sits in the repository as one string.
const ANTHROPIC = `sk-ant-api03-${'Zq7xW2'.repeat(15)}abAA`;
const OPENAI_PROJ = `sk-proj-${'N4f_Kp9-'.repeat(10)}T3BlbkFJ`;
const OPENAI_LEGACY = `sk-${'a1B2c3D4e5'.repeat(2)}T3BlbkFJ${'f6G7h8I9j0'.repeat(2)}`;
const GHP = `ghp_${'R2d2C3po'.repeat(4)}Wxyz`; // 36 chars after the prefix
const GH_PAT = `github_pat_11ABCDEFG0${'q'.repeat(12)}_${'Xy8'.repeat(19)}ab`;
const GLPAT = `glpat-${'Ab1'.repeat(7)}`;
const SLACK = `xoxb-1234567890-${'aBcD3'.repeat(5)}`;
const AWS = `AKIA${'IOSFODNN7EXAMPL1'}`;
const STRIPE = `sk_live_${'51Hx9'.repeat(5)}`;
const STRIPE_RK = `rk_live_${'51Hx9'.repeat(5)}`;
const JWT = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTl9.${'sIg_Nat-Ure9'.repeat(3)}`;
const PEM = `-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA${'x7Y'.repeat(20)}\n${'Q'.repeat(64)}\n-----END RSA PRIVATE KEY-----`;

describe('redactText masks secret shapes', () => {
  const cases: [string, string, string][] = [
    ['Anthropic key', ANTHROPIC, 'sk-ant-api03-…[redacted]'],
    ['OpenAI project key', OPENAI_PROJ, 'sk-proj-…[redacted]'],
    ['OpenAI legacy key', OPENAI_LEGACY, 'sk-…[redacted]'],
    ['GitHub classic token', GHP, 'ghp_…[redacted]'],
    ['GitHub fine-grained token', GH_PAT, 'github_pat_…[redacted]'],
    ['GitLab token', GLPAT, 'glpat-…[redacted]'],
    ['Slack token', SLACK, 'xoxb-…[redacted]'],
    ['AWS access key id', AWS, 'AKIA…[redacted]'],
    ['Stripe secret key', STRIPE, 'sk_live_…[redacted]'],
    ['Stripe restricted key', STRIPE_RK, 'rk_live_…[redacted]'],
    ['JWT', JWT, 'eyJ…[redacted]'],
    ['Bearer token', `Bearer ${JWT}`, 'Bearer [redacted]'],
    ['PEM block', PEM, '-----BEGIN RSA PRIVATE KEY-----[redacted]-----END RSA PRIVATE KEY-----'],
    ['URL password', 'postgres://u:p@h/db', 'postgres://u:[redacted]@h/db'],
    ['Hugging Face token', `hf_${'aBcDe12345'.repeat(3)}abcd`, 'hf_…[redacted]'],
    ['Google API key', `AIza${'Sy9_xK-2Lm'.repeat(3)}abcde`, 'AIza…[redacted]'],
    ['npm token', `npm_${'Xy7Zq'.repeat(7)}a`, 'npm_…[redacted]'],
    ['mcp-guard API key', `mcpg_${'Ab3dE_9-fG'.repeat(4)}xyz`, 'mcpg_…[redacted]'],
    [
      'Slack webhook URL',
      `https://hooks.slack.com/services/T0${'A1B2'.repeat(2)}/B0${'C3D4'.repeat(2)}/${'xYz9'.repeat(6)}`,
      'https://hooks.slack.com/services/[redacted]',
    ],
  ];
  test.each(cases)('%s, alone and inside a longer string', (_name, secret, masked) => {
    expect(redactText(secret)).toBe(masked);
    const inText = `before ${secret} after\nnext line`;
    const out = redactText(inText);
    expect(out).toBe(`before ${masked} after\nnext line`);
    expect(out).not.toContain(secret);
  });

  test('the hint never includes any of the random part', () => {
    for (const secret of [ANTHROPIC, OPENAI_PROJ, GHP, GH_PAT, STRIPE, AWS]) {
      const out = redactText(secret);
      const kept = out.replace(`…${REDACTED}`, '');
      // What is kept is a public prefix of at most 13 characters (sk-ant-api03-).
      expect(secret.startsWith(kept)).toBe(true);
      expect(kept.length).toBeLessThanOrEqual(13);
    }
  });

  test('a PEM block without its END line is masked to the end (a cut key never leaks its start)', () => {
    const cut = PEM.slice(0, 80);
    expect(redactText(`key: ${cut}`)).toBe('key: -----BEGIN RSA PRIVATE KEY-----[redacted]');
  });

  test('Authorization headers and auth schemes inside text', () => {
    expect(redactText('curl -H "Authorization: Bearer abcDEF123456xyz" https://x')).toBe(
      'curl -H "Authorization: Bearer [redacted]" https://x',
    );
    expect(redactText('Authorization: Basic dXNlcjpwYXNzd29yZA==')).toBe('Authorization: Basic [redacted]');
  });

  test('secret assignments in text: quoted (JSON in a string) and unquoted (command lines, queries)', () => {
    expect(redactText('{"password": "hunter 2, with spaces", "max_tokens": 100}')).toBe(
      '{"password": "[redacted]", "max_tokens": 100}',
    );
    expect(redactText('{\\"api_key\\":\\"abc123\\"}')).toBe('{\\"api_key\\":\\"[redacted]\\"}');
    expect(redactText('mysql -u root --password=hunter2 -h db')).toBe(
      'mysql -u root --password=[redacted] -h db',
    );
    expect(redactText('GET /cb?code=1&access_token=abc123&x=1')).toBe(
      'GET /cb?code=1&access_token=[redacted]&x=1',
    );
    expect(redactText("client_secret: 'x y z'")).toBe("client_secret: '[redacted]'");
  });

  test('URL userinfo keeps the user and the rest of the URL', () => {
    expect(redactText('redis://default:s3cret@cache:6379/0 and mongodb+srv://app:pw@cluster/db')).toBe(
      'redis://default:[redacted]@cache:6379/0 and mongodb+srv://app:[redacted]@cluster/db',
    );
  });
});

describe('redactText leaves ordinary text alone', () => {
  test.each([
    'I trained it with sk-learn, then scikit-learn',
    'sk-learn-is-a-nice-library-for-ml',
    'the skeleton key is in the desk-top drawer; task-1234 is done',
    'Bearer authentication is described in RFC 6750',
    'https://example.com/path?x=1 and https://user@example.com/repo and ssh://git@github.com:22/a/b',
    'uuid 550e8400-e29b-41d4-a716-446655440000 commit 3f2a9c1d4e5b6a7980c1d2e3f4a5b6c7d8e9f0a1',
    '{"max_tokens": 100, "token_count": 5, "password_hint": "pet name"}',
    'AKIA is a prefix; AKIAshort is not a key',
    'eyJ alone, or eyJhbG without a payload',
    'line one\nline two\r\n\u001b[31mred\u001b[0m',
  ])('%s', (text) => {
    expect(redactText(text)).toBe(text);
  });
});
