// A stand-in order workflow for the pay link's API tests: it answers startPaymentAttemptUpdate as the contract says
// (the open attempt, or a refusal typed InvalidTransition / GatewayNotAllowed) and does nothing else, so the API's
// mapping of every answer is tested against a real Temporal server while the real handler is written elsewhere.
// It records no rows: the tests seed the order's rows themselves.
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import {
  ORDER_ERROR_TYPES,
  startPaymentAttemptUpdate,
  type GatewayName,
  type StartPaymentAttemptResult,
} from '../../../contracts/order.contract';

export interface StandInOrderInput {
  orderId: string;
  /** The gateways a new attempt may use; the first is the default. */
  allowedGateways: GatewayName[];
  /** Where each gateway's attempt is paid. */
  paymentUrls: Partial<Record<GatewayName, string>>;
  /** The order is no longer awaiting payment: every request is refused with InvalidTransition. */
  closed?: boolean;
  /** Answer with no attempt (the order closed while the update ran). */
  answerWithoutAttempt?: boolean;
}

export async function orderWorkflow(input: StandInOrderInput): Promise<void> {
  let attempts = 0;
  setHandler(
    startPaymentAttemptUpdate,
    (request): StartPaymentAttemptResult => {
      if (input.answerWithoutAttempt) return { orderId: input.orderId, status: 'EXPIRED', attempt: null };
      const gateway = request.gateway ?? input.allowedGateways[0] ?? 'stripe';
      attempts += 1;
      return {
        orderId: input.orderId,
        status: 'AWAITING_PAYMENT',
        attempt: {
          number: attempts + 1,
          gateway,
          intentId: `intent-${attempts + 1}`,
          paymentUrl: input.paymentUrls[gateway] ?? '',
          status: 'open',
          failureReason: null,
          declineCode: null,
          startedAt: new Date().toISOString(),
          endedAt: null,
        },
      };
    },
    {
      validator: (request) => {
        if (input.closed) {
          throw ApplicationFailure.create({ type: ORDER_ERROR_TYPES.invalidTransition, nonRetryable: true });
        }
        if (request.gateway !== undefined && !input.allowedGateways.includes(request.gateway)) {
          throw ApplicationFailure.create({ type: ORDER_ERROR_TYPES.gatewayNotAllowed, nonRetryable: true });
        }
      },
    },
  );
  // Open until the test terminates it or the time runs out, like an order awaiting payment.
  await condition(() => false, '10 minutes');
}
