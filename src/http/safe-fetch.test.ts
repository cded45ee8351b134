import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkOutboundUrl,
  guardedLookup,
  isForbiddenAddress,
  isLoopbackHost,
  safeFetch,
} from './safe-fetch.js';

describe('outbound URL rules', () => {
  it('refuses link-local, cloud-metadata and unspecified addresses, in every spelling', () => {
    for (const a of [
      '169.254.169.254',
      '169.254.0.1',
      '::ffff:169.254.169.254',
      'fe80::1',
      'fd00:ec2::254',
      '100.100.100.200',
      '0.0.0.0',
      '::',
      '224.0.0.1',
    ])
      expect(isForbiddenAddress(a), a).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.5', '192.168.1.1', '8.8.8.8', '::1', '2001:db8::1'])
      expect(isForbiddenAddress(a), a).toBe(false);
  });

  it('takes https anywhere allowed, http only to loopback, never credentials or metadata hosts', () => {
    expect(checkOutboundUrl('https://auth.example.com/x', 'it').host).toBe('auth.example.com');
    expect(checkOutboundUrl('http://127.0.0.1:9/x', 'it').port).toBe('9');
    expect(checkOutboundUrl('http://localhost:9/x', 'it').hostname).toBe('localhost');
    expect(checkOutboundUrl('http://[::1]:9/x', 'it').hostname).toBe('[::1]');
    expect(() => checkOutboundUrl('http://auth.example.com/x', 'the AS')).toThrow(/the AS must be https/);
    expect(() => checkOutboundUrl('https://169.254.169.254/latest', 'it')).toThrow(
      /link-local or cloud-metadata/,
    );
    expect(() => checkOutboundUrl('https://[::ffff:a9fe:a9fe]/', 'it')).toThrow(/link-local/);
    expect(() => checkOutboundUrl('https://metadata.google.internal/', 'it')).toThrow(/cloud-metadata/);
    expect(() => checkOutboundUrl('https://u:p@auth.example.com/', 'it')).toThrow(/credentials/);
    expect(() => checkOutboundUrl('file:///etc/passwd', 'it')).toThrow(/https URL/);
    expect(() => checkOutboundUrl('not a url', 'it')).toThrow(/not a URL/);
    expect(isLoopbackHost('127.9.9.9')).toBe(true);
    expect(isLoopbackHost('127.example.com')).toBe(false);
  });

  it('refuses a name that resolves to a forbidden address, at connect time', async () => {
    const fakeDns =
      (answer: string) =>
      (_host: string, _o: { all: true }, cb: (e: null, a: { address: string; family: number }[]) => void) =>
        cb(null, [{ address: answer, family: 4 }]);
    const lookup = (answer: string) =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
        guardedLookup(fakeDns(answer))('rebind.example', {}, (err, address) => resolve({ err, address })),
      );
    const refused = await lookup('169.254.169.254');
    expect(refused.err?.message).toMatch(/rebind\.example resolves to 169\.254\.169\.254/);
    const fine = await lookup('93.184.216.34');
    expect(fine.err).toBeNull();
    expect(fine.address).toBe('93.184.216.34');
  });
});

describe('safeFetch', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/' });
        return res.end();
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`"${'x'.repeat(10_000)}"`);
      }
      if (req.url === '/slow') return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('reads a small JSON document', async () => {
    const res = await safeFetch(`${url}/doc`, { what: 'the document' });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('does not follow a redirect, refuses a body over the limit and gives up after its time', async () => {
    expect((await safeFetch(`${url}/redirect`, { what: 'the document' })).status).toBe(302);
    await expect(safeFetch(`${url}/big`, { what: 'the document', maxBytes: 5_000 })).rejects.toThrow(
      /the document is larger than 5000 bytes/,
    );
    await expect(safeFetch(`${url}/slow`, { what: 'the document', timeoutMs: 300 })).rejects.toThrow(
      /the document could not be fetched/,
    );
  });
});
