// The settlement report CSV that merchants download from a gateway portal (eSewa, Khalti) or the sandbox, parsed as
// a stream: one line in, one ReportLine out, so a file of any size is never held in memory. A line that fails its
// format checks becomes a `malformed` line with its raw text; only a wrong header refuses the whole file.
//
// Speed: almost every line of a real report is plain printable ASCII without quotes, so such a line is split on
// commas here directly. Anything else (a quote, a tab or other whitespace csv-parse trims, a non-ASCII character, a
// lone CR) goes to csv-parse, which stays the authority on CSV: a stretch of such lines is parsed by it as one
// piece. After a CSV error the record's lines up to the one csv-parse names are one malformed line and reading
// resumes at the next line (csv-parse itself may drop the rest of the buffer after some errors). A quote never
// closed makes the rest of the file one malformed record, its raw text holding every line.
import { parse, type CsvError, type Options as CsvOptions } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { StringDecoder } from 'node:string_decoder';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { ReportLine } from '../db/reconciliation/settlement-reports.repo';
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

const PRINTABLE_REFERENCE = /^[\x21-\x7e]+$/;
const ORDER_ID = /^[A-Za-z0-9._-]{1,64}$/;
const AMOUNT_MINOR = /^\d{1,15}$/;
const CURRENCY = /^[A-Za-z]{3}$/;
const OCCURRED_AT = z.regexes.datetime({ offset: true });

const reference = z
  .string()
  .min(1, 'is required')
  .max(255, 'is longer than 255 characters')
  .regex(PRINTABLE_REFERENCE, 'must be printable ASCII without spaces');

/** The rules of one row. Rows that pass are checked by hand (checkRecord, tested against this); zod says why not. */
export const settlementRecordSchema = z
  .object({
    kind: z.enum(SETTLEMENT_ROW_KINDS),
    transaction_id: reference,
    payment_id: z.union([z.literal(''), reference]),
    order_id: z.union([z.literal(''), z.string().regex(ORDER_ID, 'is not an order ID')]),
    status: z.enum(SETTLEMENT_ROW_STATUSES),
    amount_minor: z
      .string()
      .regex(AMOUNT_MINOR, 'must be a whole number of minor units')
      .transform(Number)
      .refine((n) => n > 0, 'must be greater than 0'),
    currency: z
      .string()
      .regex(CURRENCY, 'must be a three-letter ISO currency code')
      .transform((c) => c.toUpperCase()),
    occurred_at: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a time zone' }),
  })
  .refine((row) => row.kind === 'payment' || row.payment_id !== '', {
    message: 'is required for a refund',
    path: ['payment_id'],
  });

const KINDS: ReadonlySet<string> = new Set(SETTLEMENT_ROW_KINDS);
const STATUSES: ReadonlySet<string> = new Set(SETTLEMENT_ROW_STATUSES);

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
  return checkRecord(record) ?? parseWithSchema(record);
}

/**
 * settlementRecordSchema's rules written out, for the million rows that pass them: undefined when any fails,
 * and then the schema names the problems.
 */
function checkRecord(r: Partial<Record<Column, string>>): SettlementRow | undefined {
  const { kind, transaction_id: transactionId, payment_id: paymentId, order_id: orderId, status } = r;
  const { amount_minor: amount, currency, occurred_at: occurredAt } = r;
  if (
    kind === undefined ||
    transactionId === undefined ||
    paymentId === undefined ||
    orderId === undefined ||
    status === undefined ||
    amount === undefined ||
    currency === undefined ||
    occurredAt === undefined
  ) {
    return undefined;
  }
  if (!KINDS.has(kind) || !STATUSES.has(status)) return undefined;
  if (transactionId.length > 255 || !PRINTABLE_REFERENCE.test(transactionId)) return undefined;
  if (paymentId === '' ? kind !== 'payment' : paymentId.length > 255 || !PRINTABLE_REFERENCE.test(paymentId)) {
    return undefined;
  }
  if (orderId !== '' && !ORDER_ID.test(orderId)) return undefined;
  if (!AMOUNT_MINOR.test(amount) || !CURRENCY.test(currency) || !OCCURRED_AT.test(occurredAt)) return undefined;
  const amountMinor = Number(amount);
  if (!(amountMinor > 0)) return undefined;
  return {
    kind: kind as SettlementRow['kind'],
    transactionId,
    paymentId: paymentId === '' ? transactionId : paymentId,
    ...(orderId === '' ? {} : { orderId }),
    status: status as SettlementRow['status'],
    amountMinor,
    currency: currency.toUpperCase(),
    occurredAt: utcTime(occurredAt),
  };
}

