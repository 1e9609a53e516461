// One real Temporal dev server and one fresh PostgreSQL database for the whole run.
// Tests read their addresses from the environment set here (jest workers inherit it).
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { orderSearchAttributes } from '../../contracts/order.contract';
import { reconciliationSearchAttributes } from '../../contracts/reconciliation.contract';
import { migrateToLatest } from '../../db/migrate';
import { findTemporalCli } from '../../scripts/temporal-cli';

declare global {
  // Shared between global setup and teardown, which run in the same context.
  var __ORDERPAY_TEST__: { env: TestWorkflowEnvironment; adminUrl: string; databaseName: string } | undefined;
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
  globalThis.__ORDERPAY_TEST__ = { env, adminUrl, databaseName };
}
