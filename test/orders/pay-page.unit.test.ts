// What the pay link says in words: the amount in major units, and how the last attempt ended.
import { majorUnits, outcomeOfLastEndedAttempt } from '../../api/orders/pay-page.routes';
import type { PayPageAttempt } from '../../db/orders/pay-page.repo';

const attempt = (overrides: Partial<PayPageAttempt>): PayPageAttempt => ({
  number: 1,
  gateway: 'stripe',
  intentId: 'cs_1',
  paymentUrl: 'https://pay.example/cs_1',
  status: 'open',
  failureReason: null,
  declineCode: null,
  ...overrides,
});

describe('majorUnits', () => {
  it.each([
    [150_050, 'NPR', '1500.50'],
    [2_500, 'USD', '25'],
    [1, 'EUR', '0.01'],
    [500, 'JPY', '500'],
    [1_234, 'KWD', '1234 minor units of'],
  ])('when %d minor units of %s are shown, then the payer reads %s', (amount, currency, shown) => {
    expect(majorUnits(amount, currency)).toBe(shown);
  });
});

describe('outcomeOfLastEndedAttempt', () => {
  it('when a card was declined with a decline code, then the code is given in words', () => {
    const attempts = [attempt({ status: 'declined', declineCode: 'insufficient_funds' }), attempt({ number: 2 })];
    expect(outcomeOfLastEndedAttempt(attempts)).toBe('<p>Your card was declined (insufficient funds).</p>');
  });

  it('when a wallet payment was declined without a code, then it says declined and nothing more', () => {
    expect(outcomeOfLastEndedAttempt([attempt({ gateway: 'khalti', status: 'declined' })])).toBe(
      '<p>Your payment was declined.</p>',
    );
  });

  it('when the decline code is not a plain code word, then it is not shown', () => {
    const odd = attempt({ status: 'declined', declineCode: '<script>alert(1)</script>' });
    expect(outcomeOfLastEndedAttempt([odd])).toBe('<p>Your card was declined.</p>');
  });

  it('when the last attempt that ended was cancelled or expired, then it says so; a superseded one is skipped', () => {
    expect(outcomeOfLastEndedAttempt([attempt({ status: 'cancelled' }), attempt({ status: 'superseded' })])).toContain(
      'was cancelled; nothing was charged',
    );
    expect(outcomeOfLastEndedAttempt([attempt({ status: 'expired' })])).toContain('expired before it was completed');
  });

  it('when no attempt has ended, then there is nothing to say', () => {
    expect(outcomeOfLastEndedAttempt([attempt({})])).toBe('');
    expect(outcomeOfLastEndedAttempt([])).toBe('');
  });
});
