// One real Temporal server and one fresh PostgreSQL database for the whole run. The server is the dev server (the
// Temporal CLI's, on SQLite), or with TEST_TEMPORAL_SERVER=cluster the cluster topology's server on PostgreSQL with SQL
// visibility, as `npm start -- --cluster` and docker-compose run it (needs `npm run bootstrap -- --cluster`).
// Tests read their addresses from the environment set here (jest workers inherit it).
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { orderSearchAttributes } from '../../contracts/order.contract';
import { reconciliationSearchAttributes } from '../../contracts/reconciliation.contract';
import { migrateToLatest } from '../../db/migrate';
import { clusterTemporal, type KillableTemporal } from '../../scripts/killable-temporal';
import { findTemporalCli } from '../../scripts/temporal-cli';

declare global {
  // Shared between global setup and teardown, which run in the same context.
  var __ORDERPAY_TEST__:
    { server: TestWorkflowEnvironment | KillableTemporal; adminUrl: string; databaseName: string } | undefined;
}

const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export default async function globalSetup(): Promise<void> {
  const databaseName = `orderpay_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.end();
  const databaseUrl = new URL(adminUrl);
  databaseUrl.pathname = `/${databaseName}`;
  process.env.DATABASE_URL = databaseUrl.toString();
  await migrateToLatest(process.env.DATABASE_URL);

  if (process.env.TEST_TEMPORAL_SERVER === 'cluster') {
    const server = await clusterTemporal(adminUrl, `temporal_${databaseName}`, 'default', () => undefined);
    await server.start();
    process.env.TEMPORAL_ADDRESS = server.address;
    process.env.TEMPORAL_NAMESPACE = 'default';
    globalThis.__ORDERPAY_TEST__ = { server, adminUrl, databaseName };
    return;
  }
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      ip: '127.0.0.1',
      searchAttributes: [...Object.values(orderSearchAttributes), ...Object.values(reconciliationSearchAttributes)],
      log: { format: 'pretty', level: 'error' },
    },
  });
  process.env.TEMPORAL_ADDRESS = env.address;
  process.env.TEMPORAL_NAMESPACE = 'default';
  globalThis.__ORDERPAY_TEST__ = { server: env, adminUrl, databaseName };
}
