// The order workflow's activities. Each one is idempotent: DB writes are keyed (ON CONFLICT DO NOTHING) or
// conditional on the expected prior status, and gateway calls carry a deterministic idempotency key, so Temporal
// may retry any of them after a crash at any point.
import { ApplicationFailure } from '@temporalio/common';
import { ORDER_ERROR_TYPES, type GatewayName } from '../contracts/order.contract';
import type { Logger } from '../config/logger';
import {
  findOrderRequestHash,
  insertOrderIfAbsent,
  insertStatusHistory,
  lockOrderStatus,
  updateOrderStatus,
} from '../db/orders.repo';
import { findPaymentAttempt, insertPaymentAttemptIfAbsent } from '../db/payment-attempts.repo';
import { inTransaction, type Pool } from '../db/pool';
import { confirmManualRefund, findRefund, insertRefundIfAbsent, updateRefundState } from '../db/refunds.repo';
import type { PaymentGateway, RefundResult } from '../gateways/gateway';
import { orderNotFound, toActivityFailure } from './activity-errors';
import type { OrderActivities, RefundPaymentInput } from './order-activity.types';

/** Resolves the adapter for an order's gateway. */
export type GatewayRegistry = (name: GatewayName) => PaymentGateway;

export interface OrderActivityDeps {
  pool: Pool;
  gateways: GatewayRegistry;
  logger: Logger;
  clock?: () => Date;
}