const UTC_TO_THE_MILLISECOND = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z$/;

/** A valid occurred_at in UTC (SettlementRow.occurredAt); Date keeps milliseconds, as it always has here. */
function utcTime(occurredAt: string): string {
  return UTC_TO_THE_MILLISECOND.test(occurredAt) ? occurredAt : new Date(occurredAt).toISOString();
}

function parseWithSchema(record: Partial<Record<Column, string>>): SettlementRow | { problem: string } {
  const parsed = settlementRecordSchema.safeParse(record);
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
    occurredAt: utcTime(row.occurred_at),
  };
}

const CSV_OPTIONS = {
  raw: true,
  info: true,
  trim: true,
  skip_empty_lines: true,
  relax_column_count: true,
  skip_records_with_error: true,
} as const satisfies CsvOptions;

interface ParsedRecord {
  record: string[];
  raw: string;
  info: { lines: number };
}

/** A record csv-parse could not read, with its raw text (csv-parse's on_skip). */
interface SkippedRecord {
  skipped: { lines: number; message: string; raw: string };
}

/**
 * A line split here: printable ASCII without a quote (so no field is quoted and there is nothing but spaces to
 * trim), ending in the file's record delimiter or at the end of the file.
 */
const PLAIN_LINE = /^[\x20\x21\x23-\x7e]*$/;

/** The report's lines in file order, a batch per chunk of input (one await per chunk, not per line). */
export async function* parseSettlementCsv(input: Readable): AsyncIterable<ReportLine[]> {
  const records = new RecordReader();
  for await (const batch of csvRecords(input)) {
    const lines: ReportLine[] = [];
    for (const item of batch) {
      const line = records.read(item);
      if (line) lines.push(line);
    }
    if (lines.length > 0) yield lines;
  }
  records.finish();
}

/** Turns records into report lines: the first one is the header, every other one a row or a malformed line. */
class RecordReader {
  private columns: Column[] | undefined;

  read(item: ParsedRecord | SkippedRecord): ReportLine | undefined {
    if ('skipped' in item) {
      return {
        lineNo: item.skipped.lines,
        error: { code: 'malformed', message: item.skipped.message, raw: item.skipped.raw },
      };
    }
    const { record, raw, info } = item;
    if (this.columns === undefined) {
      this.columns = headerColumns(record);
      return undefined;
    }
    const columns = this.columns;
    if (record.length !== columns.length) {
      return malformed(info.lines, `expected ${columns.length} fields, got ${record.length}`, raw);
    }
    const mapped: Partial<Record<Column, string>> = {};
    for (let i = 0; i < columns.length; i += 1) mapped[columns[i] as Column] = record[i] ?? '';
    const row = parseSettlementRecord(mapped);
    return 'problem' in row ? malformed(info.lines, row.problem, raw) : { lineNo: info.lines, row };
  }

  finish(): void {
    if (this.columns === undefined) throw new SettlementCsvHeaderError('the file is empty: a header line is required');
  }
}

/**
 * The file's records with csv-parse's semantics (BOM, trimmed fields, empty lines skipped, line numbers counted
 * from the top of the file, unreadable records reported with their raw text), splitting plain lines itself.
 */
