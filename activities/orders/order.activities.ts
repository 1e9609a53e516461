// The order workflow's activities. Each one is idempotent: DB writes are keyed (ON CONFLICT DO NOTHING) or
// conditional on the expected prior status, and gateway calls carry a deterministic idempotency key, so Temporal
// may retry any of them after a crash at any point.
import { ApplicationFailure } from '@temporalio/common';
import { ORDER_ERROR_TYPES, type GatewayName, type OrderStatus } from '../../contracts/order.contract';
import type { Logger } from '../../config/logger';
import type { OrderActivityMetrics } from '../../config/metrics';
import {
  findRecordedOrder,
  insertOrderIfAbsent,
  insertStatusHistory,
  lockOrder,
  updateOrderStatus,
} from '../../db/orders/orders.repo';
import {
  countPaymentAttempts,
  findPaymentAttempt,
  insertPaymentAttemptIfAbsent,
  upsertPaymentAttempt,
  type AttemptUpsert,
  type RecordedPaymentAttempt,
} from '../../db/orders/payment-attempts.repo';
import { statusesLeadingTo } from '../../domain/order-status';
import { intentExpiryBefore, openedAttempt, paymentAttemptKey } from '../../domain/payment-attempts';
import { inTransaction, type Pool } from '../../db/pool';
import {
  confirmManualRefund,
  findRefund,
  insertRefundIfAbsent,
  lockOrderLedger,
  lockRefundNoWait,
  markSentToGateway,
  recordLateCapture,
  sumRefundsOfPayment,
  updateRefundState,
  LIVE_REFUND_STATES,
  type OrderLedger,
  type RefundRow,
} from '../../db/refunds/refunds.repo';
import type { CancelOutcome, PaymentGateway, PaymentStatus } from '../../gateways/gateway';
import { runOrderActivity } from '../activity-context';
import { orderNotFound } from '../activity-errors';
import type {
  CreatePaymentIntentInput,
  CreatePaymentIntentResult,
  OrderActivities,
  PaymentLookupInput,
  RefundPaymentInput,
  RefundPaymentResult,
  StartPaymentInput,
  TransitionOrderInput,
  TransitionOrderResult,
} from './order-activity.types';

/**
 * The checkout's move to AWAITING_PAYMENT once its intent exists: the same transition, attempt and expiry as the
 * workflow records (OrderSteps.startPayment), so the row and the workflow's state agree.
 */
function awaitingPaymentTransition(input: StartPaymentInput, intent: CreatePaymentIntentResult): TransitionOrderInput {
  const { intent: request, at } = input;
  const expiryMs = intentExpiryBefore(Date.parse(request.expiresAt), intent.expiresAt);
  return {
    orderId: request.orderId,
    from: statusesLeadingTo('AWAITING_PAYMENT'),
    to: 'AWAITING_PAYMENT',
    reason: 'intent_created',
    at,
    changes: {
      intentId: intent.intentId,
      paymentUrl: intent.paymentUrl,
      ...(expiryMs === undefined ? {} : { expiresAt: new Date(expiryMs).toISOString() }),
    },
    attempt: openedAttempt(request.attemptNumber ?? 1, request.gateway, intent, at),
  };
}

/** Resolves the adapter for an order's gateway. */
export type GatewayRegistry = (name: GatewayName) => PaymentGateway;

export interface OrderActivityDeps {
  pool: Pool;
  gateways: GatewayRegistry;
  logger: Logger;
  metrics: OrderActivityMetrics;
  clock?: () => Date;
  /**
   * How long a refund may stay pending at the gateway (from its first pending answer) before refundPayment stops
   * retrying and returns it as `pending` (REFUND_PENDING_LIMIT); default 72 hours.
   */
  refundPendingLimitMs?: number;
}

const DEFAULT_REFUND_PENDING_LIMIT_MS = 72 * 60 * 60_000;
/** Refunds that hold (or may hold) money of a payment: everything but a gateway's final refusal. */

type PreparedRefund =
  | { kind: 'final'; result: RefundPaymentResult }
  | {
      kind: 'call';
      previouslyAttempted: boolean;
      refundedBeforeMinor: number;
      pendingSince: Date | null;
    };

/** Statuses in which an order has stopped waiting for payment: the attempts it used are final. */
const ATTEMPTS_SETTLED_STATUSES: readonly OrderStatus[] = ['PAID', 'FAILED', 'EXPIRED', 'CANCELLED'];

