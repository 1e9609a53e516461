// `npm run bench`: starts what it needs (a throw-away database on the local PostgreSQL, a Temporal dev server, the
// sandbox with webhooks on, the built api and worker, the bare baselines of bench/bare) and prints one table of
// P1–P6 (issue #13), each figure beside a baseline measured in the same run.
//
//   npm run bench                          full sizes (P4: 20,000 open orders with a 15-minute TTL: takes long)
//   npm run bench -- --quick               CI-sized: every row, small numbers, about a minute
//   npm run bench -- --only P1,P3          some of the figures
//   flags for sizes: --orders --concurrency --webhook-rate --webhook-seconds --open-orders --open-ttl --rows
import { Client, Connection } from '@temporalio/client';
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { orderpayDataConverter, parseCodecKeys } from '../config/payload-codec';
import { projectPath } from '../config/paths';
import { createPool } from '../db/pool';
import { findTemporalCli } from '../scripts/temporal-cli';
import { bareCheckouts, orderpayCheckouts, type CheckoutFigures } from './scenarios/checkout.bench';
import { measureHistories, type HistoryFigures } from './scenarios/history.bench';
import { measureOpenOrders, type OpenOrdersFigures } from './scenarios/open-orders.bench';
import {
  bareSignallingWebhooks,
  bareWebhooks,
  orderpayWebhookDeliveries,
  orderpayWebhooks,
  type WebhookDeliveryFigures,
  type WebhookFigures,
} from './scenarios/webhooks.bench';
import type { ReconciliationFigures } from './reconciliation.bench';
import {
  type BenchProcess,
  createBenchDatabase,
  freePort,
  startBenchTemporal,
  startNodeProcess,
  waitForOutput,
} from './support/processes';
import {
  apiTuningFromEnvironment,
  type BenchEnvironment,
  benchEnvironment,
  startOrderpayStack,
  workerTuningFromEnvironment,
} from './support/stack';
import { formatTable, type TableRow } from './support/table';

export const FIGURES = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6'] as const;
type Figure = (typeof FIGURES)[number];

const positiveInt = z.coerce.number().int().positive();
const optionsSchema = z.object({
  quick: z.boolean().default(false),
  only: z
    .string()
    .optional()
    .transform((text) => (text ? text.split(',').map((item) => item.trim().toUpperCase()) : [...FIGURES]))
    .pipe(z.array(z.enum(FIGURES)).min(1)),
  orders: positiveInt.optional(),
  concurrency: positiveInt.optional(),
  'webhook-rate': positiveInt.optional(),
  'webhook-seconds': positiveInt.optional(),
  'open-orders': positiveInt.optional(),
  'open-ttl': z
    .string()
    .regex(/^(\d+[smhd])+$/, 'a duration such as 15m')
    .optional(),
  rows: positiveInt.optional(),
});

interface Sizes {
  orders: number;
  concurrency: number;
  webhookRate: number;
  webhookSeconds: number;
  webhookOrders: number;
  openOrders: number;
  openTtl: string;
  probeOrders: number;
  rows: number;
}

const FULL: Sizes = {
  orders: 300,
  concurrency: 10,
  webhookRate: 200,
  webhookSeconds: 15,
  webhookOrders: 50,
  openOrders: 20_000,
  openTtl: '15m',
  probeOrders: 100,
  rows: 1_000_000,
};
const QUICK: Sizes = {
  orders: 10,
  concurrency: 5,
  webhookRate: 200,
  webhookSeconds: 1,
  webhookOrders: 10,
  openOrders: 20,
  openTtl: '10s',
  probeOrders: 5,
  rows: 10_000,
};

function parseOptions(argv: string[]): { only: Figure[]; sizes: Sizes; quick: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      orders: { type: 'string' },
      concurrency: { type: 'string' },
      'webhook-rate': { type: 'string' },
      'webhook-seconds': { type: 'string' },
      'open-orders': { type: 'string' },
      'open-ttl': { type: 'string' },
      rows: { type: 'string' },
    },
    strict: true,
  });
  const options = optionsSchema.parse(values);
  const defaults = options.quick ? QUICK : FULL;
  return {
    quick: options.quick,
    only: options.only,
    sizes: {
      ...defaults,
      orders: options.orders ?? defaults.orders,
      concurrency: options.concurrency ?? defaults.concurrency,
      webhookRate: options['webhook-rate'] ?? defaults.webhookRate,
      webhookSeconds: options['webhook-seconds'] ?? defaults.webhookSeconds,
      openOrders: options['open-orders'] ?? defaults.openOrders,
      openTtl: options['open-ttl'] ?? defaults.openTtl,
      rows: options.rows ?? defaults.rows,
    },
  };
}

