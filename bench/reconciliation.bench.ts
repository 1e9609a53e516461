// Reconciliation at volume: generates a settlement file of BENCH_ROWS rows (1,000,000 by default) and a matching
// orders table in a throw-away database on the local PostgreSQL, reconciles the file the way a run does (stream
// the CSV through the parser into COPY, check duplicates and window, then the set-based classification), and
// compares that with PostgreSQL's own COPY of the same file plus one join against orders: the floor for anything
// that has to read the file and look at every order.
//
//   npm run build && npm run bench:reconciliation       (BENCH_ROWS, TEST_DATABASE_ADMIN_URL to change)
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { migrateToLatest } from '../db/migrate';
import { createPool, type Pool } from '../db/pool';
import { classifySettlement, insertRunIfAbsent } from '../db/reconciliation/reconciliation.repo';
import { ingestSettlementReport } from '../db/reconciliation/settlement-reports.repo';
import { parseSettlementCsv, SETTLEMENT_CSV_COLUMNS } from '../gateways/settlement-csv';

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
}

/** Generates rows settlement rows and their orders, reconciles them, and times PostgreSQL's COPY + join beside it. */
export async function benchReconciliation(
  rows: number,
  adminUrl: string,
  print: boolean,
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
  try {
    await migrateToLatest(databaseUrl);
    if (print)
      console.log(`generating ${rows.toLocaleString('en')} settlement rows and their orders in ${databaseName}…`);
    await generateFile(file, rows);
    await generateOrders(pool, rows);
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

    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    const figures: ReconciliationFigures = {
      rows: rows,
      orderpaySeconds: ours.seconds,
      ingestSeconds,
      baselineSeconds: baseline.seconds,
      peakRssMiB: peakRssMb,
      matched: ours.value.matched,
      baselineMatched: baseline.value?.matched ?? 0,
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
    ]);
    return figures;
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
}

async function generateFile(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(`${SETTLEMENT_CSV_COLUMNS.join(',')}\n`);
  const spanMs = WINDOW_END.getTime() - WINDOW_START.getTime();
  let chunk = '';
  for (let i = 1; i <= rows; i += 1) {
    const kind = shape(i);
    const orderId = kind === 'unknown' ? '' : `ord-${i}`;
    const amount = kind === 'mismatch' ? 1_001 : 1_000;
    const at = new Date(WINDOW_START.getTime() + Math.floor((i / (rows + 1)) * spanMs)).toISOString();
    chunk += `payment,pi_${i},pi_${i},${orderId},succeeded,${amount},USD,${at}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

/** The orders the file talks about, written with COPY (the unknown payments have none). */
async function generateOrders(pool: Pool, rows: number): Promise<void> {
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
            `cs_${i}`,
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
