// Settlement report storage against the real PostgreSQL: a report's rows are checked against their report once per
// statement (the trigger that replaced a per-row foreign key), an ingest keeps every line, rejected or not, and
// classification resolves rows to orders by order ID or, when a row has none, by payment reference.
import { Readable } from 'node:stream';
import { createPool, type Pool } from '../../db/pool';
import { classifySettlement, insertRunIfAbsent } from '../../db/reconciliation/reconciliation.repo';
import {
  ingestSettlementReport,
  listReportErrors,
  type ReportLine,
} from '../../db/reconciliation/settlement-reports.repo';
import { parseSettlementCsv, SETTLEMENT_CSV_COLUMNS } from '../../gateways/settlement-csv';
import { uniqueId } from '../support/temporal';

let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.DATABASE_URL as string, { max: 2, applicationName: 'settlement-reports-test' });
});

afterAll(async () => {
  await pool.end();
});

const window = { windowStart: new Date('2031-03-01T00:00:00Z'), windowEnd: new Date('2031-03-02T00:00:00Z') };

async function ingest(reportId: string, csv: string, replace = false) {
  return ingestSettlementReport(
    pool,
    { reportId, gateway: 'stripe', source: 'upload', ...window },
    parseSettlementCsv(Readable.from([Buffer.from(csv)])),
    { replace },
  );
}

async function rowCount(reportId: string): Promise<number> {
  const result = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM reconciliation_report_rows WHERE report_id = $1',
    [reportId],
  );
  return result.rows[0]?.n ?? -1;
}

describe('storing a settlement report', () => {
  test('when rows name a report that does not exist, then the insert is refused as a foreign key violation', async () => {
    const reportId = uniqueId('no-such-report');
    await expect(
      pool.query('INSERT INTO reconciliation_report_rows (report_id, line_no) VALUES ($1, 1)', [reportId]),
    ).rejects.toMatchObject({ code: '23503' });
    await expect(rowCount(reportId)).resolves.toBe(0);
  });

  test('when a report is deleted or ingested again with replace, then its old rows go with it', async () => {
    const reportId = uniqueId('report');
    const line = (n: number) => `payment,pay_${n},,,succeeded,100,NPR,2031-03-01T0${n}:00:00Z`;
    await ingest(reportId, [SETTLEMENT_CSV_COLUMNS.join(','), line(1), line(2), line(3)].join('\n'));
    await expect(rowCount(reportId)).resolves.toBe(3);

    await ingest(reportId, [SETTLEMENT_CSV_COLUMNS.join(','), line(4)].join('\n'), true);
    await expect(rowCount(reportId)).resolves.toBe(1);

    await pool.query('DELETE FROM reconciliation_reports WHERE report_id = $1', [reportId]);
    await expect(rowCount(reportId)).resolves.toBe(0);
  });

  test('when a report ID would change under its rows, then the update is refused', async () => {
    const reportId = uniqueId('report');
    await ingest(
      reportId,
      `${SETTLEMENT_CSV_COLUMNS.join(',')}\npayment,pay_1,,,succeeded,100,NPR,2031-03-01T01:00:00Z\n`,
    );
    await expect(
      pool.query('UPDATE reconciliation_reports SET report_id = $2 WHERE report_id = $1', [reportId, `${reportId}-x`]),
    ).rejects.toMatchObject({ code: '23503' });
    await expect(
      pool.query('UPDATE reconciliation_report_rows SET report_id = $2 WHERE report_id = $1', [
        reportId,
        `${reportId}-x`,
      ]),
    ).rejects.toMatchObject({ code: '23503' });
  });

  test('when quoted, malformed, duplicate and out-of-window lines are mixed with plain ones, then each is stored with its line', async () => {
    const reportId = uniqueId('report');
    const csv = [
      SETTLEMENT_CSV_COLUMNS.join(','),
      'payment,pay_1,,,succeeded,100,NPR,2031-03-01T01:00:00Z', // 2: good
      '"payment","pay,2",,,succeeded,100,NPR,2031-03-01T06:00:00+05:45', // 3: good, quoted, comma in the ID
      'payment,pay_1,,,succeeded,100,NPR,2031-03-01T02:00:00Z', // 4: duplicate of 2
      'payment,pay_3,,,succeeded,12.5,NPR,2031-03-01T02:00:00Z', // 5: malformed amount
      '', // 6: empty, skipped
      'payment,pay_4,,,succeeded,100,NPR,2031-04-01T00:00:00Z', // 7: out of window
      'payment,"pay_5"x,,,succeeded,100,NPR,2031-03-01T02:00:00Z', // 8: broken quote
    ].join('\r\n');
    const summary = await ingest(reportId, csv);
    expect(summary).toMatchObject({ rowsTotal: 6, rowsAccepted: 2, rowsRejected: 4 });
    const errors = await listReportErrors(pool, reportId, 10);
    expect(errors.map((e) => [e.lineNo, e.code])).toEqual([
      [4, 'duplicate'],
      [5, 'malformed'],
      [7, 'out_of_window'],
      [8, 'malformed'],
    ]);
    const stored = await pool.query<{ line_no: number; transaction_id: string | null; occurred_at: Date | null }>(
      'SELECT line_no, transaction_id, occurred_at FROM reconciliation_report_rows WHERE report_id = $1 ORDER BY line_no',
      [reportId],
    );
    expect(stored.rows.find((r) => r.line_no === 3)).toEqual({
      line_no: 3,
      transaction_id: 'pay,2',
      occurred_at: new Date('2031-03-01T00:15:00Z'),
    });
  });
});

