/**
 * A tiny MCP server for the demo: a wallet whose `pay` tool costs what it pays. Built with the SDK,
 * spoken to over stdio by the gateway.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

let balance = 1_000;
const server = new McpServer({ name: 'demo-wallet', version: '1.0.0' });
server.registerTool(
  'pay',
  { description: 'Pays amount_usd to someone', inputSchema: { amount_usd: z.number(), to: z.string() } },
  async ({ amount_usd, to }) => {
    balance -= amount_usd;
    return {
      content: [
        { type: 'text', text: `paid $${amount_usd.toFixed(2)} to ${to}; balance $${balance.toFixed(2)}` },
      ],
    };
  },
);
server.registerTool(
  'bulk_transfer',
  { description: 'Moves everything somewhere else', inputSchema: { to: z.string() } },
  async ({ to }) => ({
    content: [{ type: 'text', text: `moved $${balance.toFixed(2)} to ${to}` }],
  }),
);
server.registerTool('balance', { description: 'The wallet balance', inputSchema: {} }, async () => ({
  content: [{ type: 'text', text: `$${balance.toFixed(2)}` }],
}));
process.stdin.on('end', () => process.exit(0));
await server.connect(new StdioServerTransport());
