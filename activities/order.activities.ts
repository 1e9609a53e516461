// The order workflow's activities. Each one is idempotent: DB writes are keyed (ON CONFLICT DO NOTHING) or
// conditional on the expected prior status, and gateway calls carry a deterministic idempotency key, so Temporal
// may retry any of them after a crash at any point.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ORDER_ERROR_TYPES, type GatewayName } from '../contracts/order.contract';
import type { Logger } from '../config/logger';
import type { OrderActivityMetrics } from '../config/metrics';
import {
  findRecordedOrder,
  insertOrderIfAbsent,
  insertStatusHistory,
  lockOrder,
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
  metrics: OrderActivityMetrics;
  clock?: () => Date;
}

export function createOrderActivities(deps: OrderActivityDeps): OrderActivities {
  const { pool, gateways, logger, metrics } = deps;
  const clock = deps.clock ?? (() => new Date());

  /**
   * Runs an activity body with a logger bound to the order and, under Temporal, to the workflow and attempt, and
   * translates what the body throws into what Temporal should see.
   */
  async function run<T>(activity: string, orderId: string, body: (log: Logger) => Promise<T>): Promise<T> {
    const log = logger.child({ activity, orderId, ...temporalBindings() });
    try {
      return await body(log);
    } catch (error) {
      const failure = toActivityFailure(error, { orderId });
      const type = failure instanceof ApplicationFailure ? failure.type : undefined;
      const retryable = !(failure instanceof ApplicationFailure && failure.nonRetryable);
      log.warn({ type, retryable, err: failure }, 'order activity failed');
      throw failure;
    }
  }

  async function refundAtGateway(input: RefundPaymentInput, log: Logger): Promise<RefundResult> {
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
    const previous = await updateRefundState(pool, input.refundId, result);
    // Counted when the state is new, so a retry hearing the same answer again does not count twice.
    if (previous !== result.state) {
      metrics.refundSettled({ gateway: input.gateway, reason: input.reason, state: result.state });
    }
    log.info(
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
      return run('recordOrder', input.orderId, (log) =>
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
            log.info({ gateway: input.gateway }, 'order recorded');
            return { created: true };
          }
          const recorded = await findRecordedOrder(client, input.orderId);
          if (recorded?.requestHash !== input.requestHash) {
            throw ApplicationFailure.create({
              type: ORDER_ERROR_TYPES.orderRecordConflict,
              message: `order ${input.orderId} is already recorded for a different request`,
              nonRetryable: true,
              details: [{ orderId: input.orderId }],
            });
          }
          // The workflow goes on only from PENDING: a later status means an earlier workflow already ran this order.
          return { created: false, status: recorded.status };
        }),
      );
    },

    async createPaymentIntent(input) {
      return run('createPaymentIntent', input.orderId, async (log) => {
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
            log.error(
              { recordedIntentId: recorded.intentId, intentId: intent.intentId },
              'gateway returned a second intent for the same order; the recorded one is orphaned',
            );
          }
        }
        log.info({ intentId: intent.intentId }, 'payment intent created');
        const { expiresAt, ...created } = intent;
        return expiresAt === undefined ? created : { ...created, expiresAt: expiresAt.toISOString() };
      });
    },

    async fetchPaymentStatus(input) {
      return run('fetchPaymentStatus', input.orderId, async (log) => {
        const { gateway, ...lookup } = input;
        let status;
        try {
          status = await gateways(gateway).fetchPaymentStatus(lookup);
        } catch (error) {
          metrics.statusChecked(input.gateway, 'error');
          throw error;
        }
        metrics.statusChecked(input.gateway, status.state);
        log.debug(
          {
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
      return run('cancelPaymentIntent', input.orderId, async (log) => {
        const { gateway, ...lookup } = input;
        const outcome = await gateways(gateway).cancelIntent(lookup);
        log.info({ intentId: input.intentId, outcome: outcome.outcome }, 'intent cancel');
        return outcome;
      });
    },

    async refundPayment(input) {
      return run('refundPayment', input.orderId, async (log) => {
        const result = await refundAtGateway(input, log);
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
          log.warn({ refundId: input.refundId, gateway: input.gateway }, 'refund needs an operator: no refund API');
        }
        return { gatewayRefundId: result.gatewayRefundId, state: result.state };
      });
    },

    async recordManualRefund(input) {
      return run('recordManualRefund', input.orderId, async (log) => {
        const applied = await confirmManualRefund(pool, input);
        log.info({ refundId: input.refundId, actor: input.actor, applied }, 'manual refund confirmed');
        return { applied };
      });
    },

    async transitionOrder(input) {
      return run('transitionOrder', input.orderId, async (log) => {
        const result = await inTransaction(pool, async (client) => {
          const order = await lockOrder(client, input.orderId);
          if (order === undefined) throw orderNotFound(input.orderId);
          const current = order.status;
          if (await updateOrderStatus(client, input)) {
            await insertStatusHistory(client, {
              orderId: input.orderId,
              from: current,
              to: input.to,
              reason: input.reason,
              at: input.at,
            });
            log.info({ from: current, to: input.to, reason: input.reason }, 'order transitioned');
            return { applied: true, status: input.to, order };
          }
          // Already there: a retry whose first attempt committed, or a self-transition with nothing new.
          if (current === input.to) return { applied: false, status: current, order };
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.invalidTransition,
            message: `order ${input.orderId} is ${current}, expected one of ${input.from.join(', ')} to move to ${input.to}`,
            nonRetryable: true,
            details: [{ orderId: input.orderId, current, expected: input.from, to: input.to }],
          });
        });
        // Counted after the commit and only when this call moved the row, so retries never count twice.
        if (result.applied && result.order.status !== input.to) {
          metrics.orderTransitioned({
            gateway: result.order.gateway,
            to: input.to,
            secondsSinceCheckout: (Date.parse(input.at) - result.order.createdAt.getTime()) / 1000,
          });
        }
        return { applied: result.applied, status: result.status };
      });
    },
  };
}

/** The workflow and attempt an activity runs for, when it runs under Temporal (not in a direct call). */
function temporalBindings(): Record<string, unknown> {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return {};
  }
  return {
    workflowId: info.workflowExecution?.workflowId,
    runId: info.workflowExecution?.runId,
    attempt: info.attempt,
  };
}
