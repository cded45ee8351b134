/** A `${VAR}` that is unset and has no `:-default`: the config must not load with a literal placeholder. */
export class UnsetVariableError extends Error {
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is not set (use \${${variable}:-default} for a default)`);
    this.name = 'UnsetVariableError';
  }
}

// `$${…}` escapes a literal `${…}`; names follow the POSIX shell rule.
const PLACEHOLDER = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Expands `${VAR}` and `${VAR:-default}` from `env`. An unset variable without a default throws
 * UnsetVariableError (never a literal secret); an empty value counts as set, as in the shell's `${VAR-…}`
 * only when no default is given: `${VAR:-x}` uses `x` for an unset *or empty* variable, like the shell.
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv): string {
  if (!text.includes('${')) return text;
  return text.replace(PLACEHOLDER, (whole, escaped: string | undefined, name: string, fallback?: string) => {
    if (escaped) return whole.slice(1);
    const value = env[name];
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
    if (value === undefined) throw new UnsetVariableError(name);
    return value;
  });
}
