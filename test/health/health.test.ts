// /healthz says the process is up whatever its dependencies do; /readyz names the dependency that is missing.
import { Client } from '@temporalio/client';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal/temporal-connection';
import { createPool, type Pool } from '../../db/pool';
import {
  apiTestConfig,
  apiTestLogger,
  apiTestMetrics,
  http,
  unreachableDatabaseUrl,
  unreachableTemporalAddress,
} from '../support/api-harness';
import { testTemporalAddress } from '../support/temporal';

const config = apiTestConfig();

const servers: RunningApiServer[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function startApi({ databaseUp, temporalUp }: { databaseUp: boolean; temporalUp: boolean }) {
  const databaseUrl = databaseUp ? (process.env.DATABASE_URL ?? '') : await unreachableDatabaseUrl();
  const pool: Pool = createPool(databaseUrl, { max: 2 });
  pool.on('error', () => undefined);
  const connection = lazyTemporalConnection(temporalUp ? testTemporalAddress() : await unreachableTemporalAddress());
  cleanups.push(
    () => connection.close(),
    () => pool.end(),
  );
  const server = await startApiServer(
    {
      config,
      pool,
      temporal: new Client({ connection, namespace: 'default' }),
      webhookVerifiers: {},
      logger: apiTestLogger,
      metrics: apiTestMetrics(pool),
    },
    0,
  );
  servers.push(server);
  return server;
}

async function get(server: RunningApiServer, path: string) {
  const { status, body } = await http(server.url, 'GET', path);
  return { status, body: body as unknown };
}

/** The answer of /readyz when a dependency is missing; checks name each one. */
const notReady = (checks: { database: string; temporal: string }) => ({
  status: 503,
  body: { error: { code: 'not_ready', message: expect.any(String), details: { checks } } },
});

afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const cleanup of cleanups) await cleanup();
});

test('when every dependency is up, then /healthz and /readyz answer 200', async () => {
  const server = await startApi({ databaseUp: true, temporalUp: true });
  expect(await get(server, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  expect(await get(server, '/readyz')).toEqual({
    status: 200,
    body: { status: 'ready', checks: { database: 'ok', temporal: 'ok' } },
  });
});

test('when Temporal is down, then the API still starts and is live, and /readyz names Temporal', async () => {
  const server = await startApi({ databaseUp: true, temporalUp: false });
  expect(await get(server, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  expect(await get(server, '/readyz')).toEqual(notReady({ database: 'ok', temporal: 'unavailable' }));
});

test('when PostgreSQL is down, then /healthz is 200 and /readyz names the database', async () => {
  const server = await startApi({ databaseUp: false, temporalUp: true });
  expect((await get(server, '/healthz')).status).toBe(200);
  expect(await get(server, '/readyz')).toEqual(notReady({ database: 'unavailable', temporal: 'ok' }));
});

test('when /readyz is probed while both are down, then it answers within a few seconds', async () => {
  const server = await startApi({ databaseUp: false, temporalUp: false });
  const startedAt = Date.now();
  const result = await get(server, '/readyz');
  expect(result.status).toBe(503);
  expect(Date.now() - startedAt).toBeLessThan(5_000);
});
