import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FOREIGN_CODES, WIRE_ERRORS } from './errors.js';

const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
/** `code → reason` of the rows of docs/errors.md's tables (reason in backticks where it has one). */
const documented = new Map(
  [...docs.matchAll(/^\| (-32\d{3}) \| (?:`([a-z_]+)`)?/gm)].map((m) => [Number(m[1]), m[2]]),
);

describe('the wire error registry and docs/errors.md', () => {
  it('document every code the gateway puts on the wire, under the same reason name', () => {
    for (const [reason, { code }] of Object.entries(WIRE_ERRORS)) {
      expect(documented.has(code), `${code} (${reason}) is missing from docs/errors.md`).toBe(true);
      const named = documented.get(code);
      if (named !== undefined) expect(named, `docs name ${code} differently`).toBe(reason);
    }
  });

  it('has one reason per code, and no policy code the SDK or the spec already uses', () => {
    const codes = Object.values(WIRE_ERRORS).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const reserved of [-32000, -32002, -32042]) expect(codes).not.toContain(reserved);
    // The spec's 2026-07-28 codes appear only under the spec's own meaning.
    expect(WIRE_ERRORS.header_mismatch.code).toBe(-32020);
    expect(WIRE_ERRORS.missing_client_capability.code).toBe(-32021);
    expect(WIRE_ERRORS.unsupported_protocol_version.code).toBe(-32022);
  });

  it('keeps the codes it only recognises apart from the codes it sends', () => {
    const codes = new Set<number>(Object.values(WIRE_ERRORS).map((e) => e.code));
    for (const code of Object.values(FOREIGN_CODES)) expect(codes.has(code)).toBe(false);
  });
});
