/**
 * The hash chain. A line is the record's JSON with `prev_hash` and `hash` as its last two keys:
 *
 *   hash = sha256_hex( prev_hash + "\n" + <the line's bytes without `,"hash":"…"`> )
 *
 * i.e. the hash covers the exact bytes written (including `prev_hash`), not a re-serialisation, so
 * any byte changed in a line is detected and a verifier needs nothing but a JSON-free string cut
 * (docs/audit.md shows it in five lines of shell). The first line of a fresh log has
 * prev_hash = 64 zeros.
 */
import { sha256Hex } from './canonical-json.js';
import type { AuditRecord } from './record.js';

/** `,"prev_hash":"<64 hex>","hash":"<64 hex>"}` at the very end of a line. */
const SEAL_RE = /,"prev_hash":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"\}$/;

/** Length of `,"hash":"<64 hex>"}`, the part of a line the hash does not cover (minus the closing brace). */
const HASH_TAIL_LENGTH = ',"hash":"'.length + 64 + '"}'.length;

/** Completes a line started by serializeEvent(): adds prev_hash and hash, and the newline. */
export function sealLine(prefix: string, prevHash: string): { line: string; hash: string } {
  const unsealed = `${prefix},"prev_hash":"${prevHash}"}`;
  const hash = sha256Hex(`${prevHash}\n${unsealed}`);
  return { line: `${prefix},"prev_hash":"${prevHash}","hash":"${hash}"}\n`, hash };
}

export type CheckedLine =
  | { ok: true; prevHash: string; hash: string; record: AuditRecord }
  | { ok: false; problem: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks one line on its own (without its newline): well-formed UTF-8 and JSON, sealed, and its hash
 * matches its bytes. Whether it links to the previous line is the caller's check.
 */
export function checkLine(bytes: Uint8Array): CheckedLine {
  if (bytes.length === 0) return { ok: false, problem: 'empty line' };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, problem: 'not valid UTF-8 (garbled line)' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not valid JSON (garbled or truncated line)' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, problem: 'not a JSON object' };
  }
  const seal = SEAL_RE.exec(text);
  if (seal === null) return { ok: false, problem: 'no "prev_hash" and "hash" at the end of the line' };
  const prevHash = seal[1]!;
  const hash = seal[2]!;
  const expected = sha256Hex(`${prevHash}\n${text.slice(0, text.length - HASH_TAIL_LENGTH)}}`);
  if (expected !== hash) return { ok: false, problem: 'hash mismatch: the line was edited' };
  return { ok: true, prevHash, hash, record: parsed as AuditRecord };
}
