/** The readable report: findings grouped by file, then by server; colour only when asked to. */
import { styleText } from 'node:util';
import { escapeLine } from './hidden.js';
import type { ScanFinding, ScanResult, Severity } from './types.js';

export interface TextOptions {
  /** Colour the output (the caller decides: a TTY without NO_COLOR). */
  readonly color: boolean;
  /** Shown as `~` in paths. */
  readonly home?: string;
}

const SEVERITY_STYLE: Readonly<Record<Severity, Parameters<typeof styleText>[0]>> = {
  high: ['bold', 'red'],
  medium: 'yellow',
  low: 'cyan',
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Renders the text report (ends with a newline). */
export function renderText(result: ScanResult, options: TextOptions): string {
  const paint = (style: Parameters<typeof styleText>[0], s: string) =>
    options.color ? styleText(style, s) : s;
  // Every field is one line of the report: a line feed or carriage return in a server name or a
  // message must not start a line of its own (a forged "No findings", say).
  const shorten = (file: string) =>
    escapeLine(
      options.home && file.startsWith(`${options.home}/`) ? `~${file.slice(options.home.length)}` : file,
    );

  const byFile = new Map<string, ScanFinding[]>();
  for (const f of result.findings) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);

  const lines: string[] = [];
  for (const [file, findings] of byFile) {
    lines.push(
      `${paint('bold', shorten(file))}  ${paint('dim', `(${escapeLine(findings[0]?.client ?? '')})`)}`,
    );
    const byServer = new Map<string, ScanFinding[]>();
    for (const f of findings) {
      const key = f.server === null ? `\u0000${f.line}` : `${f.server}\u0000${f.line}`;
      byServer.set(key, [...(byServer.get(key) ?? []), f]);
    }
    for (const group of byServer.values()) {
      const first = group[0] as ScanFinding;
      lines.push(
        `  ${first.server === null ? '(whole file)' : paint('bold', escapeLine(first.server))}  ${paint('dim', `line ${first.line}`)}`,
      );
      for (const f of group) {
        lines.push(
          `    ${paint(SEVERITY_STYLE[f.severity], f.severity.toUpperCase().padEnd(6))}  ${f.rule}  ${escapeLine(f.message)}`,
        );
        lines.push(`            ${paint('dim', `fix: ${escapeLine(f.fix)}`)}`);
      }
    }
    lines.push('');
  }
  const s = result.summary;
  const total = s.high + s.medium + s.low;
  const scanned = `${plural(s.files, 'MCP config file')} scanned`;
  lines.push(
    total === 0
      ? `${paint('green', 'No findings')} — ${scanned}.`
      : `${plural(total, 'finding')} (${paint(SEVERITY_STYLE.high, `${s.high} high`)}, ${paint(SEVERITY_STYLE.medium, `${s.medium} medium`)}, ${paint(SEVERITY_STYLE.low, `${s.low} low`)}) — ${scanned}.`,
  );
  return `${lines.join('\n')}\n`;
}
