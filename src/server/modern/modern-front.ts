/**
 * `/mcp` for 2026-07-28 clients: stateless requests (no session, no GET stream), each carrying its
 * protocol version and client capabilities in `_meta`. Served next to the legacy sessions on the same URL;
 * backends are always spoken to in the legacy era, and the gateway translates:
 * - `server/discover` answers from the merged offer of the backends;
 * - lists, calls, reads, prompts and completions run through the pipeline like a legacy request;
 * - a backend's question to the agent becomes an `input_required` result (modern-call.ts);
 * - change notifications travel on `subscriptions/listen` streams (listen.ts);
 * - methods the era removed (initialize, ping, logging/setLevel, resources/subscribe …) are 404 / -32601.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WireError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Principal } from '../../core/principal.js';
import { GATEWAY_INFO } from '../../mcp/lifecycle.js';
import {
  errorResponse,
  isRequest,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type Params,
  paramsOf,
} from '../../mcp/messages.js';
import { MODERN_VERSIONS } from '../../mcp/protocol-versions.js';
import type { SessionRuntime } from '../../mcp/session.js';
import { newRequestContext } from '../../pipeline/context.js';
import { traceHeadersOf } from '../../telemetry/tracing.js';
import { sendWireError } from '../http-errors.js';
import type { ModernHandler } from '../mcp-endpoint.js';
import { HttpReply } from '../reply.js';
import { checkParamHeaders, checkRequest, claimsModern, isRefusal } from './envelope.js';
import { ListenBus, parseFilter, type SubscriptionFilter } from './listen.js';
import { invalidState, ModernCall, PARK_TTL_MS } from './modern-call.js';
import { capabilityProfile, ModernRelay } from './modern-relay.js';
import { RequestStateSealer } from './request-state.js';
import { stampResult } from './stamp.js';

/** Methods of 2026-07-28 the gateway serves, and the capability of the merged offer each needs. */
const SERVED: Readonly<Record<string, string>> = {
  'tools/list': 'tools',
  'tools/call': 'tools',
  'prompts/list': 'prompts',
  'prompts/get': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resources',
  'resources/read': 'resources',
  'completion/complete': 'completions',
};

const SERVER_INFO = { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version };

export interface ModernFrontOptions {
  readonly runtime: () => SessionRuntime;
  readonly logger: Logger;
}

export class ModernFront implements ModernHandler {
  private relays = new Map<string, ModernRelay>();
  private relaysFor: SessionRuntime['config']['servers'] | undefined;
  private readonly parked = new Map<string, { call: ModernCall; timer: NodeJS.Timeout }>();
  private readonly sealer = new RequestStateSealer();
  readonly bus = new ListenBus();

  constructor(private readonly options: ModernFrontOptions) {}

  claims(req: IncomingMessage, message: JSONRPCMessage): boolean {
    return claimsModern(req, message as { params?: unknown });
  }