export function createOrderActivities(deps: OrderActivityDeps): OrderActivities {
  const { pool, gateways, logger } = deps;
  const clock = deps.clock ?? (() => new Date());

  /** Runs an activity body, translating what it throws into what Temporal should see. */
  async function run<T>(activity: string, orderId: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      const failure = toActivityFailure(error, { orderId });
      const type = failure instanceof ApplicationFailure ? failure.type : undefined;
      const retryable = !(failure instanceof ApplicationFailure && failure.nonRetryable);
      logger.warn({ activity, orderId, type, retryable, err: failure }, 'order activity failed');
      throw failure;
    }
  }

  async function refundAtGateway(input: RefundPaymentInput): Promise<RefundResult> {
    const inserted = await insertRefundIfAbsent(pool, input);
    if (!inserted) {
      const existing = await findRefund(pool, input.refundId);
      // The refund ID is the gateway idempotency key: reusing it for another amount would make the gateway
      // replay (or refuse) the first refund while we believed we had asked for a different one.
      if (
        existing &&
        (existing.orderId !== input.orderId ||
          existing.amountMinor !== input.amountMinor ||
          existing.currency !== input.currency)
      ) {
        throw ApplicationFailure.create({
          type: ORDER_ERROR_TYPES.refundRecordConflict,
          message: `refund ${input.refundId} is already recorded for a different order, amount or currency`,
          nonRetryable: true,
          details: [
            {
              refundId: input.refundId,
              recorded: { orderId: existing.orderId, amountMinor: existing.amountMinor, currency: existing.currency },
            },
          ],
        });
      }
    }
    const result = await gateways(input.gateway).refund({
      orderId: input.orderId,
      intentId: input.intentId,
      paymentReference: input.paymentReference,
      refundId: input.refundId,
      amountMinor: input.amountMinor,
      currency: input.currency,
      reason: input.reason,
    });
    await updateRefundState(pool, input.refundId, result);
    logger.info(
      {
        orderId: input.orderId,
        refundId: input.refundId,
        gatewayRefundId: result.gatewayRefundId,
        state: result.state,
      },
      'refund state from gateway',
    );
    return result;
  }

  return {
    async recordOrder(input) {
      return run('recordOrder', input.orderId, () =>
        inTransaction(pool, async (client) => {
          const now = clock();
          if (await insertOrderIfAbsent(client, input, now)) {
            await insertStatusHistory(client, {
              orderId: input.orderId,
              from: null,
              to: 'PENDING',
              reason: 'order_created',
              at: now,
            });
            logger.info({ orderId: input.orderId, gateway: input.gateway }, 'order recorded');
            return { created: true };
          }
          const storedHash = await findOrderRequestHash(client, input.orderId);
          if (storedHash !== input.requestHash) {
            throw ApplicationFailure.create({
              type: ORDER_ERROR_TYPES.orderRecordConflict,
              message: `order ${input.orderId} is already recorded for a different request`,
              nonRetryable: true,
              details: [{ orderId: input.orderId }],
            });
          }
          return { created: false };
        }),
      );
    },

    async createPaymentIntent(input) {
      return run('createPaymentIntent', input.orderId, async () => {
        const intent = await gateways(input.gateway).createIntent({
          orderId: input.orderId,
          amountMinor: input.amountMinor,
          currency: input.currency,
          description: input.description,
          customer: input.customer,
          returnUrl: input.returnUrl,
          expiresAt: new Date(input.expiresAt),
          idempotencyKey: input.orderId,
        });
        const attempt = { orderId: input.orderId, gateway: input.gateway, ...intent };
        if (!(await insertPaymentAttemptIfAbsent(pool, attempt))) {
          const recorded = await findPaymentAttempt(pool, input.orderId, input.gateway);
          if (recorded && recorded.intentId !== intent.intentId) {
            // Only possible if the gateway forgot our idempotency key. The workflow goes on with the intent returned
            // now; the recorded one is left open at the gateway, so say so loudly for someone to close it.
            logger.error(
              { orderId: input.orderId, recordedIntentId: recorded.intentId, intentId: intent.intentId },
              'gateway returned a second intent for the same order; the recorded one is orphaned',
            );
          }
        }
        logger.info({ orderId: input.orderId, intentId: intent.intentId }, 'payment intent created');
        const { expiresAt, ...created } = intent;
        return expiresAt === undefined ? created : { ...created, expiresAt: expiresAt.toISOString() };
      });
    },

    async fetchPaymentStatus(input) {
      return run('fetchPaymentStatus', input.orderId, async () => {
        const { gateway, ...lookup } = input;
        const status = await gateways(gateway).fetchPaymentStatus(lookup);
        logger.debug(
          {
            orderId: input.orderId,
            intentId: input.intentId,
            state: status.state,
            gatewayStatus: status.gatewayStatus,
          },
          'payment status fetched',
        );
        return status;
      });
    },

    async cancelPaymentIntent(input) {
      return run('cancelPaymentIntent', input.orderId, async () => {
        const { gateway, ...lookup } = input;
        const outcome = await gateways(gateway).cancelIntent(lookup);
        logger.info({ orderId: input.orderId, intentId: input.intentId, outcome: outcome.outcome }, 'intent cancel');
        return outcome;
      });
    },

    async refundPayment(input) {
      return run('refundPayment', input.orderId, async () => {
        const result = await refundAtGateway(input);
        if (result.state === 'pending') {
          // Retryable on purpose: the workflow sees the refund only once it is final, and every retry asks the
          // gateway again with the same key, so it cannot refund twice.
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.refundPending,
            message: `refund ${input.refundId} is pending at the gateway`,
            nonRetryable: false,
            details: [{ refundId: input.refundId, gatewayRefundId: result.gatewayRefundId }],
          });
        }
        if (result.state === 'awaiting_manual') {
          logger.warn(
            { orderId: input.orderId, refundId: input.refundId, gateway: input.gateway },
            'refund needs an operator: the gateway has no refund API',
          );
        }
        return { gatewayRefundId: result.gatewayRefundId, state: result.state };
      });
    },

    async recordManualRefund(input) {
      return run('recordManualRefund', input.orderId, async () => {
        const applied = await confirmManualRefund(pool, input);
        logger.info(
          { orderId: input.orderId, refundId: input.refundId, actor: input.actor, applied },
          'manual refund confirmed',
        );
        return { applied };
      });
    },

    async transitionOrder(input) {
      return run('transitionOrder', input.orderId, () =>
        inTransaction(pool, async (client) => {
          const current = await lockOrderStatus(client, input.orderId);
          if (current === undefined) throw orderNotFound(input.orderId);
          if (await updateOrderStatus(client, input)) {
            await insertStatusHistory(client, {
              orderId: input.orderId,
              from: current,
              to: input.to,
              reason: input.reason,
              at: input.at,
            });
            logger.info(
              { orderId: input.orderId, from: current, to: input.to, reason: input.reason },
              'order transitioned',
            );
            return { applied: true, status: input.to };
          }
          // Already there: a retry whose first attempt committed, or a self-transition with nothing new.
          if (current === input.to) return { applied: false, status: current };
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.invalidTransition,
            message: `order ${input.orderId} is ${current}, expected one of ${input.from.join(', ')} to move to ${input.to}`,
            nonRetryable: true,
            details: [{ orderId: input.orderId, current, expected: input.from, to: input.to }],
          });
        }),
      );
    },
  };
}
