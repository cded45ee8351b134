import type { RuleId } from './rules.js';

/** What a check reports about one server entry, before it becomes a finding with file and line. */
export interface Issue {
  readonly rule: RuleId;
  readonly message: string;
  /** Tells two issues of one rule on one server apart (e.g. `env.GITHUB_TOKEN`); stable across runs. */
  readonly subject: string;
}
