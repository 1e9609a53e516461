// Settlement reports into PostgreSQL: lines are streamed through COPY into reconciliation_report_rows (never held
// in memory as a whole). Rows outside the report's window and repeated transaction IDs are found while the lines
// stream (report-line-checks.ts) and, when that cannot be exact, set-wise in SQL afterwards. Accepted and rejected
// lines both stay in the table, so nothing a gateway sent is lost.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { GatewayName } from '../../contracts/order.contract';
import type { SettlementRow } from '../../gateways/settlement';
import type { Pool, PoolClient } from '../pool';
import { ReportLineChecks } from './report-line-checks';

export const REPORT_ERROR_CODES = ['malformed', 'duplicate', 'out_of_window'] as const;
export type ReportErrorCode = (typeof REPORT_ERROR_CODES)[number];

/** One data line of a report: a row that passed format checks, or why it did not (with its raw text). */
export type ReportLine =
  | { lineNo: number; row: SettlementRow }
  | { lineNo: number; error: { code: 'malformed'; message: string; raw: string } };

export interface NewReport {
  reportId: string;
  gateway: GatewayName;
  source: 'upload' | 'api';
  windowStart: Date;
  windowEnd: Date;
}

export interface ReportError {
  lineNo: number;
  code: ReportErrorCode;
  message: string;
}

export interface ReportSummary {
  reportId: string;
  gateway: string;
  source: 'upload' | 'api';
  windowStart: string;
  windowEnd: string;
  rowsTotal: number;
  rowsAccepted: number;
  rowsRejected: number;
  createdAt: string;
}

const COPY_COLUMNS =
  'report_id, line_no, kind, transaction_id, payment_id, order_id, status, amount_minor, currency, occurred_at, ' +
  'error_code, error_message, raw';

/**
 * Writes a report and all its lines in one transaction: either the whole report is there, checked, or nothing
 * is. With `replace`, an earlier report of the same ID is dropped first (a retried API fetch).
 */
export async function ingestSettlementReport(
  pool: Pool,
  report: NewReport,
  lines: AsyncIterable<readonly ReportLine[]>,
  options: { replace?: boolean } = {},
): Promise<ReportSummary> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (options.replace)
      await client.query('DELETE FROM reconciliation_reports WHERE report_id = $1', [report.reportId]);
    await client.query(
      `INSERT INTO reconciliation_reports (report_id, gateway, source, window_start, window_end)
       VALUES ($1, $2, $3, $4, $5)`,
      [report.reportId, report.gateway, report.source, report.windowStart, report.windowEnd],
    );
    await useBulkSettings(client);
    const checks = new ReportLineChecks(report.windowStart.getTime(), report.windowEnd.getTime());
    const counts = { total: 0, rejected: 0 };
    const outOfWindow = await outOfWindowMessage(client, report);
    const copy = client.query(copyFrom(`COPY reconciliation_report_rows (${COPY_COLUMNS}) FROM STDIN`));
    await pipeline(Readable.from(copyText(report.reportId, lines, checks, outOfWindow, counts)), copy);
    // Fresh statistics, so the checks below and the classification plan hash joins for large reports.
    await client.query('ANALYZE reconciliation_report_rows');
    counts.rejected += await markRejectedRows(client, report, checks, outOfWindow);
    const summary = await client.query<ReportRow>(
      `UPDATE reconciliation_reports
          SET rows_total = $2, rows_accepted = $2::bigint - $3::bigint, rows_rejected = $3
        WHERE report_id = $1
        RETURNING ${REPORT_COLUMNS}`,
      [report.reportId, counts.total, counts.rejected],
    );
    await client.query('COMMIT');
    return toSummary(summary.rows[0] as ReportRow);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * For the statements that read a whole report at once: a hash of a million keys fits in memory instead of spilling
 * in batches, and no JIT compilation (it cost more than it saved on these plans: their estimated costs cross the JIT
 * thresholds, and compiling took longer than running the parts it compiled). Transaction-local.
 */
export async function useBulkSettings(client: PoolClient): Promise<void> {
  await client.query(`SET LOCAL work_mem = '${BULK_WORK_MEM}'`);
  await client.query('SET LOCAL jit = off');
}

const BULK_WORK_MEM = '128MB';

/** PostgreSQL's own text for the window in this session's time zone: the message of every out-of-window row. */
async function outOfWindowMessage(client: PoolClient, report: NewReport): Promise<string> {
  const result = await client.query<{ message: string }>(
    `SELECT 'occurred_at is outside the report window [' || $1::timestamptz || ', ' || $2::timestamptz || ')'
            AS message`,
    [report.windowStart, report.windowEnd],
  );
  return (result.rows[0] as { message: string }).message;
}

/**
 * What the checks while streaming left open: rows outside the window whose time only PostgreSQL can compare
 * exactly, then repeats of a (kind, transaction ID) already seen on an earlier line. Returns how many rows it
 * rejected.
 */
