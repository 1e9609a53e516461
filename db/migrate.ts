// Versioned migrations (node-pg-migrate, plain SQL files in db/migrations). Safe to run from several processes
// at once: the runner holds an advisory lock.
import { runner } from 'node-pg-migrate';
import { projectPath } from '../config/paths';

export interface MigrationLogger {
  info(message: string): void;
}

export async function migrateToLatest(
  databaseUrl: string,
  logger: MigrationLogger = { info: () => {} },
): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: projectPath('db', 'migrations'),
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    singleTransaction: true,
    log: (message: string) => logger.info(message),
  });
  return applied.map((migration) => migration.name);
}
