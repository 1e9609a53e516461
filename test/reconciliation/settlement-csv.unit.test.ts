// The settlement CSV parser splits plain lines itself and checks rows by hand for speed. These tests hold it to
// what it replaced: csv-parse reading the whole file and the zod row schema checking every row. Each case (and a
// few thousand generated files with quotes, embedded commas, CRLF, BOM, empty lines, trailing commas, huge and
// non-integer amounts, fed in chunks cut anywhere) must give the same lines, numbers, rows and messages.
import type { CsvError } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { Readable } from 'node:stream';
import type { ReportLine } from '../../db/reconciliation/settlement-reports.repo';
import {
  parseSettlementCsv,
  parseSettlementRecord,
  SETTLEMENT_CSV_COLUMNS,
  settlementRecordSchema,
  SettlementCsvHeaderError,
} from '../../gateways/settlement-csv';

type Column = (typeof SETTLEMENT_CSV_COLUMNS)[number];
const HEADER = SETTLEMENT_CSV_COLUMNS.join(',');

const CSV_OPTIONS = {
  raw: true,
  info: true,
  trim: true,
  skip_empty_lines: true,
  relax_column_count: true,
  skip_records_with_error: true,
} as const;

type Item = { record: string[]; raw: string; info: { lines: number } } | { skipped: ReportLine };

/** Where the text after its first `lines` lines starts (its end if it has no more). */
function afterLines(text: string, lines: number): number {
  let at = 0;
  for (let i = 0; i < lines && at < text.length; i += 1) {
    const newline = text.indexOf('\n', at);
    at = newline === -1 ? text.length : newline + 1;
  }
  return at;
}

/**
 * csv-parse over a whole text (a UTF-16 file in one piece); after its first error, the lines from the last good
 * record to the line the error names are one malformed line and csv-parse starts again on the next line.
 */
function referenceItems(text: string | Buffer): Item[] {
  if (typeof text !== 'string') {
    return parseSync(text, { ...CSV_OPTIONS, bom: true }) as unknown as Item[];
  }
  const items: Item[] = [];
  const firstLine = text.slice(0, text.indexOf('\n') + 1);
  const delimiter = firstLine.endsWith('\r\n') && !firstLine.slice(0, -2).includes('\r') ? '\r\n' : '\n';
  let rest = text;
  let before = 0;
  while (rest !== '') {
    const errors: CsvError[] = [];
    const records = parseSync(rest, {
      ...CSV_OPTIONS,
      bom: before === 0,
      ...(before === 0 ? {} : { record_delimiter: delimiter }),
      on_skip: (error: CsvError | undefined) => {
        if (error) errors.push(error);
        return undefined;
      },
    }) as unknown as Array<{ record: string[]; raw: string; info: { lines: number } }>;
    const lineCount = rest.split('\n').length - (rest.endsWith('\n') ? 1 : 0);
    const at = (e: CsvError) => Math.min(Math.max(Number(e.lines), 1), lineCount);
    const errorLine = errors[0] === undefined ? Infinity : at(errors[0]);
    const good = records.filter((r) => r.info.lines < errorLine);
    items.push(...good.map((r) => ({ ...r, info: { lines: r.info.lines + before } })));
    if (errors[0] === undefined) break;
    const lastGood = good.at(-1)?.info.lines ?? 0;
    const message = errors
      .filter((e) => e === errors[0] || (e.lines === errors[0]?.lines && e.code !== 'CSV_QUOTE_NOT_CLOSED'))
      .map((e) => e.message.replace(/\bat line (\d+)\b/g, (_, n: string) => `at line ${Number(n) + before}`))
      .join('; ');
    const raw = rest.slice(afterLines(rest, lastGood), afterLines(rest, errorLine)).replace(/\r?\n$/, '');
    items.push({ skipped: { lineNo: errorLine + before, error: { code: 'malformed', message, raw } } });
    rest = rest.slice(afterLines(rest, errorLine));
    before += errorLine;
  }
  return items;
}

/**
 * The reference: csv-parse over the whole file (starting again on the line after each error), zod on every row
 * (the implementation before the fast path).
 */
