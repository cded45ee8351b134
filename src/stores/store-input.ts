/**
 * Checks of what callers hand a state store, shared by every implementation. The stages validate
 * amounts long before this; the store checks again because a NaN or negative amount that reached a
 * counter would poison it for the whole window (the original project's spend-cap bypass), and a
 * duplicated key would be charged once while the caller thinks twice.
 */
import { GatewayError } from '../core/errors.js';
import type { SpendBucket, TokenBucketSpec } from './state-store.js';

const NAMESPACE = /^[A-Za-z0-9_.-]{1,64}$/;
const DEFAULT_LIST_LIMIT = 100;

function invalid(message: string): never {
  throw new GatewayError('INTERNAL', `state store: ${message}`);
}

function checkKey(key: unknown, what: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024)
    invalid(`${what} key must be a non-empty string of at most 1024 characters`);
}

function checkDistinct(keys: readonly string[], what: string): void {
  if (new Set(keys).size !== keys.length) invalid(`${what} keys must be distinct`);
}

function checkTime(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) invalid(`${what} must be an integer number of ms, got ${value}`);
}

/** Throws unless every bucket has a key, a capacity >= 1 and a positive refill rate. */
export function checkTokenBuckets(buckets: readonly TokenBucketSpec[], nowMs: number): void {
  checkTime(nowMs, 'nowMs');
  for (const b of buckets) {
    checkKey(b.key, 'token bucket');
    if (!Number.isFinite(b.capacity) || b.capacity < 1)
      invalid(`token bucket ${b.key}: capacity must be >= 1`);
    if (!Number.isFinite(b.refillPerMs) || b.refillPerMs <= 0)
      invalid(`token bucket ${b.key}: refillPerMs must be > 0`);
    if (b.take !== undefined && (!Number.isInteger(b.take) || b.take < 1 || b.take > b.capacity))
      invalid(`token bucket ${b.key}: take must be an integer from 1 to capacity`);
  }
  checkDistinct(
    buckets.map((b) => b.key),
    'token bucket',
  );
}

/** Throws unless the amount and caps are non-negative integer micro-dollars and the window is sane. */
export function checkSpend(input: {
  amountMicros: number;
  windowStartMs: number;
  windowMs?: number;
  keys: readonly string[];
  buckets?: readonly SpendBucket[];
}): void {
  if (!Number.isSafeInteger(input.amountMicros) || input.amountMicros < 0)
    invalid(`amountMicros must be a non-negative integer, got ${input.amountMicros}`);
  checkTime(input.windowStartMs, 'windowStartMs');
  if (input.windowMs !== undefined && (!Number.isSafeInteger(input.windowMs) || input.windowMs <= 0))
    invalid(`windowMs must be a positive integer, got ${input.windowMs}`);
  for (const key of input.keys) checkKey(key, 'spend');
  for (const b of input.buckets ?? [])
    if (b.capMicros !== null && (!Number.isSafeInteger(b.capMicros) || b.capMicros < 0))
      invalid(`spend bucket ${b.key}: capMicros must be null or a non-negative integer`);
  checkDistinct(input.keys, 'spend');
}

/** Throws unless the namespace is a short plain name (it becomes part of a Redis key). */
export function checkNamespace(ns: string): void {
  if (!NAMESPACE.test(ns)) invalid(`KV namespace must match ${NAMESPACE}, got ${JSON.stringify(ns)}`);
}

/** The number of approvals a list returns: the caller's limit, else 100. */
export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) invalid(`limit must be a positive integer, got ${limit}`);
  return limit;
}

/** A KV TTL as whole ms (undefined: no expiry); throws unless it is positive. */
export function kvTtl(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) invalid(`ttlMs must be > 0, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

/** When a KV entry written at `nowMs` with `ttlMs` expires (null: never). */
export function kvExpiry(nowMs: number, ttlMs: number | undefined): number | null {
  const ttl = kvTtl(ttlMs);
  return ttl === undefined ? null : nowMs + ttl;
}
