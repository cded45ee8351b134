/**
 * docs/admin-api.openapi.yaml matches the code: every route it lists answers as its schema says (real
 * responses of a running gateway, validated with ajv), its error codes are exactly the registry's, and
 * docs/errors.md lists every admin error code.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ADMIN_ERRORS } from '../../src/admin/admin-errors.js';
import { stdioTestServer } from '../helpers/backends.js';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { ROOT } from '../helpers/paths.js';
import { failure } from '../helpers/results.js';
import { adminFetch } from './helpers.js';

const addFormats = addFormatsModule.default;
const ADMIN_KEY = 'admin-key-for-the-openapi-test-1';

interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } } };
}

const doc = parse(readFileSync(path.join(ROOT, 'docs/admin-api.openapi.yaml'), 'utf8')) as OpenApi;

describe('docs/admin-api.openapi.yaml', () => {
  let gw: TestGateway;
  let base: string;
  let client: Client;
  let approvalId: string;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: 'openapi' });

  /** The JSON schema of a route's response, resolved against the document's components. */
  const schemaOf = (route: string, method: string, status: string) => {
    const response = doc.paths[route]?.[method]?.responses[status] as Record<string, unknown> | undefined;
    expect(response, `${method} ${route} ${status} is documented`).toBeDefined();
    const ref = (response as { $ref?: string }).$ref;
    const pointer = ref
      ? `openapi${ref}/content/application~1json/schema`
      : `openapi#/paths/${route.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}/responses/${status}/content/application~1json/schema`;
    const validate = ajv.getSchema(pointer);
    if (!validate) throw new Error(`no schema at ${pointer}`);
    return validate;
  };

  beforeAll(async () => {
    gw = await startGateway(`
admin:
  keys: [${ADMIN_KEY}]
policies:
  spend_cap_usd: 50
  require_approval_above: 5
  audit_log: ./audit.jsonl
servers:
${stdioTestServer('wallet')}`);
    base = gw.url.replace(/\/mcp$/, '');
    client = await connectHttp(gw.url);
    await client.callTool({ name: 'pay', arguments: { amount_usd: 1, to: 'a' } });
    const held = await failure(client.callTool({ name: 'pay', arguments: { amount_usd: 10, to: 'b' } }));
    approvalId = (held.data as { approval_id: string }).approval_id;
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('every documented JSON route answers as its schema says', async () => {
    const cases: Array<[string, string, string, string, unknown?]> = [
      ['/admin/session', 'get', '/admin/session', '200'],
      ['/admin/approvals', 'get', '/admin/approvals?status=all', '200'],
      ['/admin/approvals/{id}', 'get', `/admin/approvals/${approvalId}`, '200'],
      ['/admin/calls', 'get', '/admin/calls', '200'],
      ['/admin/spend', 'get', '/admin/spend', '200'],
      ['/admin/backends', 'get', '/admin/backends', '200'],
      [
        '/admin/approvals/{id}/approve',
        'post',
        `/admin/approvals/${approvalId}/approve`,
        '200',
        { note: 'ok' },
      ],
      ['/admin/approvals/{id}/deny', 'post', `/admin/approvals/${approvalId}/deny`, '409', {}],
      ['/admin/approvals/{id}', 'get', '/admin/approvals/apr_none', '404'],
      ['/admin/approvals', 'get', '/admin/approvals?status=nope', '400'],
    ];
    for (const [route, method, url, status, body] of cases) {
      const res = await adminFetch(base, url, { key: ADMIN_KEY, method: method.toUpperCase(), body });
      expect(String(res.status), `${method} ${url}`).toBe(status);
      const validate = schemaOf(route, method, status);
      const json = await res.json();
      expect(validate(json), `${method} ${url}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    // The schemas are not vacuous: a wrong shape fails them.
    expect(schemaOf('/admin/approvals', 'get', '200')({ approvals: [{ id: 1 }] })).toBe(false);
    expect(schemaOf('/admin/approvals/{id}', 'get', '404')({ error: { code: 'nope', message: '' } })).toBe(
      false,
    );
    const events = await adminFetch(base, '/admin/events', { key: ADMIN_KEY });
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    expect(Object.keys(doc.paths['/admin/events']?.['get']?.responses['200'] as object)).toContain('content');
    await events.body?.cancel();
  });

  it('lists exactly the error codes of the registry, and docs/errors.md explains each', () => {
    const documented = doc.components.schemas.Error.properties.error.properties.code.enum;
    expect([...documented].sort()).toEqual(Object.keys(ADMIN_ERRORS).sort());
    const errorsMd = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
    for (const [code, status] of Object.entries(ADMIN_ERRORS))
      expect(errorsMd, code).toMatch(new RegExp(`\\| ${status}\\s+\\| \`${code}\``));
  });
});
