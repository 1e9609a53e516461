// The Temporal SDK's logs through pino, so they get the same JSON shape and the same scrubbing as ours.
import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../config/logger';

const PINO_METHODS = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const satisfies Record<LogLevel, string>;

/**
 * The SDK's own logs (worker state, workflow and activity logs) as JSON lines through pino. Its lifecycle chatter is
 * INFO, so below debug the SDK logs only warnings and errors.
 */
export function sdkLogger(logger: Logger, level: string): DefaultLogger {
  const sdkLevel: LogLevel = level === 'trace' ? 'TRACE' : level === 'debug' ? 'DEBUG' : 'WARN';
  const sdk = logger.child({ component: 'temporal-sdk' });
  return new DefaultLogger(sdkLevel, ({ level: entryLevel, message, meta }) => {
    sdk[PINO_METHODS[entryLevel]](meta ?? {}, message);
  });
}
