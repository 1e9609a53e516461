// Reconciliation at volume: generates a settlement file of BENCH_ROWS rows (1,000,000 by default) and a matching
// orders table in a throw-away database on the local PostgreSQL, reconciles the file the way a run does (stream
// the CSV through the parser into COPY, check duplicates and window, then the set-based classification), and
// compares that with PostgreSQL's own COPY of the same file plus one join against orders: the floor for anything
// that has to read the file and look at every order.
//
// With BENCH_REPAIRS=1 it also times the same file reconciled end to end with its repairs: uploaded again, run by
// the reconciliation workflow on a worker of its own (a Temporal dev server, the sandbox process as Stripe holding
// the late payments), until every late payment's refund workflow has refunded it and every other difference is
// flagged.
//
//   npm run build && npm run bench:reconciliation       (BENCH_ROWS, BENCH_REPAIRS, TEST_DATABASE_ADMIN_URL)
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { orderpayDataConverter, parseCodecKeys } from '../config/payload-codec';
import { SANDBOX_STRIPE_SECRET_KEY } from '../config/env';
import {
  RECONCILIATION_WORKFLOW_TYPE,
  reconciliationRunWorkflowId,
  type ReconciliationInput,
  type ReconciliationSummary,
} from '../contracts/reconciliation.contract';
import { migrateToLatest } from '../db/migrate';
import { createPool, type Pool } from '../db/pool';
import { classifySettlement, insertRunIfAbsent } from '../db/reconciliation/reconciliation.repo';
import { ingestSettlementReport } from '../db/reconciliation/settlement-reports.repo';
import { parseSettlementCsv, SETTLEMENT_CSV_COLUMNS } from '../gateways/settlement-csv';
import { createStripeGateway } from '../gateways/stripe/stripe.gateway';
import {
  type BenchProcess,
  freePort,
  memoryOf,
  sleep,
  startBenchTemporal,
  startNodeProcess,
  waitForHttp,
  waitForOutput,
} from './support/processes';

const WINDOW_START = new Date('2025-01-01T00:00:00Z');
const WINDOW_END = new Date('2025-01-02T00:00:00Z');

/** Every 200th payment belongs to an order we expired, every 300th differs in amount, every 500th is unknown. */
function shape(i: number): 'late' | 'mismatch' | 'unknown' | 'agreed' {
  if (i % 500 === 0) return 'unknown';
  if (i % 300 === 0) return 'mismatch';
  if (i % 200 === 0) return 'late';
  return 'agreed';
}

export interface ReconciliationFigures {
  rows: number;
  /** CSV parse + COPY + checks + classification. */
  orderpaySeconds: number;
  ingestSeconds: number;
  baselineSeconds: number;
  peakRssMiB: number;
  matched: number;
  baselineMatched: number;
  /** With repairs: the same file reconciled end to end by the workflow, repairs done. */
  repairs?: RepairFigures;
}

export interface RepairFigures {
  /** Upload (ingest) + the reconciliation workflow + every refund workflow it started, until all are done. */
  seconds: number;
  /** Of which the upload. */
  ingestSeconds: number;
  /** Of which the workflow until its summary (classification, repair batches). */
  workflowSeconds: number;
  /** Late payments refunded at the sandbox through refund workflows. */
  refunded: number;
  /** Differences flagged for people (amount mismatches, foreign payments). */
  flagged: number;
  /** The worker's peak RSS. */
  workerPeakRssMiB: number;
}

/** A late payment as the sandbox holds it: the order's checkout session and the payment intent it captured. */
interface SandboxPayment {
  intentId: string;
  paymentReference: string;
}

