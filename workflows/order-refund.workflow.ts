// orderRefundWorkflow: one refund request for an order whose own workflow has closed (after its grace window), ID
// `order-refund-<orderId>-<requestKey>` (orderRefundWorkflowId), refund ID `refund-<orderId>-k<requestKey>`. While the
// order workflow is open it stays the order's single writer; once it has closed, each refund request runs here, and
// several may run for one order at once. The DB ledger is their guard: the amount is reserved under the order's row
// lock (prepareOrderRefund) and checked again by the refund activity right before the gateway call, and the order row
// is moved from the ledger (settleOrderRefund), never from a number this workflow carried.
// The workflow carries the order's search attributes (set at start by the API) and upserts OrderStatus and
// NeedsAttention when it moves the order, so the newest workflow for an OrderId shows the order as it is now.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OrderActivities } from '../activities/orders/order-activity.types';
import type { OrderRefundActivities, SettledOrderRefund } from '../activities/refunds/order-refund-activity.types';
import {
  ORDER_ERROR_TYPES,
  orderSearchAttributes,
  type ConfirmManualRefundRequest,
  type RefundRecord,
} from '../contracts/order.contract';
import {
  confirmOrderRefundManualUpdate,
  orderRefundUpdate,
  type OrderRefundAnswer,
  type OrderRefundWorkflowInput,
} from '../contracts/order-refund.contract';
import { databaseWrites, gatewayRefunds } from './activity-policies';
import { failureType } from './failure-type';

const NON_RETRYABLE = [
  ORDER_ERROR_TYPES.invalidTransition,
  ORDER_ERROR_TYPES.gatewayRejected,
  ORDER_ERROR_TYPES.orderNotFound,
  ORDER_ERROR_TYPES.refundRecordConflict,
  ORDER_ERROR_TYPES.refundExceedsCaptured,
  ORDER_ERROR_TYPES.invalidOrderData,
];

/** Ledger reads and writes: retried until the database is back. */
const ledger = proxyActivities<
  Pick<OrderRefundActivities, 'prepareOrderRefund' | 'settleOrderRefund'> & Pick<OrderActivities, 'recordManualRefund'>
>(databaseWrites(NON_RETRYABLE));

/** The gateway refund, as the order workflow makes it: retried until the gateway settles it. */
const refunds = proxyActivities<Pick<OrderActivities, 'refundPayment'>>(gatewayRefunds(NON_RETRYABLE));

export async function orderRefundWorkflow(input: OrderRefundWorkflowInput): Promise<OrderRefundAnswer> {
  const { orderId, refundId } = input;
  let answer: OrderRefundAnswer | undefined;
  let confirmation: ConfirmManualRefundRequest | undefined;
  /** Set once a confirmation is recorded and the order moved: a confirming update answers only then. */
  let confirmed = false;

  setHandler(orderRefundUpdate, async () => {
    await condition(() => answer !== undefined);
    return answer as OrderRefundAnswer;
  });
  setHandler(
    confirmOrderRefundManualUpdate,
    async (request) => {
      confirmation ??= request;
      await condition(() => confirmed);
      return { refundId: request.refundId, confirmed: true as const };
    },
    {
      validator: (request) => {
        // The API lets a confirmation through only for a refunds row in awaiting_manual; one that arrives while the
        // refund activity is still reporting that state is kept until the wait.
        if (request.refundId !== refundId) {
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.invalidTransition,
            message: `refund ${request.refundId} does not wait for a manual confirmation here`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  const final = await refund();
  // A manual refund answered its update while it started waiting; the workflow's result is where it ended.
  answer ??= final;
  confirmed = true;
  await condition(allHandlersFinished);
  return final;

  async function refund(): Promise<OrderRefundAnswer> {
    let prepared;
    try {
      prepared = await ledger.prepareOrderRefund({
        orderId,
        refundId,
        amountMinor: input.amountMinor,
        currency: input.currency,
        reason: input.reason,
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      const type = failureType(error);
      if (type === undefined) throw error;
      log.warn('refund refused by the ledger', { orderId, refundId, type });
      return { outcome: 'rejected', type, ...failureDetails(error) };
    }
    const record: RefundRecord = {
      refundId,
      amountMinor: prepared.amountMinor,
      reason: input.reason,
      state: 'pending',
      requestId: input.requestId,
    };

    let state: string;
    try {
      const result = await refunds.refundPayment({
        orderId,
        gateway: input.gateway,
        intentId: prepared.intentId,
        paymentReference: prepared.paymentReference,
        refundId,
        amountMinor: prepared.amountMinor,
        currency: input.currency,
        reason: input.reason,
        capturedAmountMinor: prepared.capturedAmountMinor,
      });
      state = result.state;
    } catch (error) {
      if (isCancellation(error)) throw error;
      const type = failureType(error);
      // The ledger moved between the reservation and the call (a refund made elsewhere): nothing was refunded.
      if (type === ORDER_ERROR_TYPES.refundExceedsCaptured || type === ORDER_ERROR_TYPES.refundRecordConflict) {
        return { outcome: 'rejected', type, ...failureDetails(error) };
      }
      log.error('refund failed', { orderId, refundId, type });
      state = 'failed';
    }

    let settled = await settle();
    if (state === 'awaiting_manual') {
      // No refund API (eSewa): the order is flagged and the refund waits, without a timeout, for an operator to refund
      // by hand and confirm it (POST /admin/refunds/:refundId/confirm). Nothing counts as refunded before.
      answer = settledAnswer(record, 'awaiting_manual', settled);
      await condition(() => confirmation !== undefined);
      if (confirmation) {
        await ledger.recordManualRefund({ ...confirmation, orderId, at: new Date().toISOString() });
        record.manualReference = confirmation.reference;
      }
      settled = await settle();
    }
    const finalState =
      settled.refundState === 'succeeded' || settled.refundState === 'failed' ? settled.refundState : 'pending';
    return settledAnswer(record, finalState, settled);
  }

  async function settle(): Promise<SettledOrderRefund> {
    const settled = await ledger.settleOrderRefund({
      orderId,
      refundId,
      reason: input.reason,
      at: new Date().toISOString(),
    });
    upsertSearchAttributes([
      { key: orderSearchAttributes.orderStatus, value: settled.status },
      { key: orderSearchAttributes.needsAttention, value: settled.needsAttention },
    ]);
    return settled;
  }
}

function settledAnswer(
  record: RefundRecord,
  state: RefundRecord['state'],
  settled: SettledOrderRefund,
): OrderRefundAnswer {
  return {
    outcome: 'settled',
    refund: { ...record, state },
    status: settled.status,
    needsAttention: settled.needsAttention,
  };
}

/** What is left to refund, when the ledger refused for that reason. */
function failureDetails(error: unknown): { refundableAmountMinor?: number } {
  const cause = (error as { cause?: { details?: unknown } } | undefined)?.cause;
  const details = Array.isArray(cause?.details) ? (cause.details[0] as Record<string, unknown> | undefined) : undefined;
  const refundable = details?.refundableAmountMinor;
  return typeof refundable === 'number' ? { refundableAmountMinor: refundable } : {};
}
