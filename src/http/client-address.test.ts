import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { addressList } from '../core/address-list.js';
import { clientAddressOf, resolveClientAddress } from './client-address.js';

const request = (remoteAddress: string, xff?: string | string[]) =>
  ({
    socket: { remoteAddress },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  }) as unknown as IncomingMessage;

describe('client address', () => {
  const proxies = addressList(['10.0.0.0/8', '::1']);

  it('is the socket peer when no proxy is trusted, whatever X-Forwarded-For claims', () => {
    expect(resolveClientAddress(request('198.51.100.7', '203.0.113.1'), undefined)).toBe('198.51.100.7');
    expect(resolveClientAddress(request('::ffff:198.51.100.7'), proxies)).toBe('198.51.100.7');
  });

  it('behind trusted proxies, is the right-most forwarded hop that is not a proxy', () => {
    expect(resolveClientAddress(request('10.1.2.3', '203.0.113.1'), proxies)).toBe('203.0.113.1');
    // A client-supplied (forged) left part is ignored: the proxy appended the real peer.
    expect(resolveClientAddress(request('10.1.2.3', '1.1.1.1, 203.0.113.9, 10.9.9.9'), proxies)).toBe(
      '203.0.113.9',
    );
    expect(resolveClientAddress(request('::1', ['203.0.113.5', '10.0.0.1']), proxies)).toBe('203.0.113.5');
    // A request from an untrusted peer keeps its own address even with the header.
    expect(resolveClientAddress(request('198.51.100.7', '203.0.113.1'), proxies)).toBe('198.51.100.7');
  });

  it('remembers what it resolved for the request', () => {
    const req = request('10.1.2.3', '203.0.113.1');
    expect(clientAddressOf(req)).toBe('10.1.2.3');
    resolveClientAddress(req, proxies);
    expect(clientAddressOf(req)).toBe('203.0.113.1');
  });

  it('refuses malformed entries', () => {
    expect(() => addressList(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => addressList(['proxy.internal'])).toThrow(/not an IP address/);
  });
});
