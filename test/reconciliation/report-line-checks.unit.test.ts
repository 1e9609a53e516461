// The checks a settlement report's lines get while they stream into COPY: a row's place in the window when its time
// can be compared exactly here, and whether a (kind, transaction ID) may repeat. Each answer must be exact or hand
// the check to SQL: "inside" for a row outside, or "no duplicates" for a report with one, would lose a rejection.
import { FingerprintSet, ReportLineChecks } from '../../db/reconciliation/report-line-checks';
import type { SettlementRow } from '../../gateways/settlement';

const start = Date.parse('2031-03-01T00:00:00Z');
const end = Date.parse('2031-03-02T00:00:00Z');

function row(transactionId: string, occurredAt: string, kind: SettlementRow['kind'] = 'payment'): SettlementRow {
  return {
    kind,
    transactionId,
    paymentId: transactionId,
    status: 'succeeded',
    amountMinor: 100,
    currency: 'NPR',
    occurredAt,
  };
}

describe('the window check while streaming', () => {
  test('when a UTC time is at either edge of the window, then the start is inside and the end is outside', () => {
    const checks = new ReportLineChecks(start, end);
    expect(checks.windowPosition(row('a', '2031-03-01T00:00:00Z'))).toBe('inside');
    expect(checks.windowPosition(row('b', '2031-03-01T23:59:59.999Z'))).toBe('inside');
    expect(checks.windowPosition(row('c', '2031-03-02T00:00:00.000Z'))).toBe('outside');
    expect(checks.windowPosition(row('d', '2031-02-28T23:59:59.999Z'))).toBe('outside');
    expect(checks.windowUnchecked).toBe(0);
  });

  test('when a time is not UTC to the millisecond, then the check is left to SQL and counted', () => {
    const checks = new ReportLineChecks(start, end);
    expect(checks.windowPosition(row('a', '2031-03-01T05:45:00+05:45'))).toBe('unknown');
    expect(checks.windowPosition(row('b', '2031-03-01T00:00:00.0001Z'))).toBe('unknown');
    expect(checks.windowUnchecked).toBe(2);
  });
});

describe('the duplicate check while streaming', () => {
  test('when no (kind, transaction ID) repeats, then SQL has nothing to check', () => {
    const checks = new ReportLineChecks(start, end);
    for (let i = 0; i < 50_000; i += 1) checks.remember(row(`pay_${i}`, '2031-03-01T01:00:00Z'));
    // The same ID as a refund is another key.
    checks.remember(row('pay_1', '2031-03-01T01:00:00Z', 'refund'));
    expect(checks.mayHaveDuplicates).toBe(false);
  });

  test('when a (kind, transaction ID) repeats, however far apart, then SQL checks the report', () => {
    const checks = new ReportLineChecks(start, end);
    checks.remember(row('pay_first', '2031-03-01T01:00:00Z'));
    for (let i = 0; i < 10_000; i += 1) checks.remember(row(`pay_${i}`, '2031-03-01T01:00:00Z'));
    expect(checks.mayHaveDuplicates).toBe(false);
    checks.remember(row('pay_first', '2031-03-01T02:00:00Z'));
    expect(checks.mayHaveDuplicates).toBe(true);
  });

  test('when more keys come than it may remember, then SQL checks the report rather than memory growing', () => {
    const checks = new ReportLineChecks(start, end, 1_000);
    for (let i = 0; i < 1_000; i += 1) checks.remember(row(`pay_${i}`, '2031-03-01T01:00:00Z'));
    expect(checks.mayHaveDuplicates).toBe(false);
    checks.remember(row('pay_new', '2031-03-01T01:00:00Z'));
    expect(checks.mayHaveDuplicates).toBe(true);
  });
});

describe('the fingerprint set', () => {
  test('when keys are added across many resizes, then each is new once and known after', () => {
    const set = new FingerprintSet(1 << 20);
    let added = 0;
    for (let i = 0; i < 100_000; i += 1) if (set.add('payment', `pi_${i}`)) added += 1;
    let addedAgain = 0;
    for (let i = 0; i < 100_000; i += 7) if (set.add('payment', `pi_${i}`)) addedAgain += 1;
    expect({ added, addedAgain }).toEqual({ added: 100_000, addedAgain: 0 });
    expect(set.add('refund', 'pi_0')).toBe(true);
  });
});