  handle(req: IncomingMessage, res: ServerResponse, message: JSONRPCMessage, principal: Principal) {
    if (!isRequest(message)) {
      // Notifications of this era need no answer from us (cancellation is closing the stream).
      res.writeHead(202);
      res.end();
      return;
    }
    const envelope = checkRequest(req, message);
    if (isRefusal(envelope))
      return sendWireError(res, envelope.status, envelope.reason, envelope.message, {
        id: message.id,
        ...(envelope.data ? { data: envelope.data } : {}),
      });
    void this.dispatch(req, res, message, principal, envelope).catch((err: unknown) => {
      this.options.logger.error({ err, method: message.method }, 'internal error in a 2026-07-28 request');
      sendWireError(res, 500, 'internal_error', 'Internal gateway error', { id: message.id });
    });
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    message: JSONRPCRequest,
    principal: Principal,
    envelope: Exclude<ReturnType<typeof checkRequest>, { status: number }>,
  ): Promise<void> {
    const relay = this.relay(envelope.clientCapabilities);
    if (message.method === 'server/discover') {
      const offer = await relay.discover();
      return sendResult(res, message, {
        supportedVersions: [...MODERN_VERSIONS],
        capabilities: modernCapabilities(offer.capabilities),
        ...(offer.instructions ? { instructions: offer.instructions } : {}),
      });
    }
    if (message.method === 'subscriptions/listen') return this.listen(res, message, relay, principal);
    const capability = SERVED[message.method];
    if (capability === undefined || (await relay.discover()).capabilities[capability] === undefined)
      return sendWireError(
        res,
        404,
        'method_not_found',
        `Method not found: ${message.method}${capability === undefined ? ' (not part of protocol revision 2026-07-28)' : ''}`,
        { id: message.id },
      );
    if (message.method === 'tools/call') {
      const refusal = await this.checkToolHeaders(req, message, relay);
      if (refusal)
        return sendWireError(res, refusal.status, refusal.reason, refusal.message, { id: message.id });
    }

    const params = paramsOf(message);
    if (params['requestState'] !== undefined) return this.resume(res, message, principal, params);
    let call: ModernCall | undefined;
    const reply = new HttpReply(res, {}, () => call?.cancel());
    const runtime = this.options.runtime();
    call = new ModernCall(
      {
        runtime,
        relay,
        sealer: this.sealer,
        logger: this.options.logger,
        park: (c) => this.park(c),
        unpark: (c) => this.unpark(c),
      },
      principal,
      envelope,
      message,
      reply,
      runtime.tracing ? traceHeadersOf(req.headers) : undefined,
    );
    await call.run();
  }

  /** A retry carrying our requestState: the parked call it names goes on. */
  private resume(res: ServerResponse, message: JSONRPCRequest, principal: Principal, params: Params) {
    const state = this.sealer.open(params['requestState']);
    const entry = state ? this.parked.get(state.call) : undefined;
    const call = entry?.call;
    const name = String(params['name'] ?? params['uri'] ?? '');
    if (!state || !call)
      return answerError(res, message, invalidState(state ? 'the call is gone' : 'not one we issued'));
    if (state.agent !== principal.agent || state.method !== message.method || state.name !== name)
      return answerError(res, message, invalidState('it belongs to another call'));
    const answers = params['inputResponses'];
    const reply = new HttpReply(res, {}, () => call.cancel());
    call.resume(
      state.round,
      reply,
      message.id,
      answers !== null && typeof answers === 'object' && !Array.isArray(answers) ? (answers as Params) : {},
    );
  }

  private park(call: ModernCall): void {
    const timer = setTimeout(() => {
      this.parked.delete(call.callId);
      call.expire();
    }, PARK_TTL_MS);
    timer.unref();
    this.parked.set(call.callId, { call, timer });
  }

