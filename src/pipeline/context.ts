/**
 * What travels through the stages for one client→server request. Stages read the request and the
 * routing result, may refuse (throw a WireError), and may shape the outcome after `next()` returns
 * (e.g. filter a listing). The session turns the outcome into the JSON-RPC response afterwards.
 */
import type { WireError } from '../core/errors.js';
import type { Principal } from '../core/principal.js';
import type { JSONRPCRequest, Params } from '../mcp/messages.js';
import type { RequestTrace, TraceHeaders } from '../telemetry/tracing.js';

/**
 * What a routed request addresses on which backend. `definition` is the listed definition the request
 * was resolved against (tool pinning checks it); for a resource, it is set when the URI matched a
 * resource template, named by `template` as the backend knows it.
 */
export type Target =
  | {
      readonly kind: 'tool';
      readonly server: string;
      readonly name: string;
      readonly exposed: string;
      readonly definition?: Params;
    }
  | {
      readonly kind: 'prompt';
      readonly server: string;
      readonly name: string;
      readonly exposed: string;
      readonly definition?: Params;
    }
  | {
      readonly kind: 'resource';
      readonly server: string;
      readonly uri: string;
      readonly exposed: string;
      readonly definition?: Params;
      readonly template?: string;
    };

import type { ListKind } from '../mcp/lists.js';

export type { ListKind };

/** One entry of an aggregated listing, before it is serialised for the agent. */
export interface ListingItem {
  readonly server: string;
  /** Name (tools, prompts) or URI / URI template (resources) as the backend knows it. */
  readonly name: string;
  /** What the agent sees. */
  readonly exposed: string;
  /** The backend's definition with the exposed name already in place. */
  readonly definition: Params;
}

export interface Listing {
  readonly kind: ListKind;
  items: ListingItem[];
}

/** Facts gathered on the way, for audit and metrics. */
export interface Decision {
  decision?: 'allowed' | 'denied' | 'rate_limited' | 'held' | 'approved' | 'spend_capped';
  reason?: string;
  amountUsd?: number;
  approvalId?: string;
}

export interface SessionInfo {
  readonly id: string;
  readonly transport: 'stdio' | 'http';
  /** The principal the session was opened with (HTTP requests are re-authenticated each time). */
  readonly principal: Principal | undefined;
}

/**
 * The agent's end of the session, for a stage that must talk to it while a request runs (the approval
 * stage's wait mode: progress while a human decides, a URL elicitation with the approval's page).
 * Messages ride the stream of the request being handled.
 */
export interface AgentChannel {
  /** What the agent declared at initialize (`elicitation`, `sampling`, …). */
  readonly capabilities: Params;
  notify(method: string, params: Params): void;
  /** A server→client request; rejects when the agent answers with an error or lacks the capability. */
  request(method: string, params: Params, signal: AbortSignal): Promise<Params>;
}

/** The relay behind the pipeline: routing before policy, execution at the end. */
export interface Relay {
  resolve(ctx: RequestContext): Promise<Target | undefined>;
  forward(ctx: RequestContext): Promise<void>;
}

export interface RequestContext {
  readonly session: SessionInfo;
  readonly request: JSONRPCRequest;
  readonly method: string;
  readonly params: Params;
  /** Aborted when the agent cancels the request or its session ends. */
  readonly signal: AbortSignal;
  readonly startedAt: number;
  /** The caller; set by the transport (HTTP) or the authenticate stage (stdio). */
  principal: Principal | undefined;
  /** Set by the route stage for requests that address one tool, prompt or resource. */
  target: Target | undefined;
  /** Result object for the agent (set by the forward stage). */
  result: Params | undefined;
  /** For list methods: the aggregated items, which policy may filter before serialisation. */
  listing: Listing | undefined;
  /** Set when a stage refused the request or the backend failed (for audit after the fact). */
  error: WireError | undefined;
  /** True once the request was handed to a backend (it may have taken effect there). */
  sent: boolean;
  readonly decision: Decision;
  readonly relay: Relay;
  /** The agent, when the front can reach it during the request. */
  readonly client?: AgentChannel;
  /**
   * The W3C trace context of the HTTP request that carried this one (`traceparent`/`tracestate`); set by
   * the front only while tracing is on.
   */
  readonly traceHeaders?: TraceHeaders;
  /** This request's trace while tracing is on (src/telemetry); undefined otherwise. */
  trace?: RequestTrace;
}

/** What a front knows of a request when it hands it to the pipeline. */
export type RequestStart = Pick<
  RequestContext,
  'session' | 'request' | 'method' | 'params' | 'signal' | 'principal' | 'relay' | 'client' | 'traceHeaders'
>;

/** A request's context as the pipeline first sees it: what the front knows, everything else blank. */
export function newRequestContext(start: RequestStart): RequestContext {
  // Every field spelled out (no spread): one object shape for every request, whichever front built
  // it, so the stages' property reads stay monomorphic (the spread showed as 2% of a profile).
  return {
    session: start.session,
    request: start.request,
    method: start.method,
    params: start.params,
    signal: start.signal,
    principal: start.principal,
    relay: start.relay,
    client: start.client,
    traceHeaders: start.traceHeaders,
    trace: undefined,
    startedAt: Date.now(),
    target: undefined,
    result: undefined,
    listing: undefined,
    error: undefined,
    sent: false,
    decision: {},
  };
}