async function* csvRecords(input: Readable): AsyncIterable<Array<ParsedRecord | SkippedRecord>> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  /** csv-parse's record delimiter as it discovers it on the first line; undefined until the first line is read. */
  let delimiter: '\n' | '\r\n' | undefined;
  /** Lines csv-parse reads as one piece: from one that is not plain until its quotes are closed. */
  let island = '';
  let islandQuotes = 0;
  let islandStart = 0;
  /** Skipped empty lines: csv-parse counts them into the raw text of the next record, so they are kept until then. */
  let carry = '';
  let carryLines = 0;
  let batch: Array<ParsedRecord | SkippedRecord> = [];

  for (;;) {
    const next = await chunks.next();
    let text: string;
    if (next.done) {
      text = pending + decoder.end();
      if (island !== '') {
        // A quote still open at the end of the file: its lines are read again, now knowing where the file ends.
        text = island + text;
        lineNo = islandStart;
        island = '';
        islandQuotes = 0;
      }
    } else if (delimiter === undefined && pending === '' && Buffer.isBuffer(next.value) && isUtf16Bom(next.value)) {
      // Only csv-parse decodes UTF-16 (it switches on the BOM): the whole file is its.
      yield* csvParseRest(0, undefined, next.value, chunks, undefined);
      return;
    } else {
      text = pending + (typeof next.value === 'string' ? next.value : decoder.write(next.value));
    }
    let start = 0;
    if (delimiter === undefined) {
      const firstNewline = text.indexOf('\n');
      if (firstNewline === -1 && !next.done) {
        pending = text;
        continue;
      }
      const firstLine = text.slice(0, firstNewline === -1 ? text.length : firstNewline);
      const cr = firstLine.indexOf('\r');
      if (firstNewline === -1 || countQuotes(firstLine) % 2 === 1 || (cr !== -1 && cr !== firstLine.length - 1)) {
        // One line only, a header with a line break in quotes or a lone CR: csv-parse discovers the record
        // delimiter and reads it all.
        yield* csvParseRest(0, undefined, text, next.done ? undefined : chunks, decoder);
        return;
      }
      delimiter = cr === -1 ? '\n' : '\r\n';
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    const crlf = delimiter === '\r\n';
    while (start < text.length) {
      const newline = text.indexOf('\n', start);
      if (newline === -1 && !next.done) break;
      const end = newline === -1 ? text.length : newline + 1;
      // Whether the line ends in the record delimiter (a bare LF in a CRLF file is data to csv-parse).
      const delimited = newline !== -1 && (!crlf || text.charCodeAt(newline - 1) === 13);
      const content = text.slice(start, delimited ? newline - (crlf ? 1 : 0) : end);
      // As csv-parse keeps it: a CRLF record delimiter leaves only its CR in the raw text.
      const raw = crlf && delimited ? text.slice(start, newline) : text.slice(start, end);
      const line = text.slice(start, end);
      start = end;
      lineNo += 1;
      if (island === '' && (delimited || newline === -1) && PLAIN_LINE.test(content)) {
        const record = content.split(',');
        if (record.length === 1 && (record[0] as string).trim() === '') {
          carry += line;
          carryLines += 1;
          continue;
        }
        for (let i = 0; i < record.length; i += 1) record[i] = (record[i] as string).trim();
        const prefix = carry === '' ? '' : crlf ? carry.replaceAll('\r\n', '\r') : carry;
        batch.push({ record, raw: prefix + raw, info: { lines: lineNo } });
        carry = '';
        carryLines = 0;
        continue;
      }
      if (island === '') {
        islandStart = lineNo - 1 - carryLines;
        island = carry;
        carry = '';
        carryLines = 0;
      }
      island += line;
      islandQuotes += countQuotes(line);
      const atEnd = next.done === true && start >= text.length;
      if (!atEnd && (islandQuotes % 2 === 1 || (!delimited && newline !== -1))) continue;
      // Quotes closed at a record delimiter (or the file ended): csv-parse now stands at the start of a record.
      const islandLines = lineNo - islandStart;
      const parsed = parseIsland(island, islandStart, islandLines, delimiter);
      batch.push(...parsed.records);
      island = island.slice(nthLineEnd(island, parsed.lastLine));
      islandQuotes = 0;
      if (parsed.failed) {
        // The stretch's lines after the malformed record are read again, plain ones by the fast path.
        lineNo = islandStart + parsed.lastLine;
        if (island !== '') {
          text = island + text.slice(start);
          start = 0;
        }
        island = '';
        continue;
      }
      carry = island;
      carryLines = islandLines - parsed.lastLine;
      island = '';
    }
    pending = text.slice(start);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
    if (next.done) return;
  }
}

function isUtf16Bom(chunk: Buffer): boolean {
  return chunk.length >= 2 && chunk[0] === 0xff && chunk[1] === 0xfe;
}

function countQuotes(text: string): number {
  let count = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at + 1)) count += 1;
  return count;
}

/** Where the text after its first `lines` lines starts (its end if it has no more). */
function nthLineEnd(text: string, lines: number): number {
  let at = 0;
  for (let i = 0; i < lines; i += 1) {
    const newline = text.indexOf('\n', at);
    if (newline === -1) return text.length;
    at = newline + 1;
  }
  return at;
}

/**
 * csv-parse's records of a stretch of `lineCount` lines, and the line (counted within it) where the last one ends.
 * After an error, only the records before it count: the lines from the last of them to the line the error names
 * are one malformed record (the errors csv-parse met on that line in its message) and reading goes on from the next
 * line.
 */
