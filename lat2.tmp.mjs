import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BackendConnection } from './dist/backends/connection.js';
import { loadConfig } from './dist/config/load.js';
import { silentLogger } from './dist/core/logger.js';
import { startHttpGateway } from './dist/gateway/http-gateway.js';
import { openStateStore } from './dist/stores/open-store.js';
const child = spawn(process.execPath, ['dist/test-servers/test-server.js', '--http', '--port', '0', '--tools', 'echo'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => child.stdout.on('data', (d) => { const m = /LISTENING (\d+)/.exec(String(d)); if (m) r(m[1]); }));
const dir = mkdtempSync(path.join(tmpdir(), 'lat2-'));
const mode = process.argv[2] ?? 'http';
const yaml = mode === 'http' ? `servers:\n  echo:\n    url: http://127.0.0.1:${port}/mcp\n` : `servers:\n  echo:\n    command: ${process.execPath}\n    args: ["dist/test-servers/test-server.js", "--stdio", "--tools", "echo"]\n`;
writeFileSync(path.join(dir, 'c.yaml'), yaml);
const config = await loadConfig(path.join(dir, 'c.yaml'), process.env);
const gw = await startHttpGateway(config, { port: 0, logger: silentLogger, store: await openStateStore(config.state) });
const orig = BackendConnection.prototype.request;
let backendTimes = [];
BackendConnection.prototype.request = function (method, ...rest) {
  const t = performance.now();
  const p = orig.call(this, method, ...rest);
  if (method === 'tools/call') p.then(() => backendTimes.push(performance.now() - t), () => {});
  return p;
};
const u = new URL(gw.url);
const agent = new Agent({ keepAlive: true });
const post = (body, headers) => new Promise((resolve, reject) => { const req = request({ agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => { let t = ''; res.on('data', (x) => (t += x)); res.on('end', () => resolve({ headers: res.headers, body: t })); }); req.on('error', reject); req.end(body); });
const init = await post(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'b', version: '1' } } }), {});
const h = { 'mcp-session-id': init.headers['mcp-session-id'], 'mcp-protocol-version': '2025-11-25' };
await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), h);
const q = (a) => { a.sort((x, y) => x - y); return `p50 ${a[a.length >> 1].toFixed(3)} p90 ${a[Math.floor(a.length * 0.9)].toFixed(3)}`; };
for (let round = 0; round < 4; round++) {
  const a = []; backendTimes = [];
  for (let i = 0; i < 1000; i++) {
    const t = performance.now(); const r = await post(JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x' } } }), h); a.push(performance.now() - t);
    if (round === 0 && i === 0) console.log(r.headers['content-type'], r.body.slice(0, 100));
  }
  console.log(mode, 'total', q(a), '| backend', q(backendTimes));
}
await gw.close(); child.kill(); agent.destroy();
