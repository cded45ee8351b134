/**
 * A fetch for the SDK's Streamable HTTP client transport that gives every request its own AbortSignal.
 *
 * The transport passes one AbortController's signal, shared for its whole life, to every fetch; each
 * fetch registers an abort listener on it that is not released when the request ends, so a long-lived
 * backend session accumulates listeners (and memory) with every call. Here the shared signal is linked
 * to a per-request controller through one listener that is removed as soon as the response body is done,
 * so closing the transport still aborts everything in flight.
 */
export async function fetchWithRequestScopedSignal(
  input: string | URL,
  init?: RequestInit,
  /** Also told when the body is done (one wrapper for both jobs: each layer of stream costs per call). */
  watch?: (response: Response) => ((error?: unknown) => void) | undefined,
): Promise<Response> {
  const shared = init?.signal;
  if (!shared) {
    const response = await fetch(input, init);
    const done = watch?.(response);
    return done ? onBodyDone(response, done) : response;
  }
  const own = new AbortController();
  const forward = () => own.abort(shared.reason);
  if (shared.aborted) own.abort(shared.reason);
  else shared.addEventListener('abort', forward, { once: true });
  const release = () => shared.removeEventListener('abort', forward);
  let response: Response;
  try {
    response = await fetch(input, { ...init, signal: own.signal });
  } catch (err) {
    release();
    throw err;
  }
  const done = watch?.(response);
  return onBodyDone(
    response,
    done
      ? (error) => {
          release();
          done(error);
        }
      : release,
  );
}

/**
 * `response` with a body that calls `done` once, when it has been read to the end (`error` undefined),
 * has failed (the connection broke) or was cancelled by its reader.
 */
export function onBodyDone(response: Response, done: (error?: unknown) => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  const reader = response.body.getReader();
  let called = false;
  const finish = (error?: unknown) => {
    if (called) return;
    called = true;
    done(error);
  };
  const tracked = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await reader.read();
        if (ended) {
          finish();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        finish(err ?? new Error('response body failed'));
        controller.error(err);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return new Response(tracked, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
