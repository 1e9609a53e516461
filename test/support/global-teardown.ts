import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const shared = globalThis.__ORDERPAY_TEST__;
  if (!shared) return;
  // The cluster server's clean-up also drops its own databases.
  await ('teardown' in shared.server ? shared.server.teardown() : shared.server.cleanUp());
  if (process.env.KEEP_TEST_DATABASE) return;
  const admin = new pg.Client({ connectionString: shared.adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${shared.databaseName} WITH (FORCE)`);
  await admin.end();
}
