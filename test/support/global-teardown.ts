import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const shared = globalThis.__ORDERPAY_TEST__;
  if (!shared) return;
  await shared.env.teardown();
  if (process.env.KEEP_TEST_DATABASE) return;
  const admin = new pg.Client({ connectionString: shared.adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${shared.databaseName} WITH (FORCE)`);
  await admin.end();
}