function parseIsland(
  text: string,
  linesBefore: number,
  lineCount: number,
  delimiter: string,
): { records: Array<ParsedRecord | SkippedRecord>; lastLine: number; failed: boolean } {
  const errors: CsvError[] = [];
  const parsed = parseSync(text, {
    ...CSV_OPTIONS,
    record_delimiter: delimiter,
    on_skip: (error: CsvError | undefined) => {
      if (error) errors.push(error);
      return undefined;
    },
  }) as unknown as ParsedRecord[];
  const first = errors[0];
  const errorLine = first === undefined ? Infinity : Math.min(Math.max(Number(first.lines), 1), lineCount);
  const good = parsed.filter((r) => r.info.lines < errorLine);
  const records: Array<ParsedRecord | SkippedRecord> = good.map((r) => ({
    record: r.record,
    raw: r.raw,
    info: { lines: r.info.lines + linesBefore },
  }));
  const lastGood = good.at(-1)?.info.lines ?? 0; // csv-parse's count, within the stretch
  if (first === undefined) return { records, lastLine: lastGood, failed: false };
  const message = errors
    // After a broken closing quote csv-parse reads on as if in quotes to where the stretch ends: not another error.
    .filter((e) => e === first || (Number(e.lines) === Number(first.lines) && e.code !== 'CSV_QUOTE_NOT_CLOSED'))
    .map((e) =>
      // csv-parse counts from where it started reading; the message names the line in the file.
      e.message.replace(/\bat line (\d+)\b/g, (_, line: string) => `at line ${Number(line) + linesBefore}`),
    )
    .join('; ');
  const raw = text.slice(nthLineEnd(text, lastGood), nthLineEnd(text, errorLine)).replace(/\r?\n$/, '');
  records.push({ skipped: { lines: errorLine + linesBefore, message, raw } });
  return { records, lastLine: errorLine, failed: true };
}

/** csv-parse reads the rest of the file, starting with `first`; its line numbers continue after `linesBefore`. */
async function* csvParseRest(
  linesBefore: number,
  delimiter: string | undefined,
  first: string | Buffer,
  chunks: AsyncIterator<Buffer | string> | undefined,
  decoder: StringDecoder | undefined,
): AsyncIterable<Array<ParsedRecord | SkippedRecord>> {
  const skipped: SkippedRecord[] = [];
  const parser = parse({
    ...CSV_OPTIONS,
    bom: linesBefore === 0,
    ...(delimiter === undefined ? {} : { record_delimiter: delimiter }),
    // A broken quote swallows the lines after it into one bad record; its raw text is kept, so nothing is lost.
    on_skip: (error: CsvError | undefined, raw: string | undefined) => {
      const skip = {
        lines: Number(error?.lines ?? 0) + linesBefore,
        // csv-parse counts from where it started reading; the message names the line in the file.
        message: (error?.message ?? 'unreadable CSV record').replace(
          /\bat line (\d+)\b/g,
          (_, line: string) => `at line ${Number(line) + linesBefore}`,
        ),
        raw: raw ?? '',
      };
      // Two errors on one line (a broken quote, then the quote never closed) are one malformed line: the line
      // number is its key. The raw text of the later one holds the earlier's.
      const last = skipped.at(-1)?.skipped;
      if (last?.lines === skip.lines) {
        last.message = `${last.message}; ${skip.message}`;
        if (skip.raw.length > last.raw.length) last.raw = skip.raw;
      } else {
        skipped.push({ skipped: skip });
      }
      return undefined;
    },
  });
  async function* rest(): AsyncIterable<Buffer | string> {
    if (first.length > 0) yield first;
    if (chunks === undefined) return;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      const chunk = decoder && typeof next.value !== 'string' ? decoder.write(next.value) : next.value;
      if (chunk.length > 0) yield chunk;
    }
    const tail = decoder?.end() ?? '';
    if (tail.length > 0) yield tail;
  }
  const source = Readable.from(rest(), { objectMode: false });
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);
  for await (const record of parser as AsyncIterable<ParsedRecord>) {
    yield [
      // The latest skipped record stays until the end, in case another error falls on its line.
      ...skipped.splice(0, Math.max(0, skipped.length - 1)),
      { record: record.record, raw: record.raw, info: { lines: record.info.lines + linesBefore } },
    ];
  }
  if (skipped.length > 0) yield skipped.splice(0);
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
