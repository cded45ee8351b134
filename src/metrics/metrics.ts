/**
 * Prometheus metrics (SPEC §6) on a registry of their own (never prom-client's global one). Label
 * values are bounded: servers and tools come from config and the backends' own lists (an unknown tool
 * never gets a label of its own), agents only when configured by name, everything else is `other`.
 * No label ever carries an argument value or a secret.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BackendStats } from '../backends/pool.js';
import type { GuardConfig } from '../config/types.js';

export interface MetricsOptions {
  /** Reads the number of pending approvals at scrape time (from the state store). */
  readonly approvalsPending?: () => Promise<number>;
  /** Children, sessions and queues per server, read at scrape time (BackendPool.stats). */
  readonly backendStats?: () => readonly BackendStats[];
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'server' | 'tool' | 'decision'>;
  readonly duration: Histogram<'server' | 'tool'>;
  readonly spend: Counter<'agent'>;
  readonly rateLimited: Counter<'scope'>;
  readonly backendUp: Gauge<'server'>;
  readonly authFailures: Counter<'mode'>;
  /** Agent sessions open right now; the front that owns sessions sets it (read at scrape time). */
  sessionCount: () => number = () => 0;
  private knownAgents: ReadonlySet<string>;
  private serverNames: ReadonlySet<string>;

  constructor(config: GuardConfig, options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'mcp_guard_requests_total',
      help: 'Governed calls by server, tool and policy decision',
      labelNames: ['server', 'tool', 'decision'],
      registers,
    });
    this.duration = new Histogram({
      name: 'mcp_guard_request_duration_seconds',
      help: 'Time from a governed call reaching the gateway to its response',
      labelNames: ['server', 'tool'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const pending = options.approvalsPending;
    new Gauge({
      name: 'mcp_guard_approvals_pending',
      help: 'Approvals waiting for a decision',
      registers,
      async collect() {
        if (pending) this.set(await pending().catch(() => 0));
      },
    });
    this.spend = new Counter({
      name: 'mcp_guard_spend_usd_total',
      help: 'Spend reserved for forwarded calls, in USD',
      labelNames: ['agent'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'mcp_guard_rate_limited_total',
      help: 'Calls refused by a rate limit',
      labelNames: ['scope'],
      registers,
    });
    this.backendUp = new Gauge({
      name: 'mcp_guard_backend_up',
      help: '1 when the backend connection is up',
      labelNames: ['server'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'mcp_guard_auth_failures_total',
      help: 'Refused authentications',
      labelNames: ['mode'],
      registers,
    });
    // Read from the pool when scraped: nothing is counted on the request path.
    const stats = options.backendStats ?? (() => []);
    const servers = () => this.serverNames;
    const perServer = (name: string, help: string, pick: (s: BackendStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['server'],
        registers,
        collect() {
          this.reset();
          const seen = new Map(stats().map((s) => [s.server, pick(s)]));
          // Configured servers are always present (0 until used); a server removed by a reload stays
          // while its sessions last.
          for (const server of servers()) if (!seen.has(server)) seen.set(server, 0);
          for (const [server, value] of seen) this.set({ server }, value);
        },
      });
    perServer(
      'mcp_guard_backend_children',
      'Backend children running or starting (for a remote server: upstream sessions)',
      (s) => s.children,
    );
    perServer('mcp_guard_backend_busy', 'Pooled backend children serving a request', (s) => s.busy);
    perServer(
      'mcp_guard_pool_queue_depth',
      'Requests waiting for a free pooled backend child',
      (s) => s.queued,
    );
    perServer('mcp_guard_backend_sessions', 'Agent sessions holding the backend', (s) => s.sessions);
    const sessions = () => this.sessionCount();
    new Gauge({
      name: 'mcp_guard_sessions',
      help: 'Agent sessions open',
      registers,
      collect() {
        this.set(sessions());
      },
    });
    this.knownAgents = agentNames(config);
    this.serverNames = new Set(config.servers.map((s) => s.name));
    for (const s of config.servers) this.backendUp.set({ server: s.name }, 0);
  }

  /** After a config reload: agents named in the new config get their own label. */
  updateConfig(config: GuardConfig): void {
    this.knownAgents = agentNames(config);
    this.serverNames = new Set(config.servers.map((s) => s.name));
  }

  /** An agent id as a label value: configured names as they are, anything else `other`. */
  agentLabel(agent: string): string {
    return this.knownAgents.has(agent) ? agent : 'other';
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function agentNames(config: GuardConfig): ReadonlySet<string> {
  const names = new Set(Object.keys(config.agents));
  for (const k of config.auth.keys) names.add(k.agent);
  return names;
}