async function reference(text: string | Buffer): Promise<ReportLine[]> {
  const out: ReportLine[] = [];
  const parser = referenceItems(text);
  let columns: Column[] | undefined;
  for (const item of parser) {
    if ('skipped' in item) {
      out.push(item.skipped);
      continue;
    }
    const { record, raw, info } = item;
    if (columns === undefined) {
      columns = record.map((name) => name.toLowerCase()) as Column[];
      continue;
    }
    const stripped = raw.replace(/\r?\n$/, '');
    if (record.length !== columns.length) {
      out.push({
        lineNo: info.lines,
        error: { code: 'malformed', message: `expected ${columns.length} fields, got ${record.length}`, raw: stripped },
      });
      continue;
    }
    const mapped = Object.fromEntries(columns.map((c, i) => [c, record[i] ?? ''])) as Record<Column, string>;
    const parsed = settlementRecordSchema.safeParse(mapped);
    if (!parsed.success) {
      const problem = parsed.error.issues.map((i) => `${i.path.join('.') || 'row'} ${i.message}`).join('; ');
      out.push({ lineNo: info.lines, error: { code: 'malformed', message: problem, raw: stripped } });
      continue;
    }
    const row = parsed.data;
    out.push({
      lineNo: info.lines,
      row: {
        kind: row.kind,
        transactionId: row.transaction_id,
        paymentId: row.payment_id === '' ? row.transaction_id : row.payment_id,
        ...(row.order_id === '' ? {} : { orderId: row.order_id }),
        status: row.status,
        amountMinor: row.amount_minor,
        currency: row.currency,
        occurredAt: new Date(row.occurred_at).toISOString(),
      },
    });
  }
  return out;
}

async function fast(text: string | Buffer, cuts: number[] = []): Promise<ReportLine[]> {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const chunks: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > at && cut < bytes.length) {
      chunks.push(bytes.subarray(at, cut));
      at = cut;
    }
  }
  chunks.push(bytes.subarray(at));
  const out: ReportLine[] = [];
  for await (const batch of parseSettlementCsv(Readable.from(chunks))) out.push(...batch);
  return out;
}

async function expectSameAsReference(text: string | Buffer, cuts: number[] = []): Promise<ReportLine[]> {
  const expected = await reference(text);
  const actual = await fast(text, cuts);
  // Order within a file is by line number: csv-parse reports a skipped record as soon as it meets it.
  // occurredAt may keep the report's own UTC text: the same instant as the reference's.
  const byLine = (lines: ReportLine[]) =>
    [...lines]
      .sort((a, b) => a.lineNo - b.lineNo)
      .map((l) => ('row' in l ? { ...l, row: { ...l.row, occurredAt: new Date(l.row.occurredAt).toISOString() } } : l));
  expect(byLine(actual)).toEqual(byLine(expected));
  return actual;
}

const GOOD = 'payment,pi_1,,ord-1,succeeded,1000,usd,2025-01-01T00:00:00Z';

