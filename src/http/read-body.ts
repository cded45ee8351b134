import type { IncomingMessage } from 'node:http';

export type BodyResult = { ok: true; text: string } | { ok: false; status: 413 | 400; message: string };

/**
 * Reads a request body up to `limit` bytes. A Content-Length over the limit is refused before reading;
 * a chunked body that passes the limit stops being buffered at once (the rest is drained and discarded,
 * so the client can still read the 413), so an oversized body never sits in memory. Invalid UTF-8 is
 * refused rather than silently replaced.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const tooLarge: BodyResult = { ok: false, status: 413, message: `Request body larger than ${limit} bytes` };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.resolve(tooLarge);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => resolve({ ok: false, status: 400, message: 'Request body could not be read' }));
    req.on('end', () => {
      if (over) return;
      try {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size));
        resolve({ ok: true, text });
      } catch {
        resolve({ ok: false, status: 400, message: 'Request body is not valid UTF-8' });
      }
    });
  });
}
