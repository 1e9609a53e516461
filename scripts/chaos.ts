// `npm run chaos -- [--orders N] [--seed S] [--embedded] [--api-replicas N] [--workers N]`: the chaos run of
// scripts/chaos/run.ts against the cluster topology (the Temporal server on PostgreSQL; `--embedded`: the dev server),
// printed as one table of fates, faults and violations. Exits 1 on any violation. Needs `npm run build` (npm run chaos
// builds) and a PostgreSQL it may create databases in (TEST_DATABASE_ADMIN_URL, as for the tests).
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { spawnSync } from 'node:child_process';
import { z } from 'zod';
import { projectPath } from '../config/paths';
import { formatChaosReport, runChaos } from './chaos/run';

const argumentsSchema = z.object({
  orders: z.coerce.number().int().min(1).max(100_000).default(1_000),
  seed: z.coerce.number().int().default(1),
  embedded: z.boolean().default(false),
  'api-replicas': z.coerce.number().int().min(1).max(8).default(2),
  workers: z.coerce.number().int().min(1).max(8).default(2),
  /**
   * Between two order starts: 2.5 checkouts a second, which two shared cores serve under the run's faults. At 150 ms
   * (6.7 a second, with every order polling every few seconds on the run's short TTL) a 1,000-order run outgrew the
   * machine and requests queued for minutes: that measures capacity, which is the benchmarks' business (bench/).
   */
  'spacing-ms': z.coerce.number().int().min(0).max(10_000).default(400),
});

function parseArguments(argv: readonly string[]): z.infer<typeof argumentsSchema> {
  const raw: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] ?? '';
    if (!flag.startsWith('--')) throw new Error(`unexpected argument ${flag}`);
    const name = flag.slice(2);
    if (name === 'embedded') {
      raw.embedded = true;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    raw[name] = value;
    i += 1;
  }
  const parsed = argumentsSchema.strict().safeParse(raw);
  if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => issue.message).join('; '));
  return parsed.data;
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const log = (message: string) => console.log(`[chaos] ${message}`);
  // The replay of every history at the end runs an in-process worker; its state changes are not news.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  if (!args.embedded) {
    // Provisioned as for `npm start -- --cluster`: PATH, .tools/bin, else built with Go (a no-op when present).
    const bootstrap = spawnSync(process.execPath, [projectPath('scripts', 'bootstrap.mjs'), '--cluster'], {
      stdio: 'inherit',
    });
    if (bootstrap.status !== 0) throw new Error('provisioning the Temporal server failed (its message is above)');
  }
  // Ctrl-C ends the run the way its end does: processes stopped, databases dropped. A second one leaves at once.
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(130);
    log(`${signal}: stopping the run's processes and dropping its databases (again to leave at once)`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const report = await runChaos({
    orders: args.orders,
    seed: args.seed,
    topology: args.embedded ? 'embedded' : 'cluster',
    apiReplicas: args['api-replicas'],
    workers: args.workers,
    adminUrl: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    spacingMs: args['spacing-ms'],
    log,
    signal: interrupt.signal,
  });
  console.log(formatChaosReport(report));
  if (report.violations.length > 0) {
    console.error(report.logs);
    process.exitCode = 1;
  }
}

main()
  .catch((error: unknown) => {
    console.error(`[chaos] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  })
  // A payer's request abandoned at its fate's deadline may still be retrying; the run is over.
  .finally(() => process.exit());
