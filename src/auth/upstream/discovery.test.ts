import { describe, expect, it } from 'vitest';
import { authServerMetadataUrls, type Discovery, parseBearerChallenge, resourceCovers } from './discovery.js';
import { chooseScope } from './oauth-client.js';

describe('Bearer challenges (RFC 6750 §3)', () => {
  it('reads quoted and bare parameters, escapes, and skips other schemes', () => {
    expect(
      parseBearerChallenge(
        'Bearer error="insufficient_scope", scope="read write", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp"',
      ),
    ).toEqual({
      error: 'insufficient_scope',
      scope: 'read write',
      resourceMetadata: 'https://x/.well-known/oauth-protected-resource/mcp',
    });
    expect(parseBearerChallenge('Basic realm="x", Bearer scope=read')).toEqual({ scope: 'read' });
    expect(parseBearerChallenge('Bearer error_description="a \\"quoted\\" word"')).toEqual({
      errorDescription: 'a "quoted" word',
    });
    expect(parseBearerChallenge('Bearer')).toEqual({});
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(parseBearerChallenge(undefined)).toBeUndefined();
  });
});

describe('which resource a protected resource metadata document may describe', () => {
  it('the server URL itself or a parent path on the same origin, nothing else', () => {
    expect(resourceCovers('https://a.example/mcp', 'https://a.example/mcp')).toBe(true);
    expect(resourceCovers('https://a.example/mcp/', 'https://a.example/mcp')).toBe(true);
    expect(resourceCovers('https://a.example', 'https://a.example/mcp')).toBe(true);
    expect(resourceCovers('https://a.example/tenant', 'https://a.example/tenant/mcp')).toBe(true);
    expect(resourceCovers('https://a.example/mc', 'https://a.example/mcp')).toBe(false);
    expect(resourceCovers('https://evil.example/mcp', 'https://a.example/mcp')).toBe(false);
    expect(resourceCovers('http://a.example/mcp', 'https://a.example/mcp')).toBe(false);
    expect(resourceCovers('https://a.example/other', 'https://a.example/mcp')).toBe(false);
  });
});

describe('authorization server metadata URLs', () => {
  it('follows the MCP order: RFC 8414 path-inserted, OIDC path-inserted, OIDC path-appended', () => {
    expect(authServerMetadataUrls('https://as.example')).toEqual([
      'https://as.example/.well-known/oauth-authorization-server',
      'https://as.example/.well-known/openid-configuration',
    ]);
    expect(authServerMetadataUrls('https://as.example/tenant1/')).toEqual([
      'https://as.example/.well-known/oauth-authorization-server/tenant1',
      'https://as.example/.well-known/openid-configuration/tenant1',
      'https://as.example/tenant1/.well-known/openid-configuration',
    ]);
  });
});

describe('scope selection', () => {
  const discovery = (over: { challenge?: string; supported?: string[]; asScopes?: string[] }): Discovery => ({
    resource: {
      resource: 'https://r',
      authorizationServers: ['https://as'],
      scopesSupported: over.supported,
    },
    authServer: {
      issuer: 'https://as',
      authorization_endpoint: 'https://as/a',
      token_endpoint: 'https://as/t',
      scopes_supported: over.asScopes,
    },
    ...(over.challenge ? { challengeScope: over.challenge } : {}),
  });
  const auto = { tokens: 'service' as const, refreshBeforeMs: 60_000 };

  it('takes the challenge, else scopes_supported, else nothing; config wins; offline_access only where offered', () => {
    expect(chooseScope(auto, discovery({ challenge: 'a', supported: ['b'] }))).toBe('a');
    expect(chooseScope(auto, discovery({ supported: ['b', 'c'] }))).toBe('b c');
    expect(chooseScope(auto, discovery({}))).toBeUndefined();
    expect(chooseScope({ ...auto, scopes: ['x'] }, discovery({ challenge: 'a' }))).toBe('x');
    expect(chooseScope(auto, discovery({ supported: ['b'], asScopes: ['b', 'offline_access'] }))).toBe(
      'b offline_access',
    );
    expect(chooseScope(auto, discovery({ asScopes: ['offline_access'] }))).toBeUndefined();
  });

  it('keeps what was granted and adds what a step-up asks for (SEP-2350)', () => {
    expect(
      chooseScope(auto, discovery({ challenge: 'write' }), {
        granted: 'read offline_access',
        needed: 'write',
      }),
    ).toBe('write read');
  });
});