interface Results {
  checkout?: CheckoutFigures & { repeated503: number };
  webhooks?: {
    orderpay: WebhookFigures;
    /** After the answers: each event from storing to its signal. */
    delivery: WebhookDeliveryFigures;
    bare: WebhookFigures;
    bareSignal: WebhookFigures;
    rate: number;
  };
  openOrders?: OpenOrdersFigures;
  reconciliation?: ReconciliationFigures;
  history?: HistoryFigures;
}

const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(): Promise<void> {
  const { only, sizes, quick } = parseOptions(process.argv.slice(2));
  const wants = (figure: Figure) => only.includes(figure);
  const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const loadBefore = os.loadavg();
  const startedAt = new Date();
  const results: Results = {};
  const failures: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  // A figure that fails is reported and the others still run: a long run is not lost to one scenario.
  const attempt = async (figures: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      failures.push(`${figures}: ${error instanceof Error ? error.message : String(error)}`);
      log(`${figures} failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
  };
  try {
    if (only.some((figure) => figure !== 'P5')) {
      log('starting PostgreSQL database, Temporal dev server, sandbox, worker and api…');
      const database = await createBenchDatabase(adminUrl);
      cleanups.push(() => database.drop());
      const temporalServer = await startBenchTemporal();
      cleanups.push(() => temporalServer.stop());
      const environment = benchEnvironment(temporalServer.address, database.url);
      const pool = createPool(database.url, { max: 4, applicationName: 'orderpay-bench' });
      pool.on('error', () => undefined);
      cleanups.push(() => pool.end());
      const connection = await Connection.connect({ address: temporalServer.address });
      cleanups.push(() => connection.close());
      const client = new Client({
        connection,
        namespace: 'default',
        dataConverter: orderpayDataConverter(parseCodecKeys(environment.codecKeys)),
      });

      const bareTaskQueue = 'bench-bare';
      if (wants('P1') || wants('P2') || wants('P3') || wants('P6')) {
        const bareWorker = startNodeProcess('bare-worker', 'bench/bare/bare-worker.js', {
          TEMPORAL_ADDRESS: temporalServer.address,
          BARE_TASK_QUEUE: bareTaskQueue,
          TEMPORAL_CODEC_KEYS: environment.codecKeys,
        });
        cleanups.push(() => bareWorker.stop('SIGKILL'));
        await waitForOutput(bareWorker, 'bare worker started');
      }
      if (wants('P1') || wants('P2') || wants('P3') || wants('P6')) {
        // Stopped before P4, which measures a worker of its own on a machine with nothing else of ours running.
        const stack = await startOrderpayStack(environment);
        cleanups.push(() => stack.stop());
        if (wants('P1') || wants('P2'))
          await attempt('P1/P2', async () => {
            const load = { orders: sizes.orders, concurrency: sizes.concurrency, warmup: Math.min(20, sizes.orders) };
            const repeatedBefore = stack.api.repeated503;
            log(`P1/P2: ${load.orders} checkouts at concurrency ${load.concurrency}, bare then orderpay…`);
            const bare = await bareCheckouts(client, bareTaskQueue, load);
            const orderpay = await orderpayCheckouts(stack, pool, load);
            results.checkout = {
              orders: load.orders,
              concurrency: load.concurrency,
              orderpay,
              bare,
              repeated503: stack.api.repeated503 - repeatedBefore,
            };
          });
        if (wants('P3'))
          await attempt('P3', async () => {
            const load = {
              ratePerSecond: sizes.webhookRate,
              seconds: sizes.webhookSeconds,
              orders: sizes.webhookOrders,
            };
            log(`P3: ${load.ratePerSecond} webhooks/s for ${load.seconds} s, bare then orderpay…`);
            const bareServer = await startBareWebhookServer(database.url, environment);
            cleanups.push(() => bareServer.process.stop('SIGKILL'));
            const bare = await bareWebhooks(bareServer.url, load);
            const bareSignal = await bareSignallingWebhooks(bareServer.url, client, bareTaskQueue, load);
            const orderpay = await orderpayWebhooks(stack, load);
            log('P3: waiting for every webhook to be delivered…');
            const delivery = await orderpayWebhookDeliveries(pool, orderpay.eventIdPrefix);
            results.webhooks = { orderpay, delivery, bare, bareSignal, rate: load.ratePerSecond };
          });
        if (wants('P6'))
          await attempt('P6', async () => {
            log('P6: one order of each path, read from its closed history…');
            results.history = await measureHistories(stack, pool, client, bareTaskQueue);
          });
        await stack.stop();
      }
      if (wants('P4'))
        await attempt('P4', async () => {
          log(`P4: ${sizes.openOrders} open orders, TTL ${sizes.openTtl}, on a worker of its own…`);
          results.openOrders = await measureOpenOrders(
            environment,
            pool,
            temporalServer.pid,
            {
              orders: sizes.openOrders,
              ttl: sizes.openTtl,
              concurrency: sizes.concurrency,
              probeOrders: sizes.probeOrders,
            },
            log,
          );
        });
    }
    if (wants('P5'))
      await attempt('P5', async () => {
        log(`P5: reconciliation of ${sizes.rows} rows in a process of its own…`);
        results.reconciliation = await runReconciliation(sizes.rows, adminUrl);
      });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
  const loadAfter = os.loadavg();
  console.log(header(startedAt, quick, loadBefore, loadAfter));
  console.log(formatTable(rowsOf(results)));
  if (failures.length > 0) {
    console.log(`\nnot measured (failed):\n${failures.map((failure) => `- ${failure}`).join('\n')}`);
    process.exitCode = 1;
  }
}

async function startBareWebhookServer(
  databaseUrl: string,
  environment: BenchEnvironment,
): Promise<{ url: string; process: BenchProcess }> {
  const port = await freePort();
  const server = startNodeProcess('bare-webhook', 'bench/bare/bare-webhook-server.js', {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    TEMPORAL_ADDRESS: environment.temporalAddress,
    TEMPORAL_CODEC_KEYS: environment.codecKeys,
  });
  await waitForOutput(server, 'bare webhook server listening');
  return { url: `http://127.0.0.1:${port}`, process: server };
}

function runReconciliation(rows: number, adminUrl: string): Promise<ReconciliationFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [projectPath('dist', 'bench', 'reconciliation.bench.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        BENCH_JSON: '1',
        BENCH_ROWS: String(rows),
        // The second P5 figure: the same file with its repairs, on a Temporal dev server and worker of its own.
        BENCH_REPAIRS: '1',
        TEST_DATABASE_ADMIN_URL: adminUrl,
        ...(process.env.TEMPORAL_CLI_PATH ? { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH } : {}),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the reconciliation bench exited with ${code}`));
      const line = output.trim().split('\n').at(-1) ?? '';
      resolve(JSON.parse(line) as ReconciliationFigures);
    });
  });
}

function header(startedAt: Date, quick: boolean, loadBefore: number[], loadAfter: number[]): string {
  const cpus = os.cpus();
  let temporalVersion = 'unknown';
  try {
    temporalVersion = execFileSync(findTemporalCli(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ');
  return [
    '',
    `orderpay bench, ${startedAt.toISOString()}${quick ? ' (--quick: CI sizes, not figures to quote)' : ''}`,
    `command: npm run bench -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
    `machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `node ${process.version}; ${temporalVersion}`,
    `load average (1/5/15 min): ${load(loadBefore)} at start, ${load(loadAfter)} at the end`,
    `worker tuning: ${JSON.stringify(workerTuningFromEnvironment())} (empty: the SDK's defaults)`,
    `API webhook delivery tuning: ${JSON.stringify(apiTuningFromEnvironment())} (empty: the defaults)`,
    '',
  ].join('\n');
}

const ms = (value: number) => `${value.toFixed(0)} ms`;
const ratio = (value: number) => `${value.toFixed(2)}×`;

/** The table's rows; a figure not run is absent, one that ran always has numbers. */
export function rowsOf(results: Results): TableRow[] {
  const rows: TableRow[] = [];
  const { checkout, webhooks, openOrders, reconciliation, history } = results;
  if (checkout) {
    const repeats = checkout.repeated503 > 0 ? `, ${checkout.repeated503} checkouts repeated after a 503` : '';
    const at = `${checkout.orders} orders, concurrency ${checkout.concurrency}${repeats}`;
    const throughput = checkout.orderpay.ordersPerSecond / checkout.bare.ordersPerSecond;
    rows.push({
      id: 'P1',
      figure: `checkout→PAID orders/s (${at})`,
      orderpay: checkout.orderpay.ordersPerSecond.toFixed(2),
      baseline: `${checkout.bare.ordersPerSecond.toFixed(2)} bare workflow`,
      ratio: ratio(throughput),
      goal: '≥ 0.8×',
      met: throughput >= 0.8,
    });
    const p99 = checkout.orderpay.checkoutP99Ms / checkout.bare.checkoutP99Ms;
    rows.push({
      id: 'P2',
      figure: `POST /orders p50 (${at})`,
      orderpay: ms(checkout.orderpay.checkoutP50Ms),
      baseline: `${ms(checkout.bare.checkoutP50Ms)} bare update-with-start`,
      ratio: ratio(checkout.orderpay.checkoutP50Ms / checkout.bare.checkoutP50Ms),
      goal: '',
    });
    rows.push({
      id: 'P2',
      figure: `POST /orders p99 (${at})`,
      orderpay: ms(checkout.orderpay.checkoutP99Ms),
      baseline: `${ms(checkout.bare.checkoutP99Ms)} bare update-with-start`,
      ratio: ratio(p99),
      goal: '≤ 1.3×',
      met: p99 <= 1.3,
    });
  }
  if (webhooks) {
    const at = `${webhooks.rate}/s, ${webhooks.orderpay.requests} requests`;
    rows.push({
      id: 'P3',
      figure: `webhook ack p50 (${at})`,
      orderpay: ms(webhooks.orderpay.p50Ms),
      baseline: `${ms(webhooks.bare.p50Ms)} Express + one INSERT`,
      ratio: ratio(webhooks.orderpay.p50Ms / webhooks.bare.p50Ms),
      goal: '',
    });
    const p99 = webhooks.orderpay.p99Ms / webhooks.bare.p99Ms;
    rows.push({
      id: 'P3',
      figure: `webhook ack p99 (${at}; answers ${webhooks.orderpay.statuses})`,
      orderpay: ms(webhooks.orderpay.p99Ms),
      baseline: `${ms(webhooks.bare.p99Ms)} Express + one INSERT (${webhooks.bare.statuses})`,
      ratio: ratio(p99),
      goal: '≤ 2×',
      met: p99 <= 2,
    });
    rows.push({
      id: 'P3',
      figure: 'webhook ack p99 against a handler that also signals a workflow',
      orderpay: ms(webhooks.orderpay.p99Ms),
      baseline: `${ms(webhooks.bareSignal.p99Ms)} Express + INSERT + signal (${webhooks.bareSignal.statuses})`,
      ratio: ratio(webhooks.orderpay.p99Ms / webhooks.bareSignal.p99Ms),
      goal: '',
    });
    const { delivery } = webhooks;
    rows.push({
      id: 'P3',
      figure:
        `webhook delivery after the answer, p99 stored → signalled or closed as the same payment (p50 ` +
        `${ms(delivery.lagP50Ms)}; ${delivery.delivered} signalled, ${delivery.ignored} closed, ` +
        `${delivery.undelivered} not; last ${ms(delivery.drainedAfterMs)} after the load)`,
      orderpay: ms(delivery.lagP99Ms),
      baseline: `${ms(webhooks.bareSignal.p99Ms)} Express + INSERT + signal, answered after the signal`,
      ratio: ratio(delivery.lagP99Ms / webhooks.bareSignal.p99Ms),
      goal: 'reported',
    });
    rows.push({
      id: 'P3',
      figure:
        `webhook to PAID, p99 stored → the order's PAID transition (p50 ${ms(delivery.paidLagP50Ms)}; ` +
        `${delivery.paid} of ${delivery.delivered} signalled orders PAID; last ${ms(delivery.paidAfterMs)} after the load)`,
      orderpay: ms(delivery.paidLagP99Ms),
      baseline: `${ms(webhooks.bareSignal.p99Ms)} Express + INSERT + signal, answered after the signal`,
      ratio: ratio(delivery.paidLagP99Ms / webhooks.bareSignal.p99Ms),
      goal: 'reported',
    });
  }
  if (openOrders) {
    const o = openOrders;
    const at = `${o.orders} opened, at most ${o.peakOpen} open at once, TTL ${o.ttl}`;
    const perOrderKiB = ((o.workerRssPeakMiB - o.workerRssIdleMiB) * 1024) / o.orders;
    rows.push({
      id: 'P4',
      figure: `worker RSS, peak (${at})`,
      orderpay: `${o.workerRssPeakMiB.toFixed(0)} MiB`,
      baseline: `${o.workerRssIdleMiB.toFixed(0)} MiB with none open (${perOrderKiB.toFixed(0)} KiB per open order)`,
      ratio: '',
      goal: '≤ 512 MiB',
      met: o.workerRssPeakMiB <= 512,
    });
    rows.push({
      id: 'P4',
      figure: `expiry lateness p99 (${at}; ${o.expired} of ${o.orders} expired)`,
      orderpay: `${o.expiryLatenessP99S.toFixed(1)} s`,
      baseline: `p50 ${o.expiryLatenessP50S.toFixed(1)} s, max ${o.expiryLatenessMaxS.toFixed(1)} s`,
      ratio: '',
      goal: '≤ 10 s, all expired',
      met: o.expiryLatenessP99S <= 10 && o.expired === o.orders,
    });
    const throughput = o.throughputAllOpen / o.throughputNoneOpen;
    rows.push({
      id: 'P4',
      figure: `checkout→PAID orders/s with ${o.orders} open`,
      orderpay: o.throughputAllOpen.toFixed(2),
      baseline: `${o.throughputNoneOpen.toFixed(2)} with none open`,
      ratio: ratio(throughput),
      goal: '≥ 0.8×',
      met: throughput >= 0.8,
    });
    rows.push({
      id: 'P4',
      figure: `time to open ${o.orders} orders (${o.repeated503} checkouts repeated after a 503, ${o.unanswered} still 503 after a minute)`,
      orderpay: `${o.secondsToOpen.toFixed(0)} s`,
      baseline: `${(o.orders / o.secondsToOpen).toFixed(1)} orders/s`,
      ratio: '',
      goal: 'reported',
    });
    rows.push({
      id: 'P4',
      figure: 'Temporal server CPU while they wait (% of one core)',
      orderpay: `${o.serverCpuOpenPercent.toFixed(0)} %`,
      baseline: `${o.serverCpuIdlePercent.toFixed(0)} % with none open`,
      ratio: '',
      goal: 'reported',
    });
  }
  if (reconciliation) {
    const r = reconciliation;
    const ingestRatio = r.orderpaySeconds / r.baselineSeconds;
    rows.push({
      id: 'P5',
      figure: `reconciliation of ${r.rows.toLocaleString('en')} rows (parse, COPY, checks, classification)`,
      orderpay: `${r.orderpaySeconds.toFixed(2)} s`,
      baseline: `${r.baselineSeconds.toFixed(2)} s COPY + join`,
      ratio: ratio(ingestRatio),
      goal: '≤ 2×',
      met: ingestRatio <= 2,
    });
    if (r.repairs) {
      const p = r.repairs;
      rows.push({
        id: 'P5',
        figure: `the same file with its repairs: upload, workflow, ${p.refunded} refund workflows, ${p.flagged} flagged (worker peak RSS ${p.workerPeakRssMiB.toFixed(0)} MiB)`,
        orderpay: `${p.seconds.toFixed(2)} s`,
        baseline: `${r.baselineSeconds.toFixed(2)} s COPY + join`,
        ratio: ratio(p.seconds / r.baselineSeconds),
        goal: 'reported',
      });
    }
    rows.push({
      id: 'P5',
      figure: 'peak RSS of the reconciliation process',
      orderpay: `${r.peakRssMiB.toFixed(0)} MiB`,
      baseline: '',
      ratio: '',
      goal: '≤ 256 MiB',
      met: r.peakRssMiB <= 256,
    });
  }
  if (history) {
    const h = history;
    const bare = `${h.bare.events} events, ${h.bare.billableActions} actions (bare workflow)`;
    const path = (figure: string, count: { events: number; billableActions: number }, goal = '', limit?: number) =>
      rows.push({
        id: 'P6',
        figure,
        orderpay: `${count.events} events, ${count.billableActions} actions`,
        baseline: bare,
        ratio: ratio(count.events / h.bare.events),
        goal,
        ...(limit === undefined ? {} : { met: count.events <= limit }),
      });
    path('history: paid by webhook', h.paidByWebhook, '≤ 25 events', 25);
    path(`history: paid by poll (paid before the first poll)`, h.paidByPoll);
    path('history: refunded in full after a webhook payment', h.refunded);
    const extrapolated = `${h.expired30m.eventsPerPoll.toFixed(1)} events per poll, from ${h.expiredShortBase.events} and ${h.expiredShortMany.events} events measured at 5 s and 6 s TTLs`;
    path(
      `history: expired, 30-minute TTL, Stripe's default cadence 15m (${h.expired30m.periodicPolls} periodic polls × ${extrapolated})`,
      h.expired30m,
      '≤ 60 events',
      60,
    );
    path(
      `history: expired, 30-minute TTL, GATEWAY_POLL_CADENCE='' (POLL_* defaults: ${h.expired30mPollDefaults.periodicPolls} periodic polls)`,
      h.expired30mPollDefaults,
    );
    path(
      `history: expired, 30-minute TTL, POLL_* defaults, a gateway that cannot close its intents (eSewa, Khalti: ${h.expired30mWithGracePolls.periodicPolls} periodic polls, grace polls included)`,
      h.expired30mWithGracePolls,
    );
  }
  return rows;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
