import { z } from 'zod';
import { DEFAULT_DATABASE_URL, loadConfig } from '../config/env';
import { migrateToLatest } from './migrate';

const config = loadConfig(z.object({ DATABASE_URL: z.string().min(1).default(DEFAULT_DATABASE_URL) }));
migrateToLatest(config.DATABASE_URL, { info: (message) => console.log(message) }).then(
  (applied) => console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date'),
  (error: unknown) => {
    console.error('migration failed:', error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
