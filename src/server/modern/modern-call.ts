/**
 * One 2026-07-28 request, through the same pipeline as a legacy one (authentication already happened at
 * the door; then record, route, authorize, limits, spend, approval, forward).
 *
 * The era has no server→client requests: when a legacy backend asks the agent something during the call
 * (sampling, elicitation, roots), the gateway answers the HTTP request with an `input_required` result
 * that carries the questions and a sealed `requestState`, and parks the call with the backend's questions
 * open. The agent's retry (a new request with `inputResponses` and that `requestState`) answers them, and
 * the call goes on where it was: the pipeline ran once, the backend was called once.
 */

import {
  FOREIGN_CODES,
  type JsonRpcErrorObject,
  WIRE_ERRORS,
  WireError,
  wireErrorObject,
} from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Principal } from '../../core/principal.js';
import { resultOf } from '../../mcp/lifecycle.js';
import {
  errorResponse,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type JSONRPCResponse,
  metaOf,
  notification,
  type Params,
  paramsOf,
  type RequestId,
  resultResponse,
} from '../../mcp/messages.js';
import type { SessionRuntime } from '../../mcp/session.js';
import { RequestCancellation } from '../../pipeline/cancellation.js';
import {
  newRequestContext,
  type Relay,
  type RequestContext,
  type SessionInfo,
  type Target,
} from '../../pipeline/context.js';
import type { TraceHeaders } from '../../telemetry/tracing.js';
import type { HttpReply } from '../reply.js';
import type { Envelope } from './envelope.js';
import type { ModernRelay, RelayedCall } from './modern-relay.js';
import type { RequestStateSealer } from './request-state.js';
import { stampResult } from './stamp.js';

/** A backend may name the key of its question in the agent's `inputRequests` (else one is made up). */
export const INPUT_KEY_META = 'mcp-guard/input_key';
/** Questions a backend asks within this time of each other go to the agent in one input_required result. */
const GATHER_MS = 15;
/** How long a parked call waits for the agent's answers. */
export const PARK_TTL_MS = 10 * 60_000;

const LOG_SEVERITY = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

interface Question {
  readonly method: string;
  readonly params: Params | undefined;
  readonly resolve: (result: Params) => void;
}

type Outcome = { readonly result: Params } | { readonly error: JsonRpcErrorObject; readonly status: number };

export interface CallDeps {
  readonly runtime: SessionRuntime;
  readonly relay: ModernRelay;
  readonly sealer: RequestStateSealer;
  readonly logger: Logger;
  /** Keeps a call that waits for the agent's answers (and forgets it). */
  readonly park: (call: ModernCall) => void;
  readonly unpark: (call: ModernCall) => void;
}

let nextCallNumber = 1;

export class ModernCall implements RelayedCall, Relay, SessionInfo {
  readonly id = 'stateless';
  readonly transport = 'http' as const;
  /** Unique in this process: the backend side knows the call by it (agents' own ids collide freely). */
  readonly callId = `m${nextCallNumber++}`;
  round = 0;
  private reply: HttpReply | undefined;
  private clientId: RequestId;
  private readonly controller = new RequestCancellation();
  private state: 'running' | 'parked' | 'done' = 'running';
  private readonly questions = new Map<string, Question>();
  private gatherTimer: NodeJS.Timeout | undefined;
  private keyCount = 0;
  private outcome: Outcome | undefined;
  /** Answers that came with a fresh request (no requestState): used if the backend asks the same key. */
  private readonly given: Params;

  constructor(
    private readonly deps: CallDeps,
    readonly principal: Principal,
    private readonly envelope: Envelope,
    readonly request: JSONRPCRequest,
    reply: HttpReply,
    /** The HTTP request's trace headers (passed only while tracing is on). */
    private readonly traceHeaders?: TraceHeaders,
  ) {
    this.clientId = request.id;
    this.reply = reply;
    const given = paramsOf(request)['inputResponses'];
    this.given =
      given !== null && typeof given === 'object' && !Array.isArray(given) ? (given as Params) : {};
  }

