import type { IncomingMessage, ServerResponse } from 'node:http';

/** Handles one request to an exact path (the HTTP front mounts these; the authorization server provides some). */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;
