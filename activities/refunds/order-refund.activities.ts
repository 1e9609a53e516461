// The activities of orderRefundWorkflow: the ledger side of a refund made after the order's workflow closed. Several
// refund workflows may run for one order at once, so nothing here trusts a number a workflow carried: every amount is
// read from the refunds table under the order's row lock, and every write is idempotent (keyed by the refund ID, or
// conditional on the values it would write).
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from '../../config/logger';
import { ORDER_ERROR_TYPES, type OrderStatus } from '../../contracts/order.contract';
import { insertStatusHistory } from '../../db/orders/orders.repo';
import { inTransaction, type Pool, type PoolClient } from '../../db/pool';
import {
  findRefund,
  insertRefundIfAbsent,
  LIVE_REFUND_STATES,
  lockOrderLedger,
  sumRefundsOfPayment,
  type OrderLedger,
  type RefundState,
} from '../../db/refunds/refunds.repo';
import { REFUNDABLE_STATUSES } from '../../domain/order-status';
import { runOrderActivity } from '../activity-context';
import { orderNotFound } from '../activity-errors';
import type { OrderRefundActivities, SettledOrderRefund } from './order-refund-activity.types';

export interface OrderRefundActivityDeps {
  pool: Pool;
  logger: Logger;
}

/** The order's refunds against its own capture in the given states, other than `exceptRefundId` (the one ledger). */
function sumOwnRefunds(
  client: PoolClient,
  order: OrderLedger,
  orderId: string,
  states: readonly RefundState[],
  exceptRefundId: string,
): Promise<number> {
  return sumRefundsOfPayment(client, {
    orderId,
    paymentReference: order.paymentReference,
    ownPayment: true,
    exceptRefundId,
    states,
  });
}

export function createOrderRefundActivities({ pool, logger }: OrderRefundActivityDeps): OrderRefundActivities {
  const run = <T>(activity: string, orderId: string, body: (log: Logger) => Promise<T>): Promise<T> =>
    runOrderActivity(logger, { activity, orderId, failedMessage: 'refund activity failed' }, body);

  return {
    async prepareOrderRefund(input) {
      return run('prepareOrderRefund', input.orderId, (log) =>
        inTransaction(pool, async (client) => {
          const order = await lockOrderLedger(client, input.orderId);
          if (!order) throw orderNotFound(input.orderId);
          const against = {
            capturedAmountMinor: order.capturedAmountMinor,
            intentId: order.intentId ?? '',
            ...(order.paymentReference ? { paymentReference: order.paymentReference } : {}),
            status: order.status,
            needsAttention: order.needsAttention,
          };
          const existing = await findRefund(client, input.refundId);
          if (existing) {
            // A retry, or the same request started again after its workflow was deleted: the row it wrote stands.
            if (
              existing.orderId !== input.orderId ||
              (input.amountMinor !== undefined && existing.amountMinor !== input.amountMinor)
            ) {
              throw ApplicationFailure.create({
                type: ORDER_ERROR_TYPES.refundRecordConflict,
                message: `refund ${input.refundId} is already recorded for a different order or amount`,
                nonRetryable: true,
              });
            }
            return { ...against, amountMinor: existing.amountMinor };
          }
          if (!REFUNDABLE_STATUSES.includes(order.status) || !order.intentId) {
            throw ApplicationFailure.create({
              type: ORDER_ERROR_TYPES.invalidTransition,
              message: `order ${input.orderId} is ${order.status}: nothing to refund`,
              nonRetryable: true,
              details: [{ orderId: input.orderId, current: order.status }],
            });
          }
          const held = await sumOwnRefunds(client, order, input.orderId, LIVE_REFUND_STATES, input.refundId);
          const refundable = order.capturedAmountMinor - held;
          const amountMinor = input.amountMinor ?? refundable;
          if (amountMinor <= 0 || amountMinor > refundable) {
            throw ApplicationFailure.create({
              type: ORDER_ERROR_TYPES.refundExceedsCaptured,
              message: `refund of ${amountMinor} exceeds the refundable ${Math.max(refundable, 0)}`,
              nonRetryable: true,
              details: [{ orderId: input.orderId, refundableAmountMinor: Math.max(refundable, 0) }],
            });
          }
          await insertRefundIfAbsent(client, {
            refundId: input.refundId,
            orderId: input.orderId,
            amountMinor,
            currency: order.currency,
            reason: input.reason,
          });
          log.info({ refundId: input.refundId, amountMinor }, 'refund reserved in the ledger');
          return { ...against, amountMinor };
        }),
      );
    },

    async settleOrderRefund(input) {
      return run('settleOrderRefund', input.orderId, (log) =>
        inTransaction(pool, async (client): Promise<SettledOrderRefund> => {
          const order = await lockOrderLedger(client, input.orderId);
          if (!order) throw orderNotFound(input.orderId);
          const refund = await findRefund(client, input.refundId);
          if (!refund) throw new Error(`refund ${input.refundId} of order ${input.orderId} is not recorded`);
          if (refund.state !== 'succeeded') {
            // Failed, or waiting (for an operator, or at the gateway): a person has to look at it.
            if (!order.needsAttention) {
              const reason = `needs_attention:${refund.state === 'failed' ? 'refund_failed' : refund.state === 'awaiting_manual' ? 'manual_refund_required' : 'refund_pending'}`;
              await client.query('UPDATE orders SET needs_attention = true, updated_at = now() WHERE order_id = $1', [
                input.orderId,
              ]);
              await insertStatusHistory(client, {
                orderId: input.orderId,
                from: order.status,
                to: order.status,
                reason,
                at: input.at,
              });
              log.warn({ refundId: input.refundId, state: refund.state }, 'order flagged after refund');
            }
            return {
              refundState: refund.state,
              status: order.status,
              needsAttention: true,
              refundedAmountMinor: order.refundedAmountMinor,
            };
          }
          // This refund succeeded, so it is counted with the others.
          const refunded = await sumOwnRefunds(client, order, input.orderId, ['succeeded'], '');
          const to: OrderStatus = refunded >= order.capturedAmountMinor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
          const moves = REFUNDABLE_STATUSES.includes(order.status) || order.status === to;
          if (moves && (order.status !== to || order.refundedAmountMinor !== refunded)) {
            await client.query(
              `UPDATE orders SET status = $2, refunded_amount_minor = $3, updated_at = now() WHERE order_id = $1`,
              [input.orderId, to, refunded],
            );
            await insertStatusHistory(client, {
              orderId: input.orderId,
              from: order.status,
              to,
              reason: `refund_succeeded:${input.reason}`,
              at: input.at,
            });
            log.info({ refundId: input.refundId, from: order.status, to, refunded }, 'order refunded');
            return {
              refundState: 'succeeded',
              status: to,
              needsAttention: order.needsAttention,
              refundedAmountMinor: refunded,
            };
          }
          return {
            refundState: 'succeeded',
            status: order.status,
            needsAttention: order.needsAttention,
            refundedAmountMinor: order.refundedAmountMinor,
          };
        }),
      );
    },
  };
}