describe('parsing a settlement CSV', () => {
  test('when lines are plain, then each is a row numbered by its line in the file', async () => {
    const lines = await expectSameAsReference(`${HEADER}\n${GOOD}\n\n${GOOD.replace('pi_1', 'pi_2')}\n`);
    expect(lines.map((l) => l.lineNo)).toEqual([2, 4]);
    expect(lines[0]).toEqual({
      lineNo: 2,
      row: {
        kind: 'payment',
        transactionId: 'pi_1',
        paymentId: 'pi_1',
        orderId: 'ord-1',
        status: 'succeeded',
        amountMinor: 1000,
        currency: 'USD',
        occurredAt: '2025-01-01T00:00:00Z',
      },
    });
  });

  test.each([
    [
      'a quoted field with an embedded comma',
      `${HEADER}\n"payment","pi,1",,ord-1,succeeded,1000,USD,2025-01-01T00:00:00Z\n${GOOD}\n`,
    ],
    [
      'an escaped quote inside a quoted field',
      `${HEADER}\npayment,"pi""1",,,succeeded,5,USD,2025-01-01T00:00:00Z\n${GOOD}\n`,
    ],
    ['a quoted field spanning lines', `${HEADER}\npayment,"pi\n1",,,succeeded,5,USD,2025-01-01T00:00:00Z\n${GOOD}\n`],
    [
      'a broken quote that swallows the next lines',
      `${HEADER}\npayment,"pi_1"x,,,succeeded,5,USD,2025-01-01T00:00:00Z\n${GOOD}\n${GOOD}\n`,
    ],
    ['a quote in the middle of a field', `${HEADER}\npayment,pi"1,,,succeeded,5,USD,2025-01-01T00:00:00Z\n${GOOD}\n`],
    ['an unclosed quote at the end', `${HEADER}\n${GOOD}\npayment,"pi_1,,,succeeded,5,USD,2025-01-01T00:00:00Z\n`],
    ['CRLF line ends', `${HEADER}\r\n${GOOD}\r\n\r\n${GOOD}\r\n`],
    ['a bare LF inside a CRLF file', `${HEADER}\r\n${GOOD}\n${GOOD}\r\n${GOOD}\r\n`],
    ['a lone CR as the record delimiter', `${HEADER}\r${GOOD}\r${GOOD}\r`],
    ['a BOM', `\uFEFF${HEADER}\n${GOOD}\n`],
    ['a quoted header', `"kind",${HEADER.slice(5)}\n${GOOD}\n`],
    ['empty and whitespace-only lines', `${HEADER}\n\n   \n\t\n${GOOD}\n \n`],
    ['a trailing comma', `${HEADER}\n${GOOD},\n${GOOD}\n`],
    [
      'spaces and tabs around fields',
      `${HEADER}\n payment , pi_1 ,,\tord-1\t,succeeded,1000,USD,2025-01-01T00:00:00Z \n`,
    ],
    ['no line break after the last line', `${HEADER}\n${GOOD}`],
    ['a header only', HEADER],
    [
      'huge, zero, negative and non-integer amounts',
      [
        HEADER,
        ...['1000000000000000', '999999999999999', '0', '-5', '12.5', '1e3', ' 7 ', ''].map(
          (a, i) => `payment,pi_${i},,,succeeded,${a},USD,2025-01-01T00:00:00Z`,
        ),
      ].join('\n'),
    ],
    [
      'bad references, order IDs, kinds, statuses, currencies and times',
      [
        HEADER,
        'refund,re_1,,,succeeded,100,USD,2025-01-01T00:00:00Z',
        'payment,,,,succeeded,100,USD,2025-01-01T00:00:00Z',
        `payment,${'x'.repeat(256)},,,succeeded,100,USD,2025-01-01T00:00:00Z`,
        'payment,pi_1,,ord 1,succeeded,100,USD,2025-01-01T00:00:00Z',
        'charge,pi_1,,,paid,100,US,2025-01-01',
        'payment,pi_ü,,,succeeded,100,USD,2025-01-01T00:00:00+05:45',
        'payment,pi_1,,,succeeded,100,USD,2025-02-30T00:00:00Z',
        'payment,pi_1,,,succeeded,100,USD,2025-01-01T00:00:00.123456-03:00',
      ].join('\n'),
    ],
  ])('when the file has %s, then it reads as csv-parse and the row schema read it', async (_name, text) => {
    await expectSameAsReference(text);
    for (let cut = 1; cut < Math.min(Buffer.byteLength(text), 120); cut += 7) await expectSameAsReference(text, [cut]);
  });

  test('when a broken quote ends the file, then its line is one malformed line with the error csv-parse named', async () => {
    const lines = await expectSameAsReference(
      `${HEADER}\n${GOOD}\npayment,"pi_2"x,,,succeeded,5,USD,2025-01-01T00:00:00Z\n`,
    );
    expect(lines.map((l) => l.lineNo)).toEqual([2, 3]);
    expect(lines[1]).toMatchObject({
      error: {
        code: 'malformed',
        message: expect.stringMatching(/^Invalid Closing Quote: got "x" at line 3 /),
        raw: 'payment,"pi_2"x,,,succeeded,5,USD,2025-01-01T00:00:00Z',
      },
    });
  });

  const good = (i: number) => `payment,pi_${i},,ord-${i},succeeded,${i},USD,2025-01-01T00:00:00Z`;

  test.each([
    ['a closing quote then a space and a character', 'payment,"pi_x" x,,,succeeded,5,USD,2025-01-01T00:00:00Z'],
    ['a character right after a closing quote', 'payment,"pi_x"x,,,succeeded,5,USD,2025-01-01T00:00:00Z'],
    ['a quote inside an unquoted field', 'payment,pi"x,,,succeeded,5,USD,2025-01-01T00:00:00Z'],
  ])(
    'when a line has %s, then it is reported once and every line after it is stored with its own number',
    async (_name, bad) => {
      // 3000 lines (about 180 KB): the lines after the bad one fill the chunk it is in and several more.
      const text = [HEADER, good(1), bad, ...Array.from({ length: 3000 }, (_, i) => good(i + 2))].join('\n') + '\n';
      for (const cuts of [[], [65_536, 131_072], [Buffer.byteLength(text) / 2]]) {
        const lines = await fast(text, cuts);
        const errors = lines.filter((l) => 'error' in l);
        expect(errors).toEqual([{ lineNo: 3, error: expect.objectContaining({ code: 'malformed', raw: bad }) }]);
        const rows = lines.filter((l) => 'row' in l);
        expect(rows).toHaveLength(3001);
        for (const line of rows) {
          if (!('row' in line)) continue;
          const i = line.lineNo === 2 ? 1 : line.lineNo - 2;
          expect(line.row.transactionId).toBe(`pi_${i}`);
        }
      }
      await expectSameAsReference(text, [70_000]);
    },
  );

  test('when a quote opens and never closes, then the rest of the file is one malformed record holding every line', async () => {
    const opened = 'payment,"pi_x,,,succeeded,5,USD,2025-01-01T00:00:00Z';
    const after = Array.from({ length: 2000 }, (_, i) => good(i + 2));
    const text = [HEADER, good(1), opened, ...after].join('\n') + '\n';
    for (const cuts of [[], [65_536], [100, 70_000]]) {
      const lines = await fast(text, cuts);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatchObject({ lineNo: 2, row: { transactionId: 'pi_1' } });
      // csv-parse reads everything after the quote as one field: the error names the last line of the file, and
      // the raw text holds the opening line and all lines after it.
      expect(lines[1]).toEqual({
        lineNo: 2003,
        error: {
          code: 'malformed',
          message: expect.stringMatching(/^Quote Not Closed/),
          raw: [opened, ...after].join('\n'),
        },
      });
    }
  });

  test('when a quote opened mid-file closes lines later, then the lines between are one malformed record and reading goes on', async () => {
    const text =
      [HEADER, good(1), 'payment,"pi_x,,,succeeded', good(2), good(3), 'x" y,5', good(4), good(5)].join('\n') + '\n';
    const lines = await expectSameAsReference(text, [40, 200]);
    expect(lines.map((l) => [l.lineNo, 'row' in l ? l.row.transactionId : l.error.raw])).toEqual([
      [2, 'pi_1'],
      [6, ['payment,"pi_x,,,succeeded', good(2), good(3), 'x" y,5'].join('\n')],
      [7, 'pi_4'],
      [8, 'pi_5'],
    ]);
  });

  test('when the file is UTF-16 with a BOM, then csv-parse decodes it', async () => {
    await expectSameAsReference(
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}\n${GOOD}\n`, 'utf16le')]),
    );
  });

  test('when a chunk ends inside a multi-byte character or a CRLF, then nothing changes', async () => {
    const text = `${HEADER}\r\npayment,pi_ü€,,,succeeded,1,USD,2025-01-01T00:00:00Z\r\n${GOOD}\r\n`;
    for (let cut = 1; cut < Buffer.byteLength(text); cut += 1) await expectSameAsReference(text, [cut, cut + 1]);
  });

  test('when the header is wrong or missing, then the file is refused', async () => {
    await expect(fast('kind,amount\n')).rejects.toThrow(SettlementCsvHeaderError);
    await expect(fast('\n\n')).rejects.toThrow('the file is empty');
  });

  test('when thousands of generated files are read in random chunks, then each reads as the reference reads it', async () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const fields: Record<Column, readonly string[]> = {
      kind: ['payment', 'payment', 'refund', 'Payment', ' payment', ''],
      transaction_id: ['pi_1', 'pi_2', 're_1', '"pi,3"', '"pi""4"', 'pi\\5', '', 'pi 6', 'pï_7'],
      payment_id: ['', '', 'pi_1', '"pi_1"', 'x'.repeat(256)],
      order_id: ['', 'ord-1', 'ord.2_x', 'ord/3', '"ord-4"', 'o'.repeat(65)],
      status: ['succeeded', 'succeeded', 'failed', 'pending', 'cancelled', 'SUCCEEDED', 'done'],
      amount_minor: ['1000', '1', '0', '-1', '12.5', '999999999999999', '1000000000000000', '', ' 42', '0x10'],
      currency: ['USD', 'usd', 'NpR', 'US', 'US1', '"EUR"'],
      occurred_at: ['2025-01-01T00:00:00Z', '2025-01-01T00:00:00.5+05:45', '2025-01-01', '2024-02-29T23:59:59Z', 'x'],
    };
    const noise = ['', '   ', '\t', ',', ',,,,,,,,', '"', '"a\nb"', 'a"b', '"broken"x,y'];
    for (let file = 0; file < 1_500; file += 1) {
      const eol = pick(['\n', '\n', '\r\n']);
      const columns = random() < 0.2 ? [...SETTLEMENT_CSV_COLUMNS].reverse() : [...SETTLEMENT_CSV_COLUMNS];
      const lines = [columns.join(',')];
      const count = 1 + Math.floor(random() * 12);
      for (let i = 0; i < count; i += 1) {
        if (random() < 0.12) {
          lines.push(pick(noise));
          continue;
        }
        const values = columns.map((c) => pick(fields[c]));
        if (random() < 0.1) values.push('');
        lines.push(values.join(','));
      }
      const text = (random() < 0.1 ? '\uFEFF' : '') + lines.join(eol) + (random() < 0.8 ? eol : '');
      const cuts = Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * text.length));
      await expectSameAsReference(text, cuts);
    }
  });
});

describe('checking a settlement row', () => {
  test('when a row passes the hand-written checks, then it equals what the zod schema makes of it', () => {
    const record = Object.fromEntries(SETTLEMENT_CSV_COLUMNS.map((c, i) => [c, GOOD.split(',')[i] ?? ''])) as Record<
      Column,
      string
    >;
    const parsed = settlementRecordSchema.parse(record);
    expect(parseSettlementRecord(record)).toEqual({
      kind: parsed.kind,
      transactionId: parsed.transaction_id,
      paymentId: parsed.transaction_id,
      orderId: parsed.order_id,
      status: parsed.status,
      amountMinor: parsed.amount_minor,
      currency: parsed.currency,
      occurredAt: parsed.occurred_at,
    });
  });
});

describe('the time of a settlement row', () => {
  const occurredAt = (time: string) => {
    const row = parseSettlementRecord({
      kind: 'payment',
      transaction_id: 'pi_1',
      payment_id: '',
      order_id: '',
      status: 'succeeded',
      amount_minor: '1',
      currency: 'USD',
      occurred_at: time,
    });
    return 'problem' in row ? row.problem : row.occurredAt;
  };

  test('when it is UTC to the millisecond at most, then its own text is kept', () => {
    expect(occurredAt('2025-01-01T00:00:00Z')).toBe('2025-01-01T00:00:00Z');
    expect(occurredAt('2025-01-01T00:00:00.5Z')).toBe('2025-01-01T00:00:00.5Z');
  });

  test('when it has an offset or more than millisecond precision, then it becomes UTC to the millisecond', () => {
    expect(occurredAt('2025-01-01T05:45:00+05:45')).toBe('2025-01-01T00:00:00.000Z');
    expect(occurredAt('2025-01-01T00:00:00.123456-03:00')).toBe('2025-01-01T03:00:00.123Z');
    expect(occurredAt('2025-01-01T00:00:00.1239Z')).toBe('2025-01-01T00:00:00.123Z');
  });
});