/** Generates rows settlement rows and their orders, reconciles them, and times PostgreSQL's COPY + join beside it. */
export async function benchReconciliation(
  rows: number,
  adminUrl: string,
  print: boolean,
  options: { repairs?: boolean } = {},
): Promise<ReconciliationFigures> {
  const databaseName = `orderpay_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databaseName}`);
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();
  const dir = await mkdtemp(path.join(tmpdir(), 'orderpay-bench-'));
  const file = path.join(dir, 'settlement.csv');
  const pool = createPool(databaseUrl, { max: 4, applicationName: 'orderpay-bench' });
  // The database is dropped at the end while idle connections may still be open.
  pool.on('error', () => undefined);
  const sandbox = options.repairs ? await startBenchSandbox() : undefined;
  try {
    await migrateToLatest(databaseUrl);
    if (print)
      console.log(`generating ${rows.toLocaleString('en')} settlement rows and their orders in ${databaseName}…`);
    // The late payments are real ones at the sandbox when the repairs are timed: their refunds go there.
    const late = sandbox ? await payLateOrdersAtSandbox(sandbox, rows) : new Map<number, SandboxPayment>();
    await generateFile(file, rows, late);
    await generateOrders(pool, rows, late);
    const size = (await stat(file)).size;

    let ingestSeconds = 0;
    const ours = await timed(async () => {
      const ingestStarted = process.hrtime.bigint();
      const report = await ingestSettlementReport(
        pool,
        { reportId: 'bench', gateway: 'stripe', source: 'upload', windowStart: WINDOW_START, windowEnd: WINDOW_END },
        parseSettlementCsv(createReadStream(file)),
      );
      ingestSeconds = Number(process.hrtime.bigint() - ingestStarted) / 1e9;
      await insertRunIfAbsent(pool, {
        runId: 'bench-run',
        workflowId: 'bench',
        gateway: 'stripe',
        windowStart: WINDOW_START.toISOString(),
        windowEnd: WINDOW_END.toISOString(),
      });
      const classified = await classifySettlement(pool, {
        runId: 'bench-run',
        reportId: 'bench',
        gateway: 'stripe',
        windowStart: WINDOW_START.toISOString(),
        windowEnd: WINDOW_END.toISOString(),
        lateSuccess: 'refund',
        foreignPayment: 'flag',
        unpaidLookbackMs: 7 * 86_400_000,
        edgeToleranceMs: 15 * 60_000,
        unknownPayment: 'refund',
      });
      return { rows: report.rowsAccepted, ...classified };
    });
    const items = await pool.query<{ kind: string; n: number }>(
      'SELECT kind, count(*)::int AS n FROM reconciliation_items GROUP BY kind ORDER BY kind',
    );

    const baseline = await timed(async () => {
      const client = await pool.connect();
      try {
        await client.query(
          `CREATE UNLOGGED TABLE baseline_rows (${SETTLEMENT_CSV_COLUMNS.map((c) => `${c} text`).join(', ')})`,
        );
        await pipeline(
          createReadStream(file),
          client.query(copyFrom('COPY baseline_rows FROM STDIN WITH (FORMAT csv, HEADER true)')),
        );
        const joined = await client.query<{ matched: number; differing: number }>(
          `SELECT count(*) FILTER (WHERE o.status = 'PAID' AND o.amount_minor = b.amount_minor::bigint)::int AS matched,
                  count(*) FILTER (WHERE o.order_id IS NULL OR o.status <> 'PAID'
                                      OR o.amount_minor <> b.amount_minor::bigint)::int AS differing
             FROM baseline_rows b LEFT JOIN orders o ON o.order_id = NULLIF(b.order_id, '')`,
        );
        return joined.rows[0];
      } finally {
        client.release();
      }
    });

    // Before the repairs: their worker and sandbox are other processes, but the sandbox's seeding is this one's.
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    const repairs = sandbox ? await benchRepairs(pool, databaseUrl, sandbox, file, late.size, print) : undefined;
    const figures: ReconciliationFigures = {
      rows: rows,
      orderpaySeconds: ours.seconds,
      ingestSeconds,
      baselineSeconds: baseline.seconds,
      peakRssMiB: peakRssMb,
      matched: ours.value.matched,
      baselineMatched: baseline.value?.matched ?? 0,
      ...(repairs ? { repairs } : {}),
    };
    if (!print) return figures;
    const rate = (seconds: number) => Math.round(rows / seconds).toLocaleString('en');
    console.log(`\nsettlement file: ${rows.toLocaleString('en')} rows, ${(size / 1e6).toFixed(1)} MB`);
    console.log(`found: ${items.rows.map((r) => `${r.kind}=${r.n}`).join(', ')}; matched=${ours.value.matched}`);
    console.log(`baseline join: matched=${baseline.value?.matched}, differing=${baseline.value?.differing}\n`);
    console.table([
      {
        phase: 'orderpay: CSV parse + COPY + checks + classification',
        seconds: ours.seconds.toFixed(2),
        'rows/s': rate(ours.seconds),
      },
      {
        phase: '  of which: CSV parse + COPY + checks',
        seconds: ingestSeconds.toFixed(2),
        'rows/s': rate(ingestSeconds),
      },
      {
        phase: '  of which: classification (set-based SQL)',
        seconds: (ours.seconds - ingestSeconds).toFixed(2),
        'rows/s': rate(ours.seconds - ingestSeconds),
      },
      {
        phase: 'baseline: PostgreSQL COPY + one join',
        seconds: baseline.seconds.toFixed(2),
        'rows/s': rate(baseline.seconds),
      },
      { phase: 'ratio (orderpay / baseline)', seconds: (ours.seconds / baseline.seconds).toFixed(2), 'rows/s': '' },
      { phase: 'peak RSS of this process (MB)', seconds: peakRssMb.toFixed(0), 'rows/s': '' },
      ...(repairs
        ? [
            {
              phase: `with repairs: upload + workflow + ${repairs.refunded} refund workflows, ${repairs.flagged} flagged`,
              seconds: repairs.seconds.toFixed(2),
              'rows/s': rate(repairs.seconds),
            },
            {
              phase: '  of which: upload (CSV parse + COPY + checks)',
              seconds: repairs.ingestSeconds.toFixed(2),
              'rows/s': '',
            },
            {
              phase: '  of which: workflow (classification, repair batches)',
              seconds: repairs.workflowSeconds.toFixed(2),
              'rows/s': '',
            },
            {
              phase: '  of which: the last refund workflows after the run',
              seconds: (repairs.seconds - repairs.ingestSeconds - repairs.workflowSeconds).toFixed(2),
              'rows/s': '',
            },
            {
              phase: 'ratio with repairs (orderpay / baseline)',
              seconds: (repairs.seconds / baseline.seconds).toFixed(2),
              'rows/s': '',
            },
            { phase: 'peak RSS of the worker (MB)', seconds: repairs.workerPeakRssMiB.toFixed(0), 'rows/s': '' },
          ]
        : []),
    ]);
    return figures;
  } finally {
    await sandbox?.process.stop('SIGKILL');
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
}

