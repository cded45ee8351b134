import { describe, expect, it } from 'vitest';
import { checkHostAndOrigin, type OriginPolicy } from './origin-checks.js';

const loopback: OriginPolicy = { allowedHosts: [], allowedOrigins: [], loopbackOnly: true };

describe('checkHostAndOrigin', () => {
  it('accepts loopback hosts and no origin', () => {
    for (const host of ['127.0.0.1:8080', 'localhost:8080', 'localhost', '[::1]:8080', '127.1.2.3']) {
      expect(checkHostAndOrigin(loopback, host, undefined)).toBeUndefined();
    }
  });

  it('refuses a rebinding Host and a foreign, null or malformed Origin', () => {
    expect(checkHostAndOrigin(loopback, 'evil.example.com', undefined)).toContain('not allowed');
    expect(checkHostAndOrigin(loopback, 'evil.example.com:8080', undefined)).toContain('not allowed');
    expect(checkHostAndOrigin(loopback, undefined, undefined)).toBe('missing Host header');
    for (const origin of [
      'https://evil.example',
      'null',
      'file://',
      'not a url',
      'http://127.0.0.1.evil.example',
    ]) {
      expect(checkHostAndOrigin(loopback, '127.0.0.1:8080', origin)).toContain('not allowed');
    }
  });

  it('accepts loopback origins on a loopback gateway', () => {
    expect(checkHostAndOrigin(loopback, '127.0.0.1:8080', 'http://localhost:6274')).toBeUndefined();
    expect(checkHostAndOrigin(loopback, '127.0.0.1:8080', 'http://127.0.0.1:8080')).toBeUndefined();
  });

  it('uses the configured lists when given', () => {
    const policy: OriginPolicy = {
      allowedHosts: ['gw.example.com'],
      allowedOrigins: ['https://app.example.com'],
      loopbackOnly: false,
    };
    expect(checkHostAndOrigin(policy, 'gw.example.com:443', 'https://app.example.com')).toBeUndefined();
    expect(checkHostAndOrigin(policy, 'other.example.com', undefined)).toContain('not allowed');
    expect(checkHostAndOrigin(policy, 'gw.example.com', 'https://evil.example.com')).toContain('not allowed');
    expect(checkHostAndOrigin(policy, 'gw.example.com', 'http://localhost:3000')).toContain('not allowed');
  });

  it("accepts the gateway's own origin: the same loopback origin, and its public URL", () => {
    const listed: OriginPolicy = {
      allowedHosts: [],
      allowedOrigins: ['https://app.example.com'],
      loopbackOnly: true,
    };
    expect(checkHostAndOrigin(listed, '127.0.0.1:8080', 'http://127.0.0.1:8080')).toBeUndefined();
    expect(checkHostAndOrigin(listed, '127.0.0.1:8080', 'http://localhost:6274')).toContain('not allowed');
    const proxied: OriginPolicy = {
      allowedHosts: ['gw.example.com'],
      allowedOrigins: [],
      loopbackOnly: false,
      ownOrigins: ['https://gw.example.com'],
    };
    expect(checkHostAndOrigin(proxied, 'gw.example.com', 'https://gw.example.com')).toBeUndefined();
    expect(checkHostAndOrigin(proxied, 'gw.example.com', 'https://evil.example.com')).toContain(
      'not allowed',
    );
  });
});
