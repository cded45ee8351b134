/**
 * Paging of merged lists: the gateway fetches every page of every backend, merges them, and hands the
 * agent pages of its own with an opaque cursor (an offset), whatever cursors the backends use.
 */
import { WireError } from '../core/errors.js';
import type { Listing } from '../pipeline/context.js';
import { LIST_METHODS } from './lists.js';
import type { Params } from './messages.js';

const LIST_PAGE_SIZE = 500;

/** The page of `listing` that `params.cursor` asks for, as a list result (`{tools, nextCursor?}` …). */
export function pageOf(listing: Listing, params: Params): Params {
  const key = LIST_METHODS[listing.kind].key;
  const offset = decodeCursor(params['cursor']);
  const items = listing.items.slice(offset, offset + LIST_PAGE_SIZE).map((i) => i.definition);
  const next =
    offset + LIST_PAGE_SIZE < listing.items.length ? encodeCursor(offset + LIST_PAGE_SIZE) : undefined;
  return next === undefined ? { [key]: items } : { [key]: items, nextCursor: next };
}

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeCursor(cursor: unknown): number {
  if (cursor === undefined) return 0;
  try {
    const value = JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof value.o === 'number' && Number.isInteger(value.o) && value.o >= 0) return value.o;
  } catch {
    // fall through
  }
  throw new WireError('invalid_params', 'Invalid cursor');
}
