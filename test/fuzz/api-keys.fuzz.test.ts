/**
 * API key comparison (research/security.md §6 A1): the presented key is hashed and compared with every
 * configured digest through timingSafeEqual on equal-length buffers, so no input — empty, huge, another
 * length, a digest of a real key, a prefix of one — throws (timingSafeEqual throws on a length mismatch)
 * or matches, except the key itself.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiKeyVerifier } from '../../src/auth/api-keys.js';
import { configOf } from '../helpers/stage-context.js';

const KEY = 'mcpg_real-key-0123456789abcdefghijklmnopqrstuv';

describe('API key comparison (property)', () => {
  it('matches only the configured key, and never throws', () => {
    const config = configOf({ auth: { mode: 'api_key', keys: [{ agent: 'alice', key: KEY }] } });
    const verifier = new ApiKeyVerifier(config.auth.keys);
    expect(verifier.verify(KEY)).toMatchObject({ agent: 'alice' });
    const near = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        '',
        KEY.slice(0, -1),
        `${KEY} `,
        KEY.toUpperCase(),
        createHash('sha256').update(KEY).digest('hex'),
        `sha256:${createHash('sha256').update(KEY).digest('hex')}`,
        'x'.repeat(100_000),
      ),
    );
    fc.assert(
      fc.property(near, (presented) => {
        expect(verifier.verify(presented)).toBeUndefined();
      }),
      { numRuns: 2_000 },
    );
  });
});
