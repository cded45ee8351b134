/**
 * A stdio backend's process group is owned by the gateway: a grandchild the backend started in its
 * group (with no stdio of its own, so nothing holds the backend's pipes open) is killed when the backend
 * crashes, and when it exits on its own after the session ends (isolation: per_session, where a
 * session's end is its child's end).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, type TestGateway } from '../helpers/gateway.js';
import { TEST_SERVER } from '../helpers/paths.js';
import { isAlive, processGroupOf, waitFor } from '../helpers/processes.js';
import { textOf } from '../helpers/results.js';

describe('the process group of a stdio backend', () => {
  let gw: TestGateway;
  const sleepers: number[] = [];
  beforeAll(async () => {
    gw = await startGateway(`
servers:
  t:
    command: ${process.execPath}
    args: ["${TEST_SERVER}", "--stdio", "--name", "t", "--sleeper"]
    timeout: 5s
    isolation: per_session
`);
  });
  afterAll(async () => {
    await gw?.close();
    // A failed assertion must not leave a sleep 300 behind.
    for (const pid of sleepers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  /** The backend's pid and its sleeping grandchild's, checked to be in the backend's group. */
  async function backendWithSleeper(client: Client): Promise<{ pid: number; sleeper: number }> {
    const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })));
    const sleeper = stats.sleeper_pid as number;
    sleepers.push(sleeper);
    expect(isAlive(sleeper)).toBe(true);
    expect(processGroupOf(sleeper)).toBe(stats.pid);
    return { pid: stats.pid, sleeper };
  }

  it('is killed when the backend crashes', async () => {
    const client = await connectHttp(gw.url);
    const { pid, sleeper } = await backendWithSleeper(client);
    const error = await client.callTool({ name: 'crash', arguments: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32016);
    await waitFor(() => !isAlive(pid), 2_000, 'the backend to exit');
    await waitFor(() => !isAlive(sleeper), 2_000, 'the grandchild left in the group to be killed');
    await client.close();
  });

  it('is killed when the backend exits after its session ends', async () => {
    const client = await connectHttp(gw.url);
    const { pid, sleeper } = await backendWithSleeper(client);
    const transport = client.transport as unknown as { terminateSession(): Promise<void> };
    await transport.terminateSession();
    // The backend exits by itself on stdin EOF; its grandchild would stay without the gateway.
    await waitFor(() => !isAlive(pid), 3_000, 'the backend to exit');
    await waitFor(() => !isAlive(sleeper), 2_000, 'the grandchild left in the group to be killed');
    await client.close();
  });
});
