// ORDERPAY_BOOTSTRAP_API_KEY: a key known before anyone could run the CLI (npm start's development key, CI, container
// deployments). The API registers it at start, once; when PostgreSQL is not reachable yet it keeps trying in the
// background, so the API still starts (and answers /healthz) while the database comes up.
import { describeError, type Logger } from '../../config/logger';
import type { Pool } from '../../db/pool';
import { isDatabaseUnavailableError } from '../http/database-errors';
import { registerBootstrapApiKey } from './manage-api-keys.use-case';

const RETRY_MS = 2_000;

/** Resolves after the first attempt, so the key works from the first request whenever the database is up. */
export function registerBootstrapKeyWhenReachable(pool: Pool, key: string, logger: Logger): Promise<void> {
  const attempt = () =>
    registerBootstrapApiKey(pool, key).then(
      (registered) =>
        registered
          ? logger.info({ keyId: registered.id, prefix: registered.prefix }, 'bootstrap API key registered')
          : logger.debug('bootstrap API key already known'),
      (error: unknown) => {
        if (!isDatabaseUnavailableError(error)) {
          // Not an outage (a missing migration, a bug): retrying would only repeat it.
          logger.error({ err: describeError(error) }, 'could not register the bootstrap API key');
          return;
        }
        logger.warn({ err: describeError(error) }, 'could not register the bootstrap API key yet; retrying');
        setTimeout(() => void attempt(), RETRY_MS).unref();
      },
    );
  return attempt();
}
