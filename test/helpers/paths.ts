import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}dist/cli/main.js`;
export const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
export const FILESYSTEM = `${ROOT}node_modules/@modelcontextprotocol/server-filesystem/dist/index.js`;

export const INSPECTOR = `${ROOT}node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js`;
export const TEST_SERVERS = `${ROOT}dist/test-servers`;
export const TEST_SERVER = `${TEST_SERVERS}/test-server.js`;
export const CONFORMANCE_SERVER = `${TEST_SERVERS}/conformance-server.js`;
export const RUG_SERVER = `${TEST_SERVERS}/rug-server.js`;
export const HOSTILE_SERVER = `${TEST_SERVERS}/hostile-server.js`;
export const CONFORMANCE_CLI = `${ROOT}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
/** @modelcontextprotocol/conformance 0.2.0-alpha.12 (installed as conformance-next): client auth and authorization-server scenarios. */
export const CONFORMANCE_NEXT_CLI = `${ROOT}node_modules/@modelcontextprotocol/conformance-next/dist/index.js`;
export const OAUTH_SERVER = `${TEST_SERVERS}/oauth-server.js`;