async function markRejectedRows(
  client: PoolClient,
  report: NewReport,
  checks: ReportLineChecks,
  outOfWindow: string,
): Promise<number> {
  let rejected = 0;
  if (checks.windowUnchecked > 0) {
    const outside = await client.query(
      `UPDATE reconciliation_report_rows SET error_code = 'out_of_window', error_message = $4
        WHERE report_id = $1 AND error_code IS NULL AND (occurred_at < $2 OR occurred_at >= $3)`,
      [report.reportId, report.windowStart, report.windowEnd, outOfWindow],
    );
    rejected += outside.rowCount ?? 0;
  }
  if (!checks.mayHaveDuplicates) return rejected;
  // Grouped (a hash aggregate) rather than a window over every row, which sorts the whole report by text.
  const duplicates = await client.query(
    `UPDATE reconciliation_report_rows r
        SET error_code = 'duplicate', error_message = 'same kind and transaction_id as line ' || d.first_line
       FROM (SELECT kind, transaction_id, min(line_no) AS first_line
               FROM reconciliation_report_rows WHERE report_id = $1 AND error_code IS NULL
              GROUP BY kind, transaction_id HAVING count(*) > 1) d
      WHERE r.report_id = $1 AND r.error_code IS NULL AND r.kind = d.kind AND r.transaction_id = d.transaction_id
        AND r.line_no <> d.first_line`,
    [report.reportId],
  );
  return rejected + (duplicates.rowCount ?? 0);
}

/**
 * COPY's text format: tab-separated, \N for NULL, backslash escapes for the characters that would break it. Counts
 * the lines and the ones it rejects, and marks rows outside the window where it can tell.
 */
async function* copyText(
  reportId: string,
  batches: AsyncIterable<readonly ReportLine[]>,
  checks: ReportLineChecks,
  outOfWindow: string,
  counts: { total: number; rejected: number },
): AsyncIterable<string> {
  const id = copyField(reportId);
  const outOfWindowError = `out_of_window\t${copyField(outOfWindow)}\t\\N`;
  let chunk = '';
  for await (const batch of batches) {
    for (const line of batch) {
      counts.total += 1;
      if ('row' in line) {
        const { row } = line;
        const position = checks.windowPosition(row);
        if (position === 'outside') counts.rejected += 1;
        // A row SQL may yet find outside the window is remembered too: a key too many only means a check too many.
        else checks.remember(row);
        chunk +=
          `${id}\t${line.lineNo}\t${copyField(row.kind)}\t${copyField(row.transactionId)}\t` +
          `${copyField(row.paymentId)}\t${copyField(row.orderId ?? null)}\t${copyField(row.status)}\t` +
          `${row.amountMinor}\t${copyField(row.currency)}\t${copyField(row.occurredAt)}\t` +
          `${position === 'outside' ? outOfWindowError : '\\N\t\\N\t\\N'}\n`;
      } else {
        counts.rejected += 1;
        chunk +=
          `${id}\t${line.lineNo}\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tmalformed\t` +
          `${copyField(line.error.message)}\t${copyField(line.error.raw)}\n`;
      }
      // Lines go out in chunks of ~64 KB: fast, and never more than one chunk held.
      if (chunk.length >= 65_536) {
        yield chunk;
        chunk = '';
      }
    }
  }
  if (chunk.length > 0) yield chunk;
}

const COPY_SPECIAL = /[\\\t\n\r]/;

function copyField(value: string | null): string {
  if (value === null) return '\\N';
  // Most fields need no escape: test once rather than run a replacement over every field.
  if (!COPY_SPECIAL.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

interface ReportRow {
  report_id: string;
  gateway: string;
  source: 'upload' | 'api';
  window_start: Date;
  window_end: Date;
  rows_total: number;
  rows_accepted: number;
  rows_rejected: number;
  created_at: Date;
}
const REPORT_COLUMNS =
  'report_id, gateway, source, window_start, window_end, rows_total, rows_accepted, rows_rejected, created_at';

function toSummary(row: ReportRow): ReportSummary {
  return {
    reportId: row.report_id,
    gateway: row.gateway,
    source: row.source,
    windowStart: row.window_start.toISOString(),
    windowEnd: row.window_end.toISOString(),
    rowsTotal: row.rows_total,
    rowsAccepted: row.rows_accepted,
    rowsRejected: row.rows_rejected,
    createdAt: row.created_at.toISOString(),
  };
}

export async function findReport(db: Pool | PoolClient, reportId: string): Promise<ReportSummary | undefined> {
  const result = await db.query<ReportRow>(
    `SELECT ${REPORT_COLUMNS} FROM reconciliation_reports WHERE report_id = $1`,
    [reportId],
  );
  return result.rows[0] && toSummary(result.rows[0]);
}

/** The rejected lines of a report, in file order. */
export async function listReportErrors(db: Pool | PoolClient, reportId: string, limit: number): Promise<ReportError[]> {
  const result = await db.query<{ line_no: number; error_code: ReportErrorCode; error_message: string }>(
    `SELECT line_no, error_code, error_message FROM reconciliation_report_rows
      WHERE report_id = $1 AND error_code IS NOT NULL ORDER BY line_no LIMIT $2`,
    [reportId, limit],
  );
  return result.rows.map((row) => ({ lineNo: row.line_no, code: row.error_code, message: row.error_message }));
}