function intentOfAttempt(
  attempt: Pick<RecordedPaymentAttempt, 'intentId' | 'paymentUrl'> & { intentExpiresAt?: Date | null },
): CreatePaymentIntentResult {
  return {
    intentId: attempt.intentId,
    paymentUrl: attempt.paymentUrl,
    ...(attempt.intentExpiresAt ? { expiresAt: attempt.intentExpiresAt.toISOString() } : {}),
  };
}

/**
 * The recorded attempt is the one asked for, or the workflow and the database disagree about what the attempt is:
 * going on would hand the payer an intent at another gateway than the one chosen.
 */
function checkRecordedAttempt(input: CreatePaymentIntentInput, recorded: RecordedPaymentAttempt): void {
  if (recorded.gateway === input.gateway) return;
  throw ApplicationFailure.create({
    type: ORDER_ERROR_TYPES.orderRecordConflict,
    message: `payment attempt ${recorded.number} of order ${input.orderId} is recorded at ${recorded.gateway}, not ${input.gateway}`,
    nonRetryable: true,
    details: [
      { orderId: input.orderId, attemptNumber: recorded.number, recorded: recorded.gateway, asked: input.gateway },
    ],
  });
}

/**
 * The payment a refund is made against. The order's own payment when the input names none, the order's, or the
 * order knows none yet (a late capture); its refunds may carry no reference. Any other reference is a second
 * capture of the same order, whose refunds count on their own.
 */
function paymentOf(
  input: RefundPaymentInput,
  ledger: OrderLedger,
  row: RefundRow | undefined,
): { paymentReference: string | null; ownPayment: boolean } {
  const reference = row ? row.paymentReference : (input.paymentReference ?? null);
  const ownPayment = reference === null || ledger.paymentReference === null || reference === ledger.paymentReference;
  return { paymentReference: ownPayment ? (ledger.paymentReference ?? reference) : reference, ownPayment };
}