  /** The method and the name (tool, prompt, URI) a requestState is bound to. */
  get binding(): { method: string; name: string } {
    const p = paramsOf(this.request);
    return { method: this.request.method, name: String(p['name'] ?? p['uri'] ?? '') };
  }

  /** The agent went away before the answer: in this era that is a cancellation. */
  cancel(): void {
    if (this.state === 'done') return;
    this.controller.abort(new WireError('internal_error', 'cancelled by the client (stream closed)'));
  }

  /** Runs the request through the pipeline and answers it (now, or on a retry). */
  async run(): Promise<void> {
    this.deps.relay.register(this.callId, this);
    const params = forwardedParams(this.request);
    const ctx = newRequestContext({
      session: this,
      request: { ...this.request, id: this.callId, params } as JSONRPCRequest,
      method: this.request.method,
      params,
      signal: this.controller.signal,
      principal: this.principal,
      relay: this,
      client: {
        capabilities: this.envelope.clientCapabilities,
        // Progress rides this request's answer; other notifications (elicitation/complete) left the era.
        notify: (method, p) => {
          if (method === 'notifications/progress') this.send(notification(method, p));
        },
        // A stage's question (wait mode's URL elicitation) becomes an input_required round, as a backend's.
        request: (method, p, signal) =>
          this.onServerRequest(
            'mcp-guard',
            { jsonrpc: '2.0', id: 0, method, params: p } as JSONRPCRequest,
            signal,
          ),
      },
      traceHeaders: this.traceHeaders,
    });
    try {
      await this.deps.runtime.run(ctx);
      this.finish({ result: stampResult(this.request.method, resultOf(ctx)) });
    } catch (err) {
      this.finish({
        error: this.errorObject(err),
        status: err instanceof WireError ? errorStatus(err) : 200,
      });
    } finally {
      this.deps.relay.unregister(this.callId);
    }
  }

  // ---------------------------------------------------------------- Relay (the pipeline's last stages)

  resolve(ctx: RequestContext): Promise<Target | undefined> {
    return this.deps.relay.router.resolve(ctx);
  }

  forward(ctx: RequestContext): Promise<void> {
    return this.deps.relay.router.forward(ctx, {
      onProgress: (p) => this.send(notification('notifications/progress', p)),
    });
  }

  // ---------------------------------------------------------------- backend → agent

  get wantsLogs(): boolean {
    return this.envelope.logLevel !== undefined;
  }

  onNotification(_server: string, message: JSONRPCNotification): void {
    if (message.method !== 'notifications/message') return; // nothing else travels outside listen streams
    const wanted = this.envelope.logLevel;
    if (wanted === undefined) return; // no logLevel in _meta: no log messages
    const level = String(paramsOf(message)['level'] ?? '');
    if (LOG_SEVERITY.indexOf(level) >= LOG_SEVERITY.indexOf(wanted)) this.send(message);
  }

  onServerRequest(_server: string, message: JSONRPCRequest, signal: AbortSignal): Promise<Params> {
    const missing = missingCapability(message, this.envelope.clientCapabilities);
    if (missing) {
      this.fail(
        new WireError(
          'missing_client_capability',
          `Missing required client capabilities: ${Object.keys(missing).join(', ')} (the tool asks for ${message.method})`,
          { requiredCapabilities: missing },
        ),
      );
      return Promise.reject(new WireError('method_not_found', `The agent did not declare ${message.method}`));
    }
    const { key: hint, params } = withoutKeyHint(message.params);
    let key = hint ?? `${shortName(message.method)}_${++this.keyCount}`;
    while (this.questions.has(key)) key = `${key}_${++this.keyCount}`;
    const given = this.given[key];
    if (validAnswer(message.method, given)) {
      delete this.given[key];
      return Promise.resolve(given as Params);
    }
    return new Promise<Params>((resolve, reject) => {
      this.questions.set(key, { method: message.method, params, resolve });
      signal.addEventListener(
        'abort',
        () => {
          this.questions.delete(key);
          reject(new WireError('internal_error', 'the backend withdrew its question'));
        },
        { once: true },
      );
      this.gatherTimer ??= setTimeout(() => this.askAgent(), GATHER_MS);
    });
  }

