/** The JSON report of SPEC §7: exactly `{findings: [...], summary: {high, medium, low, files}}`. */
import type { Finding, ScanResult } from './types.js';

/** Renders the JSON report (ends with a newline); findings carry only the SPEC's fields. */
export function renderJson(result: ScanResult): string {
  const findings: Finding[] = result.findings.map((f) => ({
    rule: f.rule,
    severity: f.severity,
    file: f.file,
    line: f.line,
    client: f.client,
    server: f.server,
    message: f.message,
    fix: f.fix,
  }));
  const { high, medium, low, files } = result.summary;
  return `${JSON.stringify({ findings, summary: { high, medium, low, files } }, null, 2)}\n`;
}
