/**
 * The backends as the 2026-07-28 era uses them. Modern requests have no session, so they share long-lived
 * "virtual sessions" to the backends, one per set of client capabilities (a backend may only use what the
 * agent declared, and a legacy backend learns that at initialize). Each holds a SessionRouter (names, lists,
 * routing — the same code the legacy sessions use) and hands what the backends send to the call it belongs
 * to (by the call's internal request id), or, for change notifications, to the listen bus.
 */
import type { BackendListener } from '../../backends/pool.js';
import { WireError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { backendOffer, type Offer } from '../../mcp/lifecycle.js';
import { LIST_CHANGED } from '../../mcp/lists.js';
import type { JSONRPCNotification, JSONRPCRequest, Params, RequestId } from '../../mcp/messages.js';
import { paramsOf } from '../../mcp/messages.js';
import { LATEST_LEGACY_VERSION } from '../../mcp/protocol-versions.js';
import { SessionRouter } from '../../mcp/router.js';
import type { SessionRuntime } from '../../mcp/session.js';
import type { ListenBus } from './listen.js';

/** What a call needs from its relay besides routing. */
export interface RelayedCall {
  /** The call asked for log messages (a logLevel in its `_meta`). */
  readonly wantsLogs: boolean;
  onNotification(server: string, message: JSONRPCNotification): void;
  onServerRequest(server: string, message: JSONRPCRequest, signal: AbortSignal): Promise<Params>;
}

/**
 * The capabilities that matter to a backend, reduced to a key: two requests that declare the same ones
 * can share backend connections.
 */
export function capabilityProfile(declared: Params): { key: string; capabilities: Params } {
  const obj = (v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Params) : undefined;
  const sampling = obj(declared['sampling']);
  const elicitation = obj(declared['elicitation']);
  const form =
    elicitation !== undefined &&
    (obj(elicitation['form']) !== undefined || obj(elicitation['url']) === undefined);
  const url = obj(elicitation?.['url']) !== undefined;
  const capabilities: Params = {};
  if (sampling) capabilities['sampling'] = obj(sampling['tools']) ? { tools: {} } : {};
  if (form || url)
    capabilities['elicitation'] = { ...(form ? { form: {} } : {}), ...(url ? { url: {} } : {}) };
  if (obj(declared['roots'])) capabilities['roots'] = {};
  return { key: JSON.stringify(capabilities), capabilities };
}

export class ModernRelay implements BackendListener {
  readonly manyClients = true;
  readonly router: SessionRouter;
  private readonly calls = new Map<RequestId, RelayedCall>();
  private offer: Promise<Offer> | undefined;

  constructor(
    runtime: SessionRuntime,
    capabilities: Params,
    private readonly bus: ListenBus,
    private readonly logger: Logger,
  ) {
    this.router = new SessionRouter(runtime.config, runtime.pool, this, logger);
    this.router.open({
      protocolVersion: LATEST_LEGACY_VERSION,
      capabilities,
      clientInfo: { name: 'mcp-guard (2026-07-28 clients)', version: '1' },
    });
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  register(id: RequestId, call: RelayedCall): void {
    this.calls.set(id, call);
  }

  unregister(id: RequestId): void {
    this.calls.delete(id);
  }

  /** What the backends offer together (for server/discover), cached until a backend restarts. */
  discover(): Promise<Offer> {
    this.offer ??= backendOffer(this.router, this.logger, 'for discovery').then((offer) => {
      // A backend that is down is asked again next time rather than left out for good.
      if (!offer.complete) this.offer = undefined;
      return offer;
    });
    return this.offer;
  }

  wantsLogs(related: RequestId | undefined): boolean {
    return related !== undefined && this.calls.get(related)?.wantsLogs === true;
  }

  onBackendNotification(server: string, message: JSONRPCNotification, related: RequestId | undefined): void {
    const kinds = LIST_CHANGED[message.method];
    if (kinds) {
      for (const kind of kinds) if (kind !== 'resourceTemplates') this.bus.listChanged(kind);
      return;
    }
    if (message.method === 'notifications/resources/updated') {
      const params = paramsOf(message);
      if (typeof params['uri'] === 'string') this.bus.resourceUpdated(params['uri'], params);
      return;
    }
    const call = related === undefined ? undefined : this.calls.get(related);
    call?.onNotification(server, message);
  }

  onBackendRequest(
    server: string,
    message: JSONRPCRequest,
    signal: AbortSignal,
    related: RequestId | undefined,
  ): Promise<Params> {
    const call = related === undefined ? undefined : this.calls.get(related);
    if (!call)
      return Promise.reject(
        new WireError(
          'internal_error',
          `No 2026-07-28 request is waiting for ${message.method} from "${server}"`,
        ),
      );
    return call.onServerRequest(server, message, signal);
  }

  onBackendStatus(server: string, status: 'up' | 'down'): void {
    this.logger.info({ server, status }, 'backend status changed');
    this.offer = undefined;
    if (status === 'up')
      for (const kind of ['tools', 'prompts', 'resources'] as const) this.bus.listChanged(kind);
  }

  close(): Promise<void> {
    return this.router.close();
  }
}