  // ---------------------------------------------------------------- rounds

  /** Answers the current HTTP request with the backend's open questions and parks the call. */
  private askAgent() {
    this.gatherTimer = undefined;
    if (this.state !== 'running' || this.questions.size === 0) return;
    const reply = this.reply;
    if (!reply?.open) return this.cancel();
    this.round++;
    const inputRequests: Params = {};
    for (const [key, q] of this.questions)
      inputRequests[key] =
        q.params === undefined ? { method: q.method } : { method: q.method, params: q.params };
    const requestState = this.deps.sealer.seal({
      call: this.callId,
      round: this.round,
      agent: this.principal.agent,
      ...this.binding,
      exp: Date.now() + PARK_TTL_MS,
    });
    this.state = 'parked';
    this.reply = undefined;
    this.deps.park(this);
    reply.end(
      resultResponse(
        this.clientId,
        stampResult(this.request.method, { resultType: 'input_required', inputRequests, requestState }),
      ),
    );
  }

  /**
   * The agent's retry for `round`: its answers go to the backend's open questions, and the call goes on,
   * answering on the retry's response. Questions left unanswered are asked again.
   */
  resume(round: number, reply: HttpReply, clientId: RequestId, answers: Params): void {
    if (this.state === 'done' && this.outcome) {
      // The call ended while parked (a timeout, a withdrawn question): the retry hears how.
      this.deps.unpark(this);
      this.reply = reply;
      this.clientId = clientId;
      this.deliver(this.outcome);
      return;
    }
    if (this.state !== 'parked' || round !== this.round) {
      reply.end(errorResponse(clientId, invalidState('it was already answered')));
      return;
    }
    this.deps.unpark(this);
    this.state = 'running';
    this.reply = reply;
    this.clientId = clientId;
    for (const [key, q] of [...this.questions]) {
      const answer = answers[key];
      if (!validAnswer(q.method, answer)) continue;
      this.questions.delete(key);
      q.resolve(answer as Params);
    }
    if (this.questions.size > 0) this.askAgent();
  }

  /** The parked call waited too long: it is cancelled (the backend hears notifications/cancelled). */
  expire(): void {
    if (this.state === 'done') return;
    this.controller.abort(new WireError('internal_error', 'the agent did not answer in time'));
  }

  // ---------------------------------------------------------------- the end

  private fail(error: WireError): void {
    this.finish({ error: error.toJsonRpc(), status: errorStatus(error) });
    this.controller.abort(error);
  }

  private finish(outcome: Outcome): void {
    if (this.state === 'done') return;
    const wasParked = this.state === 'parked';
    this.state = 'done';
    this.outcome = outcome;
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    // Kept parked (until its state expires) so that a retry still learns how the call ended.
    if (!wasParked) this.deliver(outcome);
  }

  private deliver(outcome: Outcome): void {
    const reply = this.reply;
    this.reply = undefined;
    if (!reply?.open) return;
    if ('result' in outcome) reply.end(resultResponse(this.clientId, outcome.result));
    else reply.endWithStatus(outcome.status, errorResponse(this.clientId, outcome.error) as JSONRPCResponse);
  }

  private send(message: JSONRPCNotification): void {
    if (this.reply?.open) this.reply.send(message);
  }

  private errorObject(err: unknown): JsonRpcErrorObject {
    let error = wireErrorObject(err);
    if (error === undefined) {
      this.deps.logger.error({ err, method: this.request.method }, 'internal error in a 2026-07-28 request');
      error = new WireError('internal_error', 'Internal gateway error').toJsonRpc();
    }
    return this.request.method === 'resources/read' ? resourceNotFound(error, this.request) : error;
  }
}

