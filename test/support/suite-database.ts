// A database of a suite's own, migrated to the latest schema. Merchant endpoints are global to a deployment (every
// worker listening on a database delivers to every enabled endpoint in it), so suites that add endpoints or run the
// event dispatcher get a database no other suite's workers listen on.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateToLatest } from '../../db/migrate';

export interface SuiteDatabase {
  url: string;
  drop(): Promise<void>;
}

const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function createSuiteDatabase(): Promise<SuiteDatabase> {
  const name = `orderpay_suite_${randomBytes(4).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrateToLatest(url.toString());
  return {
    url: url.toString(),
    drop: () => withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

async function withAdmin<T>(run: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await run(admin);
  } finally {
    await admin.end();
  }
}
