import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import { BackendLists, ListIndex, type ListSource } from './list-index.js';
import type { ListKind } from './lists.js';
import type { Params } from './messages.js';

/** A backend connection that serves `pages` of tools (and one resource) and counts what it is asked. */
function source(pages: Params[][], capabilities: Params = { tools: {}, resources: {} }) {
  const asked: string[] = [];
  const conn: ListSource & { asked: string[] } = {
    asked,
    info: { capabilities },
    async request(method, params) {
      asked.push(`${method}${params['cursor'] === undefined ? '' : ` ${String(params['cursor'])}`}`);
      if (method === 'resources/list') return { resources: [{ uri: 'file:///a' }] };
      if (method === 'resources/templates/list') return { resourceTemplates: [] };
      const page = params['cursor'] === undefined ? 0 : Number(params['cursor']);
      const next = page + 1 < pages.length ? { nextCursor: String(page + 1) } : {};
      return { tools: pages[page] ?? [], ...next };
    },
  };
  return conn;
}

describe('BackendLists', () => {
  it('follows every page once, shares a fetch between callers, and keeps it until list_changed', async () => {
    const lists = new BackendLists('s', 1_000, silentLogger);
    const conn = source([[{ name: 'a' }], [{ name: 'b' }]]);
    const [first, second] = await Promise.all([lists.get(conn, 'tools'), lists.get(conn, 'tools')]);
    expect(first.map((t) => t['name'])).toEqual(['a', 'b']);
    expect(second).toBe(first);
    expect(conn.asked).toEqual(['tools/list', 'tools/list 1']);
    expect(await lists.get(conn, 'tools')).toBe(first);

    expect(lists.changed('notifications/message')).toBe(false);
    expect(await lists.get(conn, 'tools')).toBe(first);
    expect(lists.changed('notifications/prompts/list_changed')).toBe(true);
    expect(await lists.get(conn, 'tools')).toBe(first);
    expect(lists.changed('notifications/tools/list_changed')).toBe(true);
    const refetched = await lists.get(conn, 'tools');
    expect(refetched).not.toBe(first);
    expect(refetched).toEqual(first);
    expect(conn.asked).toHaveLength(4);
  });

  it('forgets a change on every connection of the server (pooled children), and templates with resources', async () => {
    const lists = new BackendLists('s', 1_000, silentLogger);
    const a = source([[{ name: 'x' }]]);
    const b = source([[{ name: 'x' }]]);
    const kinds: ListKind[] = ['tools', 'resources', 'resourceTemplates'];
    for (const conn of [a, b]) for (const kind of kinds) await lists.get(conn, kind);
    lists.changed('notifications/resources/list_changed');
    for (const conn of [a, b]) for (const kind of kinds) await lists.get(conn, kind);
    for (const conn of [a, b])
      expect(conn.asked).toEqual([
        'tools/list',
        'resources/list',
        'resources/templates/list',
        'resources/list',
        'resources/templates/list',
      ]);
  });

  it('lists nothing for a capability the backend lacks, always the same empty list', async () => {
    const lists = new BackendLists('s', 1_000, silentLogger);
    const conn = source([[{ name: 'a' }]], { resources: {} });
    const none = await lists.get(conn, 'tools');
    expect(none).toEqual([]);
    expect(await lists.get(conn, 'prompts')).toBe(none);
    expect(conn.asked).toEqual([]);
  });

  it('does not keep a failed fetch', async () => {
    const lists = new BackendLists('s', 1_000, silentLogger);
    let fail = true;
    const conn: ListSource = {
      info: { capabilities: { tools: {} } },
      request: async () => {
        if (fail) throw new Error('down');
        return { tools: [{ name: 'a' }] };
      },
    };
    await expect(lists.get(conn, 'tools')).rejects.toThrow('down');
    fail = false;
    expect(await lists.get(conn, 'tools')).toEqual([{ name: 'a' }]);
  });
});

describe('ListIndex', () => {
  const servers = [
    { name: 'fs', prefix: false },
    { name: 'web', prefix: false },
  ];

  it('merges with collision-safe names and keeps the merge while every server hands back the same list', async () => {
    const given: Record<string, Params[]> = {
      fs: [{ name: 'read' }, { name: 'echo' }],
      web: [{ name: 'echo' }],
    };
    const index = new ListIndex({
      servers,
      fetch: async (server) => given[server] as Params[],
      logger: silentLogger,
    });
    const first = await index.get('tools');
    expect(first.items.map((i) => [i.exposed, i.server, i.name])).toEqual([
      ['read', 'fs', 'read'],
      ['fs__echo', 'fs', 'echo'],
      ['web__echo', 'web', 'echo'],
    ]);
    expect(first.byExposed.get('web__echo')?.definition).toEqual({ name: 'web__echo' });
    expect(await index.get('tools')).toBe(first);

    given['web'] = [{ name: 'search' }];
    const second = await index.get('tools');
    expect(second).not.toBe(first);
    expect(second.items.map((i) => i.exposed)).toEqual(['read', 'echo', 'search']);
  });

  it('leaves out a server that fails or has no lease, and exposes a shared URI per server', async () => {
    const offered = Object.fromEntries(
      servers.map((s) => [s.name, [{ uri: 'file:///same' }, { uri: `file:///${s.name}` }]]),
    );
    const index = new ListIndex({
      servers: [...servers, { name: 'down', prefix: false }, { name: 'none', prefix: false }],
      fetch: (server) =>
        server === 'none'
          ? undefined
          : server === 'down'
            ? Promise.reject(new Error('unavailable'))
            : Promise.resolve(offered[server] as Params[]),
      logger: silentLogger,
    });
    const merged = await index.get('resources');
    expect(merged.items.map((i) => i.exposed)).toEqual([
      'mcp-guard://fs/file%3A%2F%2F%2Fsame',
      'file:///fs',
      'mcp-guard://web/file%3A%2F%2F%2Fsame',
      'file:///web',
    ]);
    expect(await index.get('resources')).toBe(merged);
  });
});