/** The params a backend gets: the era's envelope and the round-trip fields stay with the gateway. */
function forwardedParams(request: JSONRPCRequest): Params {
  const { inputResponses: _r, requestState: _s, ...params } = paramsOf(request);
  const meta = metaOf(params);
  if (meta) {
    const kept = Object.fromEntries(
      Object.entries(meta).filter(([k]) => !k.startsWith('io.modelcontextprotocol/')),
    );
    if (Object.keys(kept).length > 0) params['_meta'] = kept;
    else delete params['_meta'];
  }
  return params;
}

function errorStatus(error: WireError): number {
  return error.reason === 'missing_client_capability' ? 400 : 200;
}

export function invalidState(why: string): WireError {
  return new WireError(
    'invalid_params',
    `Invalid or expired requestState (${why}): send the request again without it`,
    {
      reason: 'invalid_request_state',
    },
  );
}

/** 2026-07-28: an unknown resource is -32602 with `data.uri` (legacy servers say -32002, or omit the URI). */
function resourceNotFound(error: JsonRpcErrorObject, request: JSONRPCRequest): JsonRpcErrorObject {
  const invalidParams = WIRE_ERRORS.invalid_params.code;
  if (error.code !== FOREIGN_CODES.resource_not_found && error.code !== invalidParams) return error;
  const uri = paramsOf(request)['uri'];
  return { code: invalidParams, message: error.message, data: { ...error.data, uri } };
}

function shortName(method: string): string {
  return method === 'sampling/createMessage'
    ? 'sampling'
    : method === 'elicitation/create'
      ? 'elicitation'
      : 'roots';
}

function withoutKeyHint(params: unknown): { key: string | undefined; params: Params | undefined } {
  if (params === null || typeof params !== 'object') return { key: undefined, params: undefined };
  const p = params as Params;
  const meta = metaOf(p);
  const hint = meta?.[INPUT_KEY_META];
  if (typeof hint !== 'string') return { key: undefined, params: p };
  const { [INPUT_KEY_META]: _hint, ...rest } = meta as Params;
  const out: Params = { ...p };
  if (Object.keys(rest).length > 0) out['_meta'] = rest;
  else delete out['_meta'];
  return { key: hint, params: out };
}

/** Whether `answer` has the shape of a result to `method` (anything else is asked again). */
function validAnswer(method: string, answer: unknown): boolean {
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) return false;
  const a = answer as Params;
  if ('method' in a || 'result' in a || 'jsonrpc' in a) return false;
  switch (method) {
    case 'elicitation/create':
      return a['action'] === 'accept' || a['action'] === 'decline' || a['action'] === 'cancel';
    case 'sampling/createMessage':
      return typeof a['role'] === 'string' && a['content'] !== undefined;
    case 'roots/list':
      return Array.isArray(a['roots']);
    default:
      return false;
  }
}

/** The part of the client capabilities a server→client request needs and the request did not declare. */
function missingCapability(message: JSONRPCRequest, declared: Params): Params | undefined {
  const obj = (v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Params) : undefined;
  const params = paramsOf(message);
  switch (message.method) {
    case 'sampling/createMessage': {
      const sampling = obj(declared['sampling']);
      const needsTools = params['tools'] !== undefined || params['toolChoice'] !== undefined;
      if (!sampling) return { sampling: needsTools ? { tools: {} } : {} };
      if (needsTools && !obj(sampling['tools'])) return { sampling: { tools: {} } };
      return undefined;
    }
    case 'elicitation/create': {
      const elicitation = obj(declared['elicitation']);
      if (params['mode'] === 'url')
        return obj(elicitation?.['url']) ? undefined : { elicitation: { url: {} } };
      const formDeclared =
        elicitation !== undefined &&
        (obj(elicitation['form']) !== undefined || obj(elicitation['url']) === undefined);
      return formDeclared ? undefined : { elicitation: { form: {} } };
    }
    case 'roots/list':
      return obj(declared['roots']) ? undefined : { roots: {} };
    default:
      return undefined;
  }
}
