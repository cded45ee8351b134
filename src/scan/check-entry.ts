/**
 * Runs every check on one server entry and turns the issues into findings with file, line, client,
 * severity and fix. Every message passes through the entry's secret list here, once, so no check can
 * print a secret by accident.
 */
import { effectiveArgv } from './argv.js';
import { checkCommand } from './check-command.js';
import { checkDocker } from './check-docker.js';
import { checkNetwork } from './check-network.js';
import { checkInputs, checkSecrets } from './check-secrets.js';
import { codePoint, HIDDEN, visible } from './hidden.js';
import type { Issue } from './issue.js';
import { rule } from './rules.js';
import { excerpt, maskAll } from './secrets.js';
import type { ClientId, FileFlag, InputEntry, ScanFinding, ServerEntry } from './types.js';

function hiddenCharacters(entry: ServerEntry): Issue[] {
  const fields: Array<[string, string]> = [['name', entry.name]];
  if (entry.command !== undefined) fields.push(['command', entry.command]);
  for (const [i, a] of entry.args.entries()) fields.push([`argument ${i + 1}`, a]);
  if (entry.url !== undefined) fields.push(['url', entry.url]);
  for (const [k, v] of Object.entries(entry.env)) fields.push([`env ${k}`, `${k}${v}`]);
  for (const [k, v] of Object.entries(entry.headers)) fields.push([`header ${k}`, `${k}${v}`]);
  const issues: Issue[] = [];
  for (const [where, value] of fields) {
    const found = [...new Set(value.match(HIDDEN) ?? [])];
    if (found.length === 0) continue;
    const codes = found.map(codePoint);
    issues.push({
      rule: 'MCP-NAME-002',
      message: `hidden characters ${codes.join(', ')} in ${where.replace(HIDDEN, '')}`,
      subject: where.replace(HIDDEN, '?'),
    });
  }
  return issues;
}

/** Where a finding goes: the file as displayed and its client. */
export interface FindingPlace {
  readonly file: string;
  readonly client: ClientId;
}

function toFinding(place: FindingPlace, line: number, server: string | null, issue: Issue): ScanFinding {
  const meta = rule(issue.rule);
  return {
    rule: meta.id,
    severity: meta.severity,
    file: place.file,
    line,
    client: place.client,
    server: server === null ? null : visible(server),
    message: visible(issue.message),
    fix: meta.fix,
    subject: issue.subject,
  };
}

/** Every finding for one server entry. `home` is the scanning user's home folder. */
export function checkEntry(entry: ServerEntry, place: FindingPlace, home: string): ScanFinding[] {
  const argv = effectiveArgv(entry.command, entry.args);
  const { issues: secretIssues, secrets } = checkSecrets(entry);
  const issues: Issue[] = [
    ...secretIssues,
    ...checkNetwork(entry, argv),
    ...checkCommand(entry, argv, home),
    ...checkDocker(argv, home),
    ...hiddenCharacters(entry),
  ];
  for (const setting of entry.autoApprove) {
    issues.push({
      rule: 'MCP-APPR-001',
      message: `tools run without confirmation: ${excerpt(setting)}`,
      subject: setting,
    });
  }
  // A project-scoped entry of ~/.claude.json names its project in the subject, so fingerprints differ.
  const scope = entry.at.startsWith('projects.') ? `${entry.at}|` : '';
  const seen = new Set<string>();
  const findings: ScanFinding[] = [];
  for (const issue of issues) {
    const key = `${issue.rule}|${issue.subject}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const masked = {
      ...issue,
      message: maskAll(issue.message, secrets),
      subject: `${scope}${maskAll(issue.subject, secrets)}`,
    };
    findings.push(toFinding(place, entry.line, entry.name, masked));
  }
  return findings;
}

/** Findings for client-wide flags (not tied to a server). */
export function checkFileFlags(flags: readonly FileFlag[], place: FindingPlace): ScanFinding[] {
  return flags.map((f) =>
    toFinding(place, f.line, null, {
      rule: f.rule,
      message: `client-wide auto-approval: ${f.text}`,
      subject: f.text,
    }),
  );
}

/** Findings for VS Code inputs whose default value is a secret. */
export function checkInputFindings(inputs: readonly InputEntry[], place: FindingPlace): ScanFinding[] {
  return checkInputs(inputs).map((issue) => toFinding(place, issue.line, null, issue));
}

/** A finding about a whole file (it could not be read or parsed). */
export function fileFinding(
  id: 'MCP-CFG-001' | 'MCP-CFG-002',
  place: FindingPlace,
  line: number,
  message: string,
): ScanFinding {
  return toFinding(place, line, null, { rule: id, message, subject: id });
}