describe('checking a report while it streams', () => {
  async function ingestRows(reportId: string, rows: Array<{ id: string; at: string; kind?: 'payment' | 'refund' }>) {
    async function* lines(): AsyncIterable<ReportLine[]> {
      yield rows.map(({ id, at, kind = 'payment' }, index) => ({
        lineNo: index + 2,
        row: {
          kind,
          transactionId: id,
          paymentId: id,
          status: 'succeeded',
          amountMinor: 100,
          currency: 'NPR',
          occurredAt: at,
        },
      }));
    }
    return ingestSettlementReport(pool, { reportId, gateway: 'stripe', source: 'api', ...window }, lines());
  }

  async function errorsOf(reportId: string) {
    const result = await pool.query<{ line_no: number; error_code: string; error_message: string }>(
      `SELECT line_no, error_code, error_message FROM reconciliation_report_rows
        WHERE report_id = $1 AND error_code IS NOT NULL ORDER BY line_no`,
      [reportId],
    );
    return result.rows.map((r) => [r.line_no, r.error_code, r.error_message]);
  }

  test('when rows outside the window come in UTC and with an offset, then both are rejected with the same message', async () => {
    const reportId = uniqueId('report');
    const summary = await ingestRows(reportId, [
      { id: 'pay_1', at: '2031-03-01T01:00:00.000Z' }, // 2: inside
      { id: 'pay_2', at: '2031-03-02T00:00:00.000Z' }, // 3: the window's end, outside (decided while streaming)
      { id: 'pay_3', at: '2031-03-02T05:45:00+05:45' }, // 4: the same instant with an offset (decided by SQL)
      { id: 'pay_4', at: '2031-03-01T05:45:00+05:45' }, // 5: the window's start with an offset, inside
    ]);
    expect(summary).toMatchObject({ rowsTotal: 4, rowsAccepted: 2, rowsRejected: 2 });
    const errors = await errorsOf(reportId);
    expect(errors.map(([line, code]) => [line, code])).toEqual([
      [3, 'out_of_window'],
      [4, 'out_of_window'],
    ]);
    expect(errors[0]?.[2]).toMatch(/^occurred_at is outside the report window \[2031-03-01 .+, 2031-03-02 .+\)$/);
    expect(errors[1]?.[2]).toBe(errors[0]?.[2]);
  });

  test('when a transaction ID repeats only outside the window, or as another kind, then no line is a duplicate', async () => {
    const reportId = uniqueId('report');
    const summary = await ingestRows(reportId, [
      { id: 'pay_1', at: '2031-04-01T00:00:00.000Z' }, // 2: outside
      { id: 'pay_1', at: '2031-03-01T01:00:00.000Z' }, // 3: first in the window
      { id: 'pay_1', at: '2031-03-01T02:00:00.000Z', kind: 'refund' }, // 4: a refund with the same ID
      { id: 'pay_1', at: '2031-03-01T03:00:00.000Z' }, // 5: duplicate of 3
    ]);
    expect(summary).toMatchObject({ rowsTotal: 4, rowsAccepted: 2, rowsRejected: 2 });
    await expect(errorsOf(reportId)).resolves.toEqual([
      [2, 'out_of_window', expect.stringMatching(/^occurred_at is outside/)],
      [5, 'duplicate', 'same kind and transaction_id as line 3'],
    ]);
  });
});

