// /healthz says the process is up whatever its dependencies do; /readyz names the dependency that is missing.
import { Client } from '@temporalio/client';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal-connection';
import { apiConfigSchema } from '../../config/env';
import { createLogger } from '../../config/logger';
import { createPool, type Pool } from '../../db/pool';
import { freePort } from '../support/processes';
import { testTemporalAddress } from '../support/temporal';

const logger = createLogger('api-test', 'silent');
const config = apiConfigSchema.parse({
  DATABASE_URL: process.env.DATABASE_URL,
  TEMPORAL_ADDRESS: testTemporalAddress(),
});

const servers: RunningApiServer[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function startApi({ databaseUp, temporalUp }: { databaseUp: boolean; temporalUp: boolean }) {
  const pool: Pool = createPool(
    databaseUp ? (process.env.DATABASE_URL ?? '') : `postgres://postgres@127.0.0.1:${await freePort()}/orderpay`,
    { max: 2 },
  );
  pool.on('error', () => undefined);
  const connection = lazyTemporalConnection(temporalUp ? testTemporalAddress() : `127.0.0.1:${await freePort()}`);
  cleanups.push(
    () => connection.close(),
    () => pool.end(),
  );
  const server = await startApiServer(
    { config, pool, temporal: new Client({ connection, namespace: 'default' }), webhookVerifiers: {}, logger },
    0,
  );
  servers.push(server);
  return server;
}

async function get(server: RunningApiServer, path: string) {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, body: (await response.json()) as unknown };
}

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
  expect(await get(server, '/readyz')).toEqual({
    status: 503,
    body: {
      error: {
        code: 'not_ready',
        message: expect.any(String),
        details: { checks: { database: 'ok', temporal: 'unavailable' } },
      },
    },
  });
});

test('when PostgreSQL is down, then /healthz is 200 and /readyz names the database', async () => {
  const server = await startApi({ databaseUp: false, temporalUp: true });
  expect((await get(server, '/healthz')).status).toBe(200);
  expect(await get(server, '/readyz')).toEqual({
    status: 503,
    body: {
      error: {
        code: 'not_ready',
        message: expect.any(String),
        details: { checks: { database: 'unavailable', temporal: 'ok' } },
      },
    },
  });
});

test('when /readyz is probed while both are down, then it answers within a few seconds', async () => {
  const server = await startApi({ databaseUp: false, temporalUp: false });
  const startedAt = Date.now();
  const result = await get(server, '/readyz');
  expect(result.status).toBe(503);
  expect(Date.now() - startedAt).toBeLessThan(5_000);
});