async function generateFile(file: string, rows: number, late: ReadonlyMap<number, SandboxPayment>): Promise<void> {
  const out = createWriteStream(file);
  out.write(`${SETTLEMENT_CSV_COLUMNS.join(',')}\n`);
  const spanMs = WINDOW_END.getTime() - WINDOW_START.getTime();
  let chunk = '';
  for (let i = 1; i <= rows; i += 1) {
    const kind = shape(i);
    const orderId = kind === 'unknown' ? '' : `ord-${i}`;
    const amount = kind === 'mismatch' ? 1_001 : 1_000;
    const at = new Date(WINDOW_START.getTime() + Math.floor((i / (rows + 1)) * spanMs)).toISOString();
    const payment = late.get(i)?.paymentReference ?? `pi_${i}`;
    chunk += `payment,${payment},${payment},${orderId},succeeded,${amount},USD,${at}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

/** The orders the file talks about, written with COPY (the unknown payments have none). */
async function generateOrders(pool: Pool, rows: number, late: ReadonlyMap<number, SandboxPayment>): Promise<void> {
  const client = await pool.connect();
  try {
    const copy = client.query(
      copyFrom(
        `COPY orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id, payment_reference,
                      captured_amount_minor, expires_at, created_at, updated_at) FROM STDIN`,
      ),
    );
    const created = new Date(WINDOW_START.getTime() + 60_000).toISOString();
    async function* lines() {
      let chunk = '';
      for (let i = 1; i <= rows; i += 1) {
        const kind = shape(i);
        if (kind === 'unknown') continue;
        const paid = kind !== 'late';
        chunk +=
          [
            `ord-${i}`,
            1_000,
            'USD',
            'stripe',
            paid ? 'PAID' : 'EXPIRED',
            'bench',
            late.get(i)?.intentId ?? `cs_${i}`,
            paid ? `pi_${i}` : '\\N',
            paid ? 1_000 : 0,
            created,
            created,
            created,
          ].join('\t') + '\n';
        if (chunk.length > 1 << 16) {
          yield chunk;
          chunk = '';
        }
      }
      yield chunk;
    }
    await pipeline(lines, copy);
    await client.query('ANALYZE orders');
  } finally {
    client.release();
  }
}

interface BenchSandbox {
  url: string;
  process: BenchProcess;
}

/** The sandbox as Stripe, a process of its own (so this process's peak RSS stays the reconciliation's). */
async function startBenchSandbox(): Promise<BenchSandbox> {
  const url = `http://127.0.0.1:${await freePort()}`;
  const sandbox = startNodeProcess('sandbox', 'sandbox/main.js', {
    SANDBOX_PORT: new URL(url).port,
    SANDBOX_PUBLIC_URL: url,
    // Nobody listens for the payments' and refunds' webhooks: the sandbox drops them (below).
    SANDBOX_WEBHOOK_URL: 'http://127.0.0.1:9/webhooks/stripe',
  });
  try {
    await waitForHttp(`${url}/_sandbox/faults`);
    await sandboxControl(url, 'faults', { webhookDropRate: 1 });
  } catch (error) {
    await sandbox.stop('SIGKILL');
    throw error;
  }
  return { url, process: sandbox };
}

