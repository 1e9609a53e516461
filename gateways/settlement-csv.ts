// The settlement report CSV that merchants download from a gateway portal (eSewa, Khalti) or the sandbox, parsed as
// a stream: one line in, one ReportLine out, so a file of any size is never held in memory. A line that fails its
// format checks becomes a `malformed` line with its raw text; only a wrong header refuses the whole file.
import { parse, type CsvError } from 'csv-parse';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { ReportLine } from '../db/settlement-reports.repo';
import { rupeesToPaisa } from '../domain/money';
import { SETTLEMENT_ROW_KINDS, SETTLEMENT_ROW_STATUSES, type SettlementRow } from './settlement';

/** The documented columns, in any order; a header naming others is refused. */
export const SETTLEMENT_CSV_COLUMNS = [
  'kind',
  'transaction_id',
  'payment_id',
  'order_id',
  'status',
  'amount_minor',
  'currency',
  'occurred_at',
] as const;
/**
 * Instead of amount_minor: the amount in major units as wallet portals print it ("1500", "1,500.50"), converted
 * exactly to paisa with domain/money.ts. NPR only, the wallets' currency.
 */
export const SETTLEMENT_CSV_MAJOR_AMOUNT = 'amount';
type Column = (typeof SETTLEMENT_CSV_COLUMNS)[number] | typeof SETTLEMENT_CSV_MAJOR_AMOUNT;

export class SettlementCsvHeaderError extends Error {
  override readonly name = 'SettlementCsvHeaderError';
}

const reference = z
  .string()
  .min(1, 'is required')
  .max(255, 'is longer than 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const rowSchema = z
  .object({
    kind: z.enum(SETTLEMENT_ROW_KINDS),
    transaction_id: reference,
    payment_id: z.union([z.literal(''), reference]),
    order_id: z.union([z.literal(''), z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'is not an order ID')]),
    status: z.enum(SETTLEMENT_ROW_STATUSES),
    amount_minor: z
      .string()
      .regex(/^\d{1,15}$/, 'must be a whole number of minor units')
      .transform(Number)
      .refine((n) => n > 0, 'must be greater than 0'),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO currency code')
      .transform((c) => c.toUpperCase()),
    occurred_at: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a time zone' }),
  })
  .refine((row) => row.kind === 'payment' || row.payment_id !== '', {
    message: 'is required for a refund',
    path: ['payment_id'],
  });

/** Parses one record (already mapped to the header's columns). */
export function parseSettlementRecord(record: Partial<Record<Column, string>>): SettlementRow | { problem: string } {
  const rupees = record[SETTLEMENT_CSV_MAJOR_AMOUNT];
  if (rupees !== undefined) {
    if (record.currency?.toUpperCase() !== 'NPR')
      return { problem: 'amount in rupees is for NPR only: use amount_minor' };
    const paisa = rupeesToPaisa(rupees);
    if (paisa === undefined) return { problem: 'amount must be rupees with at most two decimals, such as 1500.50' };
    record = { ...record, amount_minor: String(paisa) };
  }
  const parsed = rowSchema.safeParse(record);
  if (!parsed.success) {
    return {
      problem: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'row'} ${issue.message}`).join('; '),
    };
  }
  const row = parsed.data;
  return {
    kind: row.kind,
    transactionId: row.transaction_id,
    paymentId: row.payment_id === '' ? row.transaction_id : row.payment_id,
    ...(row.order_id === '' ? {} : { orderId: row.order_id }),
    status: row.status,
    amountMinor: row.amount_minor,
    currency: row.currency,
    occurredAt: new Date(row.occurred_at),
  };
}

interface ParsedRecord {
  record: string[];
  raw: string;
  info: { lines: number };
}

export async function* parseSettlementCsv(input: Readable): AsyncIterable<ReportLine> {
  const skipped: ReportLine[] = [];
  const parser = input.pipe(
    parse({
      raw: true,
      info: true,
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      skip_records_with_error: true,
      // A broken quote swallows the lines after it into one bad record; its raw text is kept, so nothing is lost.
      on_skip: (error: CsvError | undefined, raw: string | undefined) => {
        skipped.push({
          lineNo: Number(error?.lines ?? 0),
          error: { code: 'malformed', message: error?.message ?? 'unreadable CSV record', raw: raw ?? '' },
        });
        return undefined;
      },
    }),
  );
  input.on('error', (error) => parser.destroy(error));

  let columns: Column[] | undefined;
  for await (const chunk of parser as AsyncIterable<ParsedRecord>) {
    yield* skipped.splice(0);
    const { record, raw, info } = chunk;
    if (columns === undefined) {
      columns = headerColumns(record);
      continue;
    }
    if (record.length !== columns.length) {
      yield malformed(info.lines, `expected ${columns.length} fields, got ${record.length}`, raw);
      continue;
    }
    const mapped = Object.fromEntries(columns.map((column, i) => [column, record[i] ?? ''])) as Partial<
      Record<Column, string>
    >;
    const row = parseSettlementRecord(mapped);
    yield 'problem' in row ? malformed(info.lines, row.problem, raw) : { lineNo: info.lines, row };
  }
  yield* skipped.splice(0);
  if (columns === undefined) throw new SettlementCsvHeaderError('the file is empty: a header line is required');
}

function headerColumns(record: string[]): Column[] {
  const names = record.map((name) => name.toLowerCase());
  // The amount either in minor units (amount_minor) or in rupees (amount), not both.
  const required: readonly string[] = names.includes(SETTLEMENT_CSV_MAJOR_AMOUNT)
    ? SETTLEMENT_CSV_COLUMNS.map((name) => (name === 'amount_minor' ? SETTLEMENT_CSV_MAJOR_AMOUNT : name))
    : SETTLEMENT_CSV_COLUMNS;
  const known = new Set<string>(required);
  const unknown = names.filter((name) => !known.has(name));
  const missing = required.filter((name) => !names.includes(name));
  if (unknown.length > 0 || missing.length > 0 || new Set(names).size !== names.length) {
    throw new SettlementCsvHeaderError(
      `the header must name the columns ${SETTLEMENT_CSV_COLUMNS.join(', ')} once each` +
        ` (or ${SETTLEMENT_CSV_MAJOR_AMOUNT} in rupees instead of amount_minor)` +
        (missing.length > 0 ? `; missing: ${missing.join(', ')}` : '') +
        (unknown.length > 0 ? `; unknown: ${unknown.slice(0, 5).join(', ')}` : ''),
    );
  }
  return names as Column[];
}

function malformed(lineNo: number, message: string, raw: string): ReportLine {
  return { lineNo, error: { code: 'malformed', message, raw: raw.replace(/\r?\n$/, '') } };
}
