import type { RefundRecord } from '../../contracts/order.contract';
import { inFlightRefundsMinor, unrefundedMinor } from '../../domain/refund-ledger';

function refund(refundId: string, amountMinor: number, state: RefundRecord['state'], paymentReference?: string) {
  return { refundId, amountMinor, state, reason: 'r', requestId: refundId, paymentReference } satisfies RefundRecord;
}

describe('refund ledger', () => {
  it('when refunds are pending or awaiting an operator, then they count as in flight and leave less to refund', () => {
    const ledger = {
      capturedAmountMinor: 5_000,
      refundedAmountMinor: 1_000,
      refunds: [
        refund('r1', 1_000, 'succeeded'),
        refund('r2', 1_500, 'pending'),
        refund('r3', 500, 'awaiting_manual'),
        refund('r4', 700, 'failed'),
      ],
    };
    expect(inFlightRefundsMinor(ledger)).toBe(2_000);
    expect(unrefundedMinor(ledger)).toBe(2_000);
  });

  it('when one refund is checked against the ledger, then its own in-flight amount is left out', () => {
    const ledger = { capturedAmountMinor: 5_000, refundedAmountMinor: 0, refunds: [refund('r1', 5_000, 'pending')] };
    expect(unrefundedMinor(ledger)).toBe(0);
    expect(unrefundedMinor(ledger, 'r1')).toBe(5_000);
  });

  it('when a refund returns a second capture, then it is not part of the order ledger', () => {
    const ledger = {
      capturedAmountMinor: 5_000,
      refundedAmountMinor: 0,
      refunds: [refund('r1', 5_000, 'pending', 'ch_second')],
    };
    expect(unrefundedMinor(ledger)).toBe(5_000);
  });
});
