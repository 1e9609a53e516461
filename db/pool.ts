import pg from 'pg';

// bigint columns (money in minor units) come back as strings by default; our amounts are far below 2^53,
// and the zod schemas at the edges reject anything larger, so parse them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (text) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`bigint ${text} exceeds the safe integer range`);
  return value;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(
  databaseUrl: string,
  options: { max?: number; applicationName?: string; onClientError?: (error: Error) => void } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'orderpay',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An `error` event without a listener kills the process. pg emits one on an idle client when the server drops it,
  // and on a checked-out client after a failed protocol exchange (an aborted COPY FROM STDIN answers with an
  // ErrorResponse that nobody awaits). The failing query already rejected to its caller, who answers the request;
  // the broken connection is discarded by pg on release. Here the event is only reported.
  const onError = options.onClientError ?? (() => undefined);
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/** Runs `work` in a transaction, rolling back on any error. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
