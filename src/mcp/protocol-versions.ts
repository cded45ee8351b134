/**
 * The MCP revisions the gateway speaks to agents. The legacy era (2025-11-25 and earlier) opens a session
 * with `initialize`; the modern era (2026-07-28 on) is stateless, every request carrying its version and
 * capabilities in `_meta`. Both are served on one endpoint; backends are always spoken to in the legacy era.
 */
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

export const LEGACY_VERSIONS: readonly string[] = SUPPORTED_PROTOCOL_VERSIONS;
export const LATEST_LEGACY_VERSION: string = LATEST_PROTOCOL_VERSION;
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];
export const ALL_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_VERSIONS];

/** The `_meta` keys of the modern era. */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

export function isLegacyVersion(version: string): boolean {
  return LEGACY_VERSIONS.includes(version);
}

export function isModernVersion(version: string): boolean {
  return MODERN_VERSIONS.includes(version);
}

/** "Unsupported protocol version X (supported: …)", for errors that must name what would work. */
export function unsupportedVersionMessage(version: string): string {
  return `Unsupported protocol version: ${version} (supported: ${ALL_VERSIONS.join(', ')})`;
}
