// The order's messages: the status query, the checkout, payment events and hints, cancel, refund, the
// confirmation of a manual refund, the merchant's fulfilment answer and the payer's request for a payment attempt. Handlers validate and enqueue; the phase loop acts on what they queued.
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import {
  ORDER_ERROR_TYPES,
  cancelOrderUpdate,
  checkoutUpdate,
  confirmManualRefundUpdate,
  fulfilmentUpdate,
  orderStateQuery,
  paymentEventSignal,
  paymentHintUpdate,
  refundOrderUpdate,
  startPaymentAttemptUpdate,
  type CheckoutResult,
  type FulfilmentResult,
  type OrderWorkflowInput,
} from '../../contracts/order.contract';
import type { OrderDecisions, Refusal } from './order-decisions';
import { historyTooLong } from './phase-loop';

export function registerOrderHandlers(input: OrderWorkflowInput, order: OrderDecisions): void {
  const { state } = order;
  /** Signals and accepted updates grow the history while the loop sleeps: past the bound, they wake it. */
  const noteHistoryLength = () => {
    if (historyTooLong(order, input)) order.historyWake = true;
  };

  setHandler(orderStateQuery, () => state);

  setHandler(
    checkoutUpdate,
    async (): Promise<CheckoutResult> => {
      await condition(() => order.checkoutSettled);
      const { orderId, status, paymentUrl, intentId, expiresAt, failureReason } = state;
      return { orderId, status, paymentUrl, intentId, expiresAt, failureReason };
    },
    {
      validator: ({ requestHash }) => {
        if (requestHash === input.requestHash) return;
        throw ApplicationFailure.create({
          type: ORDER_ERROR_TYPES.idempotencyConflict,
          message: `order ${input.orderId} already exists with a different request`,
          nonRetryable: true,
        });
      },
    },
  );

  setHandler(paymentEventSignal, (event) => {
    noteHistoryLength();
    order.receiveEvent(event);
  });

  setHandler(
    paymentHintUpdate,
    (event) => {
      noteHistoryLength();
      order.receiveHint(event);
    },
    {
      // A rejected update leaves no trace in the history: a flood of hints costs nothing while a lookup is due.
      validator: (event) => {
        const redundancy = order.hintRedundancy(event);
        if (redundancy)
          throw refused({ type: ORDER_ERROR_TYPES.redundantRequest, message: `hint ignored: ${redundancy}` });
      },
    },
  );

  setHandler(
    cancelOrderUpdate,
    async ({ reason }) => {
      if (order.cancelAlreadySettled()) return state;
      order.requestCancel(reason);
      await condition(() => order.cancelHandled);
      return state;
    },
    { validator: (_request) => throwIfRefused(order.cancelRefusal()) },
  );

  setHandler(
    refundOrderUpdate,
    async (request) => {
      if (order.queueRefund(request)) await condition(() => order.refundRequestDecided(request.requestId));
      throwIfRefused(order.refundRequestRefusal(request.requestId));
      return state;
    },
    { validator: (request) => throwIfRefused(order.refundRefusal(request)) },
  );

  setHandler(
    confirmManualRefundUpdate,
    async (request) => {
      order.receiveManualConfirmation(request);
      await condition(() => order.settledManualRefunds.has(request.refundId));
      return state;
    },
    { validator: ({ refundId }) => throwIfRefused(order.confirmRefusal(refundId)) },
  );

  // Refused for runs from before payment attempts, so registering it changes nothing for them.
  setHandler(
    startPaymentAttemptUpdate,
    async ({ gateway }) => {
      noteHistoryLength();
      const requestId = order.requestAttempt(gateway);
      if (requestId !== undefined) await condition(() => order.attemptRequestAnswered(requestId));
      return order.attemptResult();
    },
    { validator: ({ gateway }) => throwIfRefused(order.attemptRefusal(gateway)) },
  );

  // Refused for orders that did not ask for confirmation, so registering it changes nothing for them.
  setHandler(
    fulfilmentUpdate,
    async (answer): Promise<FulfilmentResult> => {
      noteHistoryLength();
      order.receiveFulfilment(answer);
      await condition(() => order.fulfilmentSettled());
      const outcome = order.fulfilmentOutcome(answer);
      if ('type' in outcome) throw refused(outcome);
      return outcome;
    },
    { validator: (answer) => throwIfRefused(order.fulfilmentRefusal(answer)) },
  );
}

function throwIfRefused(refusal: Refusal | undefined): void {
  if (refusal) throw refused(refusal);
}

function refused({ type, message }: Refusal): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