  private unpark(call: ModernCall): void {
    const entry = this.parked.get(call.callId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.parked.delete(call.callId);
  }

  /** `Mcp-Param-*` headers of a call mirror arguments the tool's schema marks with `x-mcp-header`. */
  private async checkToolHeaders(req: IncomingMessage, message: JSONRPCRequest, relay: ModernRelay) {
    const params = paramsOf(message);
    const tools = await relay.router.list('tools');
    const tool = tools.find((t) => t.exposed === params['name']);
    if (!tool) return undefined; // the pipeline answers unknown tools
    const args = params['arguments'];
    return checkParamHeaders(
      req,
      tool.definition['inputSchema'],
      args !== null && typeof args === 'object' && !Array.isArray(args) ? (args as Params) : {},
    );
  }

  private async listen(
    res: ServerResponse,
    message: JSONRPCRequest,
    relay: ModernRelay,
    principal: Principal,
  ) {
    const filter = parseFilter(paramsOf(message)['notifications']);
    if (!filter)
      return answerError(
        res,
        message,
        new WireError(
          'invalid_params',
          "Invalid params: 'notifications' is required and must be a valid SubscriptionFilter",
        ),
      );
    const caps = (await relay.discover()).capabilities;
    const offers = (kind: string, bit: string) => (caps[kind] as Params | undefined)?.[bit] === true;
    const honored: SubscriptionFilter = {
      ...(filter.toolsListChanged && offers('tools', 'listChanged') ? { toolsListChanged: true } : {}),
      ...(filter.promptsListChanged && offers('prompts', 'listChanged') ? { promptsListChanged: true } : {}),
      ...(filter.resourcesListChanged && offers('resources', 'listChanged')
        ? { resourcesListChanged: true }
        : {}),
      ...(filter.resourceSubscriptions?.length && offers('resources', 'subscribe')
        ? { resourceSubscriptions: await this.subscribe(relay, filter.resourceSubscriptions, principal) }
        : {}),
    };
    const uris = honored.resourceSubscriptions ?? [];
    this.bus.open(res, message.id, honored, SERVER_INFO, () => {
      // The last stream watching a URI lets the backend's subscription go.
      const still = this.bus.subscribedUris();
      for (const uri of uris) if (!still.has(uri)) void this.unsubscribe(relay, uri, principal);
    });
  }

  /** Subscribes on the backends through the pipeline (policy decides which URIs an agent may watch). */
  private async subscribe(
    relay: ModernRelay,
    uris: readonly string[],
    principal: Principal,
  ): Promise<string[]> {
    const ok: string[] = [];
    for (const uri of uris) {
      if (await this.runHousekeeping(relay, 'resources/subscribe', uri, principal)) ok.push(uri);
    }
    return ok;
  }

  private async unsubscribe(relay: ModernRelay, uri: string, principal: Principal): Promise<void> {
    await this.runHousekeeping(relay, 'resources/unsubscribe', uri, principal);
  }

  private async runHousekeeping(
    relay: ModernRelay,
    method: string,
    uri: string,
    principal: Principal,
  ): Promise<boolean> {
    const params = { uri };
    try {
      await this.options.runtime().run(
        newRequestContext({
          session: { id: 'stateless', transport: 'http', principal },
          request: { jsonrpc: '2.0', id: `listen-${method}`, method, params } as JSONRPCRequest,
          method,
          params,
          signal: new AbortController().signal,
          principal,
          relay: {
            resolve: (ctx) => relay.router.resolve(ctx),
            forward: (ctx) => relay.router.forward(ctx, { onProgress: () => {} }),
          },
        }),
      );
      return true;
    } catch (err) {
      this.options.logger.debug({ uri, method, err: (err as Error).message }, 'listen subscription refused');
      return false;
    }
  }

  /** The relay (backend connections) for requests declaring `capabilities`; rebuilt after a reload. */
  private relay(capabilities: Params): ModernRelay {
    const runtime = this.options.runtime();
    if (this.relaysFor !== runtime.config.servers) {
      const old = [...this.relays.values()];
      this.relays = new Map();
      this.relaysFor = runtime.config.servers;
      // Calls already running finish on the old connections; the next ones use the new servers.
      for (const r of old) setTimeout(() => void r.close(), 60_000).unref();
    }
    const profile = capabilityProfile(capabilities);
    let relay = this.relays.get(profile.key);
    if (!relay) {
      relay = new ModernRelay(runtime, profile.capabilities, this.bus, this.options.logger);
      this.relays.set(profile.key, relay);
    }
    return relay;
  }

  async close(): Promise<void> {
    this.bus.close(SERVER_INFO);
    for (const { call, timer } of this.parked.values()) {
      clearTimeout(timer);
      call.expire();
    }
    this.parked.clear();
    await Promise.all([...this.relays.values()].map((r) => r.close()));
  }
}

/** What discover says the gateway offers: the legacy offer minus what the era dropped. */
function modernCapabilities(capabilities: Params): Params {
  const { tasks: _tasks, ...rest } = capabilities;
  return rest;
}

function sendResult(res: ServerResponse, message: JSONRPCRequest, result: Params): void {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: message.id,
    result: stampResult(message.method, result),
  });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function answerError(res: ServerResponse, message: JSONRPCRequest, error: WireError): void {
  const body = JSON.stringify(errorResponse(message.id, error));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