async function sandboxControl<T>(url: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}/_sandbox/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`/_sandbox/${path} answered ${response.status}`);
  return (await response.json()) as T;
}

/** Every late order (shape 'late') gets a checkout session at the sandbox, paid by the payer. */
async function payLateOrdersAtSandbox(sandbox: BenchSandbox, rows: number): Promise<Map<number, SandboxPayment>> {
  const gateway = createStripeGateway({
    apiBase: sandbox.url,
    secretKey: SANDBOX_STRIPE_SECRET_KEY,
    timeoutMs: 10_000,
    publicBaseUrl: 'http://shop.bench',
  });
  const lateOrders = Array.from({ length: rows }, (_, index) => index + 1).filter((i) => shape(i) === 'late');
  const payments = new Map<number, SandboxPayment>();
  const payOne = async (i: number) => {
    const orderId = `ord-${i}`;
    const intent = await gateway.createIntent({
      orderId,
      amountMinor: 1_000,
      currency: 'USD',
      expiresAt: new Date(Date.now() + 60 * 60_000),
      idempotencyKey: orderId,
    });
    const paid = await fetch(`${intent.paymentUrl}/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'outcome=pay',
      redirect: 'manual',
    });
    if (paid.status >= 400) throw new Error(`the sandbox refused to pay ${orderId}: ${paid.status}`);
    const sessions = await sandboxControl<{ data: Array<{ payment_intent?: unknown }> }>(
      sandbox.url,
      `sessions?orderId=${orderId}`,
    );
    const paymentReference = sessions.data[0]?.payment_intent;
    if (typeof paymentReference !== 'string') throw new Error(`the sandbox has no payment for ${orderId}`);
    payments.set(i, { intentId: intent.intentId, paymentReference });
  };
  for (let at = 0; at < lateOrders.length; at += 16) await Promise.all(lateOrders.slice(at, at + 16).map(payOne));
  return payments;
}

const refundsAtSandbox = async (sandbox: BenchSandbox) =>
  (await sandboxControl<{ refundsCreated: number }>(sandbox.url, 'stats')).refundsCreated;

/**
 * The same file end to end with its repairs, on a fresh reconciliation state: uploaded (as POST
 * /admin/reconciliation/reports does), reconciled by the workflow on its own worker, until every refund workflow it
 * started has refunded its payment. Checks that each late payment was refunded at the sandbox and every other
 * difference flagged, so the figure cannot come from a run that skipped its repairs.
 */
async function benchRepairs(
  pool: Pool,
  databaseUrl: string,
  sandbox: BenchSandbox,
  file: string,
  latePayments: number,
  print: boolean,
): Promise<RepairFigures> {
  await pool.query(
    `DELETE FROM reconciliation_run_items; DELETE FROM reconciliation_findings; DELETE FROM reconciliation_items;
     DELETE FROM reconciliation_runs; DELETE FROM reconciliation_reports;`,
  );
  await pool.query('VACUUM ANALYZE reconciliation_report_rows');
  if (print) console.log('\nstarting a Temporal dev server and a worker for the repairs…');
  const temporal = await startBenchTemporal();
  const codecKeys = `bench-1:${randomBytes(32).toString('base64')}`;
  const taskQueue = `bench-recon-${randomBytes(4).toString('hex')}`;
  const worker = startNodeProcess('worker', 'worker/main.js', {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_CODEC_KEYS: codecKeys,
    PUBLIC_BASE_URL: `http://127.0.0.1:${await freePort()}`,
    STRIPE_API_BASE: sandbox.url,
    WORKER_SHUTDOWN_GRACE: '1s',
    WORKER_METRICS_PORT: '0',
    TEMPORAL_SDK_METRICS_PORT: '0',
    // Runs are started here, not by a schedule.
    RECONCILIATION_GATEWAYS: '',
    // "worker started" is an info line.
    LOG_LEVEL: 'info',
  });
  const connection = await Connection.connect({ address: temporal.address });
  try {
    await waitForOutput(worker, 'worker started');
    const client = new Client({
      connection,
      namespace: 'default',
      dataConverter: orderpayDataConverter(parseCodecKeys(codecKeys)),
    });
    const refundsBefore = await refundsAtSandbox(sandbox);
    const started = process.hrtime.bigint();
    const since = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;
    const report = { reportId: 'bench-repairs', gateway: 'stripe' as const, source: 'upload' as const };
    await ingestSettlementReport(
      pool,
      { ...report, windowStart: WINDOW_START, windowEnd: WINDOW_END },
      parseSettlementCsv(createReadStream(file)),
    );
    const ingestSeconds = since(started);
    const input: ReconciliationInput = {
      gateway: 'stripe',
      windowStart: WINDOW_START.toISOString(),
      windowEnd: WINDOW_END.toISOString(),
      reportId: report.reportId,
    };
    const workflowStarted = process.hrtime.bigint();
    const summary = await client.workflow.execute<(input: ReconciliationInput) => Promise<ReconciliationSummary>>(
      RECONCILIATION_WORKFLOW_TYPE,
      {
        taskQueue,
        workflowId: reconciliationRunWorkflowId(input.gateway, input.windowStart, input.windowEnd),
        args: [input],
      },
    );
    const workflowSeconds = since(workflowStarted);
    // The refund workflows finish on their own after the run: done when no item waits for one any more.
    for (;;) {
      const waiting = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM reconciliation_items WHERE state IN ('pending', 'in_progress')`,
      );
      if ((waiting.rows[0]?.n ?? 1) === 0) break;
      await sleep(100);
    }
    const seconds = since(started);
    const outcomes = await pool.query<{ kind: string; state: string; outcome: string; n: number }>(
      `SELECT kind, state, outcome, count(*)::int AS n FROM reconciliation_items GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    const count = (kind: string, state: string) =>
      outcomes.rows.filter((row) => row.kind === kind && row.state === state).reduce((n, row) => n + row.n, 0);
    const refunded = count('late_success', 'done');
    const flagged = count('amount_mismatch', 'flagged') + count('foreign_payment', 'flagged');
    const sandboxRefunds = (await refundsAtSandbox(sandbox)) - refundsBefore;
    const expectedFlags = (summary.newByKind.amount_mismatch ?? 0) + (summary.newByKind.foreign_payment ?? 0);
    if (refunded !== latePayments || sandboxRefunds !== latePayments || flagged !== expectedFlags) {
      throw new Error(
        `the repairs did not all happen: ${refunded} late payments done and ${sandboxRefunds} refunds at the ` +
          `sandbox for ${latePayments}, ${flagged} flagged for ${expectedFlags}; items: ` +
          JSON.stringify(outcomes.rows),
      );
    }
    if (print) {
      console.log(`run summary: ${JSON.stringify(summary.newByKind)}, matched=${summary.matched}`);
      console.log(
        `items: ${outcomes.rows.map((row) => `${row.kind}/${row.state}/${row.outcome}=${row.n}`).join(', ')}`,
      );
    }
    const workerPeakRssMiB = memoryOf(worker.pid).peakMiB;
    return { seconds, ingestSeconds, workflowSeconds, refunded, flagged, workerPeakRssMiB };
  } finally {
    await connection.close();
    await worker.stop('SIGKILL');
    await temporal.stop();
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const value = await work();
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

// `npm run bench:reconciliation` runs this file on its own and prints its table. With BENCH_JSON=1 it prints only
// its figures as one JSON line: `npm run bench` runs it that way as a child process, so the peak RSS is its own.
if (require.main === module) {
  const json = process.env.BENCH_JSON === '1';
  benchReconciliation(
    Number(process.env.BENCH_ROWS ?? 1_000_000),
    process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    !json,
    { repairs: process.env.BENCH_REPAIRS === '1' },
  ).then(
    (figures) => {
      if (json) console.log(JSON.stringify(figures));
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
