import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Structured logs go to stderr only: on the stdio front, stdout carries nothing but protocol.
 * Level from MCP_GUARD_LOG_LEVEL (default info). Secrets are never passed to the logger; the
 * redact paths below are a second line of defence for header objects logged by mistake.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'mcp-guard',
      level: options.level ?? process.env['MCP_GUARD_LOG_LEVEL'] ?? 'info',
      redact: {
        paths: [
          '*.authorization',
          '*.Authorization',
          '*.headers.authorization',
          '*.headers.cookie',
          '*.token',
          '*.key',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that discards everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