describe('classifying a settlement report', () => {
  test('when rows carry no order ID, then they are matched by payment reference; paid orders without a row get a lookup', async () => {
    // A window of its own: the lookup step looks at every order of the gateway created in it.
    const start = new Date('2032-07-14T00:00:00Z');
    const end = new Date('2032-07-15T00:00:00Z');
    const created = new Date('2032-07-14T01:00:00Z');
    const id = uniqueId('classify');
    const order = (suffix: string, status: string, amountMinor: number, paymentReference: string | null) =>
      pool.query(
        `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id,
                             payment_reference, captured_amount_minor, expires_at, created_at, updated_at)
         VALUES ($1, $2, 'USD', 'stripe', $3, 'seeded', $4, $5, $6, $7, $7, $7)`,
        [
          `${id}-${suffix}`,
          amountMinor,
          status,
          `cs_${id}-${suffix}`,
          paymentReference,
          status === 'PAID' ? amountMinor : 0,
          created,
        ],
      );
    await order('by-ref', 'PAID', 1_000, `pay_${id}_a`);
    await order('by-ref-differs', 'PAID', 1_000, `pay_${id}_b`);
    await order('by-id', 'PAID', 1_000, `pay_${id}_c`);
    await order('not-in-report', 'PAID', 1_000, `pay_${id}_d`);
    const at = '2032-07-14T02:00:00Z';
    const reportId = uniqueId('report');
    await ingestSettlementReport(
      pool,
      { reportId, gateway: 'stripe', source: 'upload', windowStart: start, windowEnd: end },
      parseSettlementCsv(
        Readable.from([
          [
            SETTLEMENT_CSV_COLUMNS.join(','),
            `payment,pay_${id}_a,,,succeeded,1000,USD,${at}`,
            `payment,pay_${id}_b,,,succeeded,1500,USD,${at}`,
            `payment,pay_${id}_c,,${id}-by-id,succeeded,1000,USD,${at}`,
            `payment,pay_${id}_x,,,succeeded,300,USD,${at}`,
          ].join('\n'),
        ]),
      ),
    );
    const runId = uniqueId('run');
    const window = { windowStart: start.toISOString(), windowEnd: end.toISOString() };
    await insertRunIfAbsent(pool, { runId, workflowId: runId, gateway: 'stripe', ...window });

    const result = await classifySettlement(pool, {
      runId,
      reportId,
      gateway: 'stripe',
      ...window,
      lateSuccess: 'refund',
      foreignPayment: 'flag',
      unpaidLookbackMs: 7 * 86_400_000,
      edgeToleranceMs: 15 * 60_000,
      unknownPayment: 'record',
    });

    expect(result).toEqual({ matched: 2, lookups: 1 });
    const findings = await pool.query<{ subject: string; kind: string; order_id: string | null }>(
      'SELECT subject, kind, order_id FROM reconciliation_findings WHERE run_id = $1 ORDER BY subject',
      [runId],
    );
    expect(findings.rows).toEqual([
      { subject: `lookup:${id}-not-in-report`, kind: 'needs_lookup', order_id: `${id}-not-in-report` },
      { subject: `payment:pay_${id}_b`, kind: 'amount_mismatch', order_id: `${id}-by-ref-differs` },
      { subject: `payment:pay_${id}_x`, kind: 'foreign_payment', order_id: null },
    ]);
  });

  test("when a row names attempt 1's intent of an order now on attempt 2, or names an order that moved to another gateway, then each is the order's payment to refund, never an unknown one", async () => {
    const start = new Date('2032-08-20T00:00:00Z');
    const end = new Date('2032-08-21T00:00:00Z');
    const created = new Date('2032-08-20T01:00:00Z');
    const id = uniqueId('attempts');
    const paid = `${id}-paid`;
    const switched = `${id}-switched`;
    const order = (
      orderId: string,
      gateway: string,
      status: string,
      intentId: string,
      paymentReference: string | null,
    ) =>
      pool.query(
        `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id,
                             payment_reference, captured_amount_minor, expires_at, created_at, updated_at)
         VALUES ($1, 1000, 'USD', $2, $3, 'seeded', $4, $5, $6, $7, $7, $7)`,
        [orderId, gateway, status, intentId, paymentReference, status === 'PAID' ? 1000 : 0, created],
      );
    const attempt = (orderId: string, n: number, gateway: string, intentId: string, status: string) =>
      pool.query(
        `INSERT INTO payment_attempts (order_id, attempt_number, gateway, intent_id, status)
         VALUES ($1, $2, $3, $4, $5)`,
        [orderId, n, gateway, intentId, status],
      );
    // Paid by attempt 2; attempt 1's session was superseded but its payment went through too.
    await order(paid, 'stripe', 'PAID', `cs_${id}_2`, `pay_${id}_2`);
    await attempt(paid, 1, 'stripe', `cs_${id}_1`, 'superseded');
    await attempt(paid, 2, 'stripe', `cs_${id}_2`, 'paid');
    // Tried at Stripe first, then at Khalti, and expired: the Stripe payment of attempt 1 came late.
    await order(switched, 'khalti', 'EXPIRED', `pidx_${id}`, null);
    await attempt(switched, 1, 'stripe', `cs_${id}_s1`, 'superseded');
    await attempt(switched, 2, 'khalti', `pidx_${id}`, 'expired');
    const at = '2032-08-20T02:00:00Z';
    const reportId = uniqueId('report');
    await ingestSettlementReport(
      pool,
      { reportId, gateway: 'stripe', source: 'upload', windowStart: start, windowEnd: end },
      parseSettlementCsv(
        Readable.from([
          [
            SETTLEMENT_CSV_COLUMNS.join(','),
            `payment,pay_${id}_2,,,succeeded,1000,USD,${at}`,
            // No order ID: found by attempt 1's intent.
            `payment,cs_${id}_1,,,succeeded,1000,USD,${at}`,
            `payment,pay_${id}_s1,,${switched},succeeded,1000,USD,${at}`,
          ].join('\n'),
        ]),
      ),
    );
    const runId = uniqueId('run');
    const window = { windowStart: start.toISOString(), windowEnd: end.toISOString() };
    await insertRunIfAbsent(pool, { runId, workflowId: runId, gateway: 'stripe', ...window });

    const result = await classifySettlement(pool, {
      runId,
      reportId,
      gateway: 'stripe',
      ...window,
      lateSuccess: 'refund',
      foreignPayment: 'flag',
      unpaidLookbackMs: 7 * 86_400_000,
      edgeToleranceMs: 15 * 60_000,
      unknownPayment: 'refund',
    });

    expect(result).toEqual({ matched: 1, lookups: 0 });
    const findings = await pool.query<{ subject: string; kind: string; order_id: string | null }>(
      'SELECT subject, kind, order_id FROM reconciliation_findings WHERE run_id = $1 ORDER BY subject',
      [runId],
    );
    expect(findings.rows).toEqual([
      { subject: `payment:cs_${id}_1`, kind: 'duplicate_capture', order_id: paid },
      { subject: `payment:pay_${id}_s1`, kind: 'late_success', order_id: switched },
    ]);
  });
});
