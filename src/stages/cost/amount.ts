/**
 * How much a tool call costs (SPEC §2 amounts): `policies.tools.TOOL.cost` is a fixed `usd` price or an
 * `argument` (a dotted path into the arguments, with an optional `scale`, e.g. cents → dollars); without a
 * rule, `amount_usd` then `amount` are read. A value that is not a finite, non-negative JSON number is
 * refused (-32602) — never counted as zero, which is how the original mcp-guard's caps were bypassed.
 */
import type { CostRule, GuardConfig } from '../../config/types.js';
import { WireError } from '../../core/errors.js';

const DEFAULT_FIELDS = ['amount_usd', 'amount'] as const;

/** The cost rule for `server.tool` (qualified name first, then the bare name). */
export function costRuleFor(config: GuardConfig, server: string, tool: string): CostRule | undefined {
  return config.policies.tools[`${server}.${tool}`]?.cost ?? config.policies.tools[tool]?.cost;
}

/** The call's amount in USD, or undefined when the call names no amount and no rule requires one. */
export function amountOf(rule: CostRule | undefined, args: unknown): number | undefined {
  if (rule?.kind === 'fixed') return rule.usd;
  const object =
    args !== null && typeof args === 'object' && !Array.isArray(args)
      ? (args as Record<string, unknown>)
      : {};
  if (rule?.kind === 'argument') {
    const value = readPath(object, rule.path);
    if (value === undefined)
      throw new WireError(
        'invalid_params',
        `Invalid params: the amount argument "${rule.path.join('.')}" is required for this tool`,
      );
    return bounded(checked(value, rule.path.join('.')) * rule.scale, rule.path.join('.'));
  }
  // Both default fields present: a backend reads one of them, and the gateway cannot know which, so
  // `{amount: 1000, amount_usd: 0}` would pass as free. Two different amounts are refused.
  const fields = DEFAULT_FIELDS.filter((field) => Object.hasOwn(object, field));
  const amounts = fields.map((field) => bounded(checked(object[field], field), field));
  if (amounts.length === 2 && amounts[0] !== amounts[1])
    throw new WireError(
      'invalid_params',
      'Invalid params: "amount_usd" and "amount" disagree; send one amount (or configure policies.tools.TOOL.cost)',
    );
  return amounts[0];
}

/** Amounts are kept as integer micro-dollars; past this they would lose precision (and no call costs it). */
const MAX_AMOUNT_USD = 1_000_000_000;

function bounded(usd: number, name: string): number {
  if (usd > MAX_AMOUNT_USD)
    throw new WireError(
      'invalid_params',
      `Invalid params: "${name}" is above the largest amount (${MAX_AMOUNT_USD} USD)`,
    );
  return usd;
}

function readPath(object: Record<string, unknown>, path: readonly string[]): unknown {
  let current: unknown = object;
  for (const key of path) {
    if (
      current === null ||
      typeof current !== 'object' ||
      Array.isArray(current) ||
      !Object.hasOwn(current, key)
    )
      return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function checked(value: unknown, name: string): number {
  if (typeof value !== 'number')
    throw new WireError(
      'invalid_params',
      `Invalid params: "${name}" must be a number, got ${value === null ? 'null' : typeof value}`,
    );
  if (!Number.isFinite(value))
    throw new WireError('invalid_params', `Invalid params: "${name}" must be a finite number`);
  if (value < 0) throw new WireError('invalid_params', `Invalid params: "${name}" must not be negative`);
  return value;
}
