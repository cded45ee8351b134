/**
 * A misbehaving MCP backend over stdio, written without the SDK so it can break the protocol on purpose.
 *
 *   node dist/test-servers/hostile-server.js [--no-initialize]
 *
 * Tools (tools/call by name):
 *   silent        never answers (records notifications/cancelled it receives)
 *   flood_stderr  writes `mb` MB to stderr as fast as the pipe takes it, then answers
 *   huge_line     writes one `mb` MB line to stdout (no newline until the end), then a normal answer
 *   garbage       writes lines that are not JSON-RPC, then answers
 *   stats         answers with counters (calls, cancelled notifications received)
 * With --no-initialize it never answers anything (a backend that hangs at start).
 */
import { createInterface } from 'node:readline';

const noInitialize = process.argv.includes('--no-initialize');
const stats = { calls: 0, cancelled: 0, pid: process.pid };

type Message = { jsonrpc: '2.0'; id?: number | string; method?: string; params?: Record<string, unknown> };

function send(message: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

async function writeAll(stream: NodeJS.WriteStream, chunk: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    if (!stream.write(chunk)) await new Promise<void>((r) => stream.once('drain', () => r()));
  }
}

const result = (id: Message['id'], text: string) =>
  send({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } });

const tools = ['silent', 'flood_stderr', 'huge_line', 'garbage', 'stats'].map((name) => ({
  name,
  description: `Hostile behaviour: ${name}`,
  inputSchema: { type: 'object', properties: { mb: { type: 'number' } } },
}));

async function handle(m: Message): Promise<void> {
  if (m.method === 'notifications/cancelled') {
    stats.cancelled++;
    return;
  }
  if (m.id === undefined || noInitialize) return;
  switch (m.method) {
    case 'initialize':
      return send({
        jsonrpc: '2.0',
        id: m.id,
        result: {
          protocolVersion: String(m.params?.['protocolVersion'] ?? '2025-11-25'),
          capabilities: { tools: {} },
          serverInfo: { name: 'hostile', version: '1' },
        },
      });
    case 'ping':
      return send({ jsonrpc: '2.0', id: m.id, result: {} });
    case 'tools/list':
      return send({ jsonrpc: '2.0', id: m.id, result: { tools } });
    case 'tools/call': {
      stats.calls++;
      const name = String(m.params?.['name']);
      const mb = Number((m.params?.['arguments'] as Record<string, unknown> | undefined)?.['mb'] ?? 1);
      const megabyte = 'x'.repeat(1024 * 1024);
      if (name === 'silent') return;
      if (name === 'flood_stderr') {
        await writeAll(process.stderr, `${'e'.repeat(1023)}\n`.repeat(1024), mb);
        return result(m.id, 'flooded');
      }
      if (name === 'huge_line') {
        process.stdout.write('{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"');
        await writeAll(process.stdout, megabyte, mb);
        process.stdout.write('"}}\n');
        return result(m.id, 'survived');
      }
      if (name === 'garbage') {
        process.stdout.write('this is not json\n{"half": \n[1,2,3]\n');
        return result(m.id, 'after garbage');
      }
      if (name === 'stats') return result(m.id, JSON.stringify(stats));
      return send({ jsonrpc: '2.0', id: m.id, error: { code: -32602, message: `Unknown tool: ${name}` } });
    }
    default:
      return send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } });
  }
}

// A pipe closed by the gateway (it killed us, or stopped reading) ends this process quietly.
process.stdout.on('error', () => process.exit(0));
process.stderr.on('error', () => {});
createInterface({ input: process.stdin }).on('line', (line) => {
  let m: Message;
  try {
    m = JSON.parse(line) as Message;
  } catch {
    return;
  }
  void handle(m);
});
process.stdin.on('end', () => process.exit(0));