export function createOrderActivities(deps: OrderActivityDeps): OrderActivities {
  const { pool, gateways, logger, metrics } = deps;
  const clock = deps.clock ?? (() => new Date());
  const refundPendingLimitMs = deps.refundPendingLimitMs ?? DEFAULT_REFUND_PENDING_LIMIT_MS;

  const run = <T>(activity: string, orderId: string, body: (log: Logger) => Promise<T>): Promise<T> =>
    runOrderActivity(logger, { activity, orderId, failedMessage: 'order activity failed' }, body);

  async function fetchStatus(input: PaymentLookupInput, log: Logger): Promise<PaymentStatus> {
    const { gateway, ...lookup } = input;
    let status;
    try {
      status = await gateways(gateway).fetchPaymentStatus(lookup);
    } catch (error) {
      metrics.statusChecked(gateway, 'error');
      throw error;
    }
    metrics.statusChecked(gateway, status.state);
    log.debug(
      { intentId: input.intentId, state: status.state, gatewayStatus: status.gatewayStatus },
      'payment status fetched',
    );
    return status;
  }

  async function cancelIntent(input: PaymentLookupInput, log: Logger): Promise<CancelOutcome> {
    const { gateway, ...lookup } = input;
    const outcome = await gateways(gateway).cancelIntent(lookup);
    log.info({ intentId: input.intentId, outcome: outcome.outcome }, 'intent cancel');
    return outcome;
  }

  async function createIntent(input: CreatePaymentIntentInput, log: Logger): Promise<CreatePaymentIntentResult> {
    const attemptNumber = input.attemptNumber ?? 1;
    // A retry of an activity that already recorded its intent answers from the row: a gateway without
    // idempotency keys (Khalti's initiate) would open a second intent if asked again.
    const recorded = await findPaymentAttempt(pool, input.orderId, attemptNumber);
    if (recorded) {
      checkRecordedAttempt(input, recorded);
      log.info({ attemptNumber, intentId: recorded.intentId }, 'payment intent already recorded; gateway not asked');
      return intentOfAttempt(recorded);
    }
    const intent = await gateways(input.gateway).createIntent({
      orderId: input.orderId,
      amountMinor: input.amountMinor,
      currency: input.currency,
      description: input.description,
      customer: input.customer,
      returnUrl: input.returnUrl,
      expiresAt: new Date(input.expiresAt),
      idempotencyKey: paymentAttemptKey(input.orderId, attemptNumber),
      attemptNumber,
    });
    const attempt = {
      orderId: input.orderId,
      number: attemptNumber,
      gateway: input.gateway,
      intentId: intent.intentId,
      paymentUrl: intent.paymentUrl,
      ...(intent.expiresAt ? { intentExpiresAt: intent.expiresAt } : {}),
    };
    if (await insertPaymentAttemptIfAbsent(pool, attempt)) {
      metrics.paymentAttemptChanged({
        gateway: input.gateway,
        before: undefined,
        after: 'open',
        failureReason: null,
        declineCode: null,
      });
      log.info({ attemptNumber, intentId: intent.intentId }, 'payment intent created');
      return intentOfAttempt(attempt);
    }
    // Another run of this activity recorded the attempt while this one asked the gateway. The row is what every
    // later step (callbacks, lookups, reconciliation) trusts, so it wins.
    const winner = await findPaymentAttempt(pool, input.orderId, attemptNumber);
    if (!winner) throw new Error(`payment attempt ${attemptNumber} of ${input.orderId} vanished after a conflict`);
    checkRecordedAttempt(input, winner);
    if (winner.intentId !== intent.intentId) {
      // Nobody is given this intent's payment URL, but it is open at the gateway: someone should close it.
      log.error(
        { attemptNumber, gateway: input.gateway, recordedIntentId: winner.intentId, intentId: intent.intentId },
        'a concurrent run recorded another intent for this payment attempt; the intent created now is orphaned',
      );
    }
    return intentOfAttempt(winner);
  }

  async function transition(input: TransitionOrderInput, log: Logger): Promise<TransitionOrderResult> {
    const result = await inTransaction(pool, async (client) => {
      const order = await lockOrder(client, input.orderId);
      if (order === undefined) throw orderNotFound(input.orderId);
      const current = order.status;
      // A change that keeps the status (an attempt, a fulfilment answer) finding the row moved on was overtaken:
      // a try of the same workflow task that was then discarded (its worker killed, or a signal arrived) had
      // already moved the row. Nothing is written; the answer names the row's status for the workflow to catch up.
      if (input.from.length === 1 && input.from[0] === input.to && current !== input.to) {
        log.warn({ current, kept: input.to, reason: input.reason }, 'order row moved on; change not recorded');
        return { applied: false, status: current, order, attempt: undefined };
      }
      // A retry finds the order already in `to`; anything else outside `from` is a transition the order refuses.
      if (!input.from.includes(current) && current !== input.to) {
        throw ApplicationFailure.create({
          type: ORDER_ERROR_TYPES.invalidTransition,
          message: `order ${input.orderId} is ${current}, expected one of ${input.from.join(', ')} to move to ${input.to}`,
          nonRetryable: true,
          details: [{ orderId: input.orderId, current, expected: input.from, to: input.to }],
        });
      }
      const orderChanged = await updateOrderStatus(client, input);
      const attempt: AttemptUpsert | undefined = input.attempt
        ? await upsertPaymentAttempt(client, input.orderId, input.attempt)
        : undefined;
      // Applied when anything changed: a declined try changes only its attempt while the order keeps waiting,
      // and the same transition again (a retry) changes nothing and writes no second timeline row.
      if (!orderChanged && !attempt?.changed) return { applied: false, status: current, order, attempt };
      await insertStatusHistory(client, {
        orderId: input.orderId,
        from: current,
        to: input.to,
        reason: input.reason,
        at: input.at,
      });
      const attemptsUsed =
        current !== input.to && ATTEMPTS_SETTLED_STATUSES.includes(input.to)
          ? await countPaymentAttempts(client, input.orderId)
          : undefined;
      log.info({ from: current, to: input.to, reason: input.reason }, 'order transitioned');
      return { applied: true, status: input.to, order, attempt, attemptsUsed };
    });
    // Counted after the commit and only for what this call changed, so retries never count twice.
    if (result.applied && result.order.status !== input.to) {
      metrics.orderTransitioned({
        gateway: result.order.gateway,
        to: input.to,
        secondsSinceCheckout: (Date.parse(input.at) - result.order.createdAt.getTime()) / 1000,
      });
    }
    if (result.attempt?.changed && input.attempt) {
      metrics.paymentAttemptChanged({
        gateway: input.attempt.gateway,
        before: result.attempt.statusBefore,
        after: input.attempt.status,
        failureReason: input.attempt.failureReason,
        declineCode: input.attempt.declineCode,
      });
    }
    if (result.applied && result.attemptsUsed !== undefined) {
      metrics.orderAttemptsUsed({
        gateway: input.changes?.gateway ?? result.order.gateway,
        attempts: result.attemptsUsed,
      });
    }
    return { applied: result.applied, status: result.status };
  }

  /**
   * Step 1, under the order's row lock: record the refund, or find its row. A refund already recorded as final
   * never goes further. A new refund must fit the ledger: its amount plus every other non-failed refund against the
   * same payment (succeeded, pending, requested, awaiting an operator) must not exceed what that payment captured.
   * A refused refund leaves no row (the transaction rolls back). The row is marked as sent before the gateway call,
   * so a later attempt knows the gateway may have it.
   */
  async function prepareRefund(input: RefundPaymentInput, at: Date): Promise<PreparedRefund> {
    return inTransaction(pool, async (client) => {
      const ledger = await lockOrderLedger(client, input.orderId);
      if (ledger === undefined) throw orderNotFound(input.orderId);
      await lockRefundNoWait(client, input.refundId);
      let row = await findRefund(client, input.refundId);
      if (row) {
        // The refund ID is the gateway idempotency key: reusing it for another amount would make the gateway
        // replay (or refuse) the first refund while we believed we had asked for a different one.
        if (row.orderId !== input.orderId || row.amountMinor !== input.amountMinor || row.currency !== input.currency) {
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.refundRecordConflict,
            message: `refund ${input.refundId} is already recorded for a different order, amount or currency`,
            nonRetryable: true,
            details: [
              {
                refundId: input.refundId,
                recorded: { orderId: row.orderId, amountMinor: row.amountMinor, currency: row.currency },
              },
            ],
          });
        }
        if (row.state === 'succeeded' || row.state === 'failed') {
          return {
            kind: 'final',
            result: { gatewayRefundId: row.gatewayRefundId ?? input.refundId, state: row.state },
          };
        }
      }
      const payment = paymentOf(input, ledger, row);
      if (!row) {
        let capturedAmountMinor = payment.ownPayment ? ledger.capturedAmountMinor : (input.capturedAmountMinor ?? 0);
        if (payment.ownPayment && capturedAmountMinor === 0 && (input.capturedAmountMinor ?? 0) > 0) {
          // A capture after the order closed unpaid: the order row learns it here, so the ledger covers it.
          capturedAmountMinor = input.capturedAmountMinor ?? 0;
          await recordLateCapture(client, input.orderId, {
            amountMinor: capturedAmountMinor,
            paymentReference: input.paymentReference,
          });
        }
        const otherRefundsMinor = await sumRefundsOfPayment(client, {
          ...payment,
          orderId: input.orderId,
          exceptRefundId: input.refundId,
          states: LIVE_REFUND_STATES,
        });
        if (otherRefundsMinor + input.amountMinor > capturedAmountMinor) {
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.refundExceedsCaptured,
            message: `refund ${input.refundId} of ${input.amountMinor} exceeds what is left of the capture (${capturedAmountMinor} captured, ${otherRefundsMinor} refunded or in flight)`,
            nonRetryable: true,
            details: [
              {
                refundId: input.refundId,
                amountMinor: input.amountMinor,
                capturedAmountMinor,
                otherRefundsMinor,
              },
            ],
          });
        }
        await insertRefundIfAbsent(client, {
          ...input,
          ...(payment.paymentReference === null ? {} : { paymentReference: payment.paymentReference }),
        });
        row = await findRefund(client, input.refundId);
        if (!row) throw new Error(`refund ${input.refundId} vanished inside its own transaction`);
      }
      const refundedBeforeMinor = await sumRefundsOfPayment(client, {
        ...payment,
        orderId: input.orderId,
        exceptRefundId: input.refundId,
        states: ['succeeded'],
      });
      await markSentToGateway(client, input.refundId, at);
      return {
        kind: 'call',
        previouslyAttempted: row.sentToGatewayAt !== null,
        refundedBeforeMinor,
        pendingSince: row.pendingSince,
      };
    });
  }

  /**
   * Step 2: ask the gateway, holding the refund row's lock (NOWAIT) until its answer is stored. An attempt that
   * outlived its timeout and the retry that started meanwhile can therefore never talk to the gateway at the same
   * time: the second fails at once with SQLSTATE 55P03 (retryable) and, on its next try, finds the answer stored.
   */
  async function refundAtGateway(input: RefundPaymentInput, log: Logger): Promise<RefundPaymentResult> {
    const at = clock();
    const prepared = await prepareRefund(input, at);
    if (prepared.kind === 'final') {
      log.info({ refundId: input.refundId, state: prepared.result.state }, 'refund already final; gateway not asked');
      return prepared.result;
    }
    const { result, previous } = await inTransaction(pool, async (client) => {
      await lockRefundNoWait(client, input.refundId);
      const current = await findRefund(client, input.refundId);
      if (current && (current.state === 'succeeded' || current.state === 'failed')) {
        const final = { gatewayRefundId: current.gatewayRefundId ?? input.refundId, state: current.state };
        return { result: final, previous: current.state };
      }
      const answer = await gateways(input.gateway).refund({
        orderId: input.orderId,
        intentId: input.intentId,
        paymentReference: input.paymentReference,
        refundId: input.refundId,
        amountMinor: input.amountMinor,
        currency: input.currency,
        reason: input.reason,
        ...(current?.gatewayRefundId ? { gatewayRefundId: current.gatewayRefundId } : {}),
        refundedBeforeMinor: prepared.refundedBeforeMinor,
        previouslyAttempted: prepared.previouslyAttempted,
      });
      const stored = await updateRefundState(client, input.refundId, {
        state: answer.state,
        // A manual refund has no gateway reference until the operator confirms it (confirmManualRefund).
        gatewayRefundId: answer.state === 'awaiting_manual' ? null : answer.gatewayRefundId,
        at,
      });
      return { result: answer, previous: stored };
    });
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
    if (result.state !== 'pending') return { gatewayRefundId: result.gatewayRefundId, state: result.state };
    const pendingSince = prepared.pendingSince ?? at;
    if (at.getTime() - pendingSince.getTime() >= refundPendingLimitMs) {
      // Retrying for ever would only ask again; the workflow flags the order and a person follows the refund up.
      log.warn(
        { refundId: input.refundId, gatewayRefundId: result.gatewayRefundId, pendingSince: pendingSince.toISOString() },
        'refund still pending at the gateway past the limit; handed back to the workflow',
      );
      return { gatewayRefundId: result.gatewayRefundId, state: 'pending' };
    }
    // Retryable on purpose: the workflow sees the refund once it is final (or past the limit), and every retry
    // retrieves the recorded gateway refund instead of creating one, so it cannot refund twice.
    throw ApplicationFailure.create({
      type: ORDER_ERROR_TYPES.refundPending,
      message: `refund ${input.refundId} is pending at the gateway`,
      nonRetryable: false,
      details: [{ refundId: input.refundId, gatewayRefundId: result.gatewayRefundId }],
    });
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
          // The workflow goes on only from PENDING, or from the payment a discarded try of its own first workflow
          // task started: any other later status means an earlier workflow already ran this order. The recorded
          // expiry is what the row, the pay link and the merchant's reads say; the workflow keeps it.
          const recordedByThisRun =
            recorded.status === 'AWAITING_PAYMENT' &&
            input.workflowRunId !== undefined &&
            recorded.workflowRunId === input.workflowRunId;
          return {
            created: false,
            status: recorded.status,
            expiresAt: recorded.expiresAt.toISOString(),
            ...(recordedByThisRun ? { recordedByThisRun } : {}),
          };
        }),
      );
    },

    async createPaymentIntent(input) {
      return run('createPaymentIntent', input.orderId, (log) => createIntent(input, log));
    },

    async startPayment(input) {
      return run('startPayment', input.intent.orderId, async (log) => {
        const intent = await createIntent(input.intent, log);
        await transition(awaitingPaymentTransition(input, intent), log);
        return intent;
      });
    },

    async fetchPaymentStatus(input) {
      return run('fetchPaymentStatus', input.orderId, (log) => fetchStatus(input, log));
    },

    async cancelPaymentIntent(input) {
      return run('cancelPaymentIntent', input.orderId, (log) => cancelIntent(input, log));
    },

    async closePaymentAtExpiry(input) {
      return run('closePaymentAtExpiry', input.orderId, async (log) => {
        let finalStatus: PaymentStatus | undefined;
        try {
          finalStatus = await fetchStatus(input, log);
        } catch (error) {
          // The cancel still finds a payment that won the race: every gateway's cancel reports a capture.
          log.warn({ intentId: input.intentId, err: error }, 'final status check failed; cancelling the intent anyway');
        }
        if (finalStatus?.state === 'captured') return { finalStatus };
        const cancel = await cancelIntent(input, log);
        return finalStatus ? { finalStatus, cancel } : { cancel };
      });
    },

    async refundPayment(input) {
      return run('refundPayment', input.orderId, async (log) => {
        const result = await refundAtGateway(input, log);
        if (result.state === 'awaiting_manual') {
          log.warn({ refundId: input.refundId, gateway: input.gateway }, 'refund needs an operator: no refund API');
        }
        return { gatewayRefundId: result.gatewayRefundId, state: result.state };
      });
    },

    async recordManualRefund(input) {
      return run('recordManualRefund', input.orderId, async (log) => {
        const applied = await inTransaction(pool, (client) => confirmManualRefund(client, input));
        log.info({ refundId: input.refundId, actor: input.actor, applied }, 'manual refund confirmed');
        return { applied };
      });
    },

    async transitionOrder(input) {
      return run('transitionOrder', input.orderId, (log) => transition(input, log));
    },
  };
}
