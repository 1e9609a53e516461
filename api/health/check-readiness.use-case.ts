// GET /readyz: can this instance do its job right now? Each dependency gets a short, independent check, and
// the answer names the one that failed, so an operator (or a load balancer) need not guess.
import type { Client } from '@temporalio/client';
import { describeError, type Logger } from '../../config/logger';
import type { Pool } from '../../db/pool';
import { notReady } from '../http/errors';
import { pingTemporal, TEMPORAL_PROBE_TIMEOUT_MS } from '../temporal/temporal-calls';

export type DependencyCheck = 'ok' | 'unavailable';

export interface ReadinessDeps {
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export async function checkReadiness(
  deps: ReadinessDeps,
): Promise<{ status: 'ready'; checks: Record<string, DependencyCheck> }> {
  const [database, temporal] = await Promise.all([
    check(deps.logger, 'database', () => withTimeout(deps.pool.query('SELECT 1'), TEMPORAL_PROBE_TIMEOUT_MS)),
    check(deps.logger, 'temporal', () => pingTemporal(deps.temporal)),
  ]);
  const checks = { database, temporal };
  if (database !== 'ok' || temporal !== 'ok') throw notReady(checks);
  return { status: 'ready', checks };
}

async function check(logger: Logger, name: string, probe: () => Promise<unknown>): Promise<DependencyCheck> {
  try {
    await probe();
    return 'ok';
  } catch (error) {
    logger.warn({ dependency: name, err: describeError(error) }, 'readiness check failed');
    return 'unavailable';
  }
}

/** pg has no per-query timeout for a pool that is still connecting; a hung check must not hang the probe. */
async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
