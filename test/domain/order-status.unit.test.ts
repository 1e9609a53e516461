import { ORDER_STATUSES } from '../../contracts/order.contract';
import { canTransition, statusesLeadingTo } from '../../domain/order-status';

describe('order status machine', () => {
  it('when an order is paid, then only an order awaiting payment can become PAID', () => {
    expect(statusesLeadingTo('PAID')).toEqual(['AWAITING_PAYMENT']);
  });

  it('when a refund completes, then paid, partially refunded and every closed-unpaid status can become REFUNDED', () => {
    expect(statusesLeadingTo('REFUNDED').sort()).toEqual(
      ['CANCELLED', 'EXPIRED', 'FAILED', 'PAID', 'PARTIALLY_REFUNDED'].sort(),
    );
  });

  it('when an order is REFUNDED, then nothing moves it again', () => {
    expect(ORDER_STATUSES.filter((to) => canTransition('REFUNDED', to))).toEqual([]);
  });

  it('when an order has closed, then it never goes back to waiting for payment', () => {
    for (const from of ORDER_STATUSES) {
      if (from === 'PENDING') continue;
      expect(canTransition(from, 'PENDING')).toBe(false);
      expect(canTransition(from, 'AWAITING_PAYMENT')).toBe(false);
    }
  });

  it('when a paid order is refunded in parts, then it can stay PARTIALLY_REFUNDED but never become unpaid', () => {
    expect(canTransition('PARTIALLY_REFUNDED', 'PARTIALLY_REFUNDED')).toBe(true);
    expect(['FAILED', 'EXPIRED', 'CANCELLED'].some((to) => canTransition('PAID', to as never))).toBe(false);
  });
});
