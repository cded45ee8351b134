import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter, clientKey } from './failure-limiter.js';

describe('clientKey', () => {
  it('keeps IPv4 (also IPv4-mapped) and folds IPv6 to its /64', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::7')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe('AuthFailureLimiter', () => {
  it('blocks after perMinute failures from one address or one IPv6 /64, and frees it a minute later', () => {
    const limiter = new AuthFailureLimiter(3);
    const t = 1_000_000;
    for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::9']) limiter.fail(a, t);
    expect(limiter.blockedFor('2001:db8:1:2::77', t + 1)).toBeGreaterThan(0);
    expect(limiter.blockedFor('2001:db8:1:3::1', t + 1)).toBe(0);
    expect(limiter.blockedFor('2001:db8:1:2::77', t + 60_001)).toBe(0);
  });
});
