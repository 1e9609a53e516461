// The Temporal SDK's logs through pino, so they get the same JSON shape and the same scrubbing as ours.
import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../config/logger';

/**
 * The SDK's own logs (worker state, workflow and activity logs) as JSON lines through pino. Its lifecycle chatter is
 * INFO, so below debug the SDK logs only warnings and errors.
 */
export function sdkLogger(logger: Logger, level: string): DefaultLogger {
  const sdkLevel: LogLevel = level === 'trace' ? 'TRACE' : level === 'debug' ? 'DEBUG' : 'WARN';
  const sdk = logger.child({ component: 'temporal-sdk' });
  return new DefaultLogger(sdkLevel, ({ level: entryLevel, message, meta }) => {
    const method =
      entryLevel === 'TRACE'
        ? 'trace'
        : entryLevel === 'DEBUG'
          ? 'debug'
          : entryLevel === 'INFO'
            ? 'info'
            : entryLevel === 'WARN'
              ? 'warn'
              : 'error';
    sdk[method](meta ?? {}, message);
  });
}
