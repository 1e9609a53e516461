// POST /pay/:orderId/attempts as a story: the payer, back at the order's pay link, asks to pay (again, or with
// another of the order's gateways). The order's workflow decides: it answers with the attempt that is open, or
// starts a new one (a new intent, after closing the open one where the gateway allows it), or refuses. The API only
// asks within a deadline and says where the payer goes next; the route makes that a redirect or a page.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import type { Logger } from '../../config/logger';
import {
  ORDER_ERROR_TYPES,
  orderWorkflowId,
  startPaymentAttemptUpdate,
  type GatewayName,
  type OrderStatus,
  type StartPaymentAttemptResult,
} from '../../contracts/order.contract';
import { findOrderStatus } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import { isWebUrl } from '../http/html.view';
import { withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

export interface StartPaymentAttemptDeps {
  config: Pick<ApiConfig, 'CHECKOUT_TIMEOUT'>;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export type StartPaymentAttemptOutcome =
  /** Go and pay: the open attempt's page (for eSewa, the pay link itself, which then serves the signed form). */
  | { kind: 'pay_at'; orderId: string; paymentUrl: string; attemptNumber: number; gateway: GatewayName }
  /** Paid, cancelled, expired, failed or out of attempts: nothing more can be paid. */
  | { kind: 'not_payable'; orderId: string; status: OrderStatus | null }
  /** The payer chose a gateway the order does not offer. */
  | { kind: 'gateway_not_allowed'; orderId: string; gateway: GatewayName | undefined }
  /** No order with this ID. */
  | { kind: 'not_found'; orderId: string }
  /** Temporal did not answer in time; asking again later is safe (an open attempt is answered, not repeated). */
  | { kind: 'unavailable'; orderId: string };

export async function startPaymentAttempt(
  deps: StartPaymentAttemptDeps,
  { orderId, gateway }: { orderId: string; gateway?: GatewayName },
): Promise<StartPaymentAttemptOutcome> {
  let result: StartPaymentAttemptResult;
  try {
    // A new attempt can mean a gateway call to create (and one to close) an intent: a checkout's budget.
    result = await withTemporalDeadline(deps.temporal, deps.config.CHECKOUT_TIMEOUT, () =>
      deps.temporal.workflow
        .getHandle(orderWorkflowId(orderId))
        .executeUpdate(startPaymentAttemptUpdate, { args: [gateway === undefined ? {} : { gateway }] }),
    );
  } catch (error) {
    return refusalOutcome(deps, { orderId, gateway }, error);
  }
  const { attempt } = result;
  if (attempt === null || attempt.status !== 'open' || !isWebUrl(attempt.paymentUrl)) {
    deps.logger.info({ orderId, status: result.status }, 'payment attempt refused: order not payable');
    return { kind: 'not_payable', orderId, status: result.status };
  }
  deps.logger.info({ orderId, attempt: attempt.number, gateway: attempt.gateway }, 'payment attempt open');
  return {
    kind: 'pay_at',
    orderId,
    paymentUrl: attempt.paymentUrl,
    attemptNumber: attempt.number,
    gateway: attempt.gateway,
  };
}

async function refusalOutcome(
  deps: StartPaymentAttemptDeps,
  { orderId, gateway }: { orderId: string; gateway?: GatewayName },
  error: unknown,
): Promise<StartPaymentAttemptOutcome> {
  const failureType = applicationFailureType(error);
  if (failureType === ORDER_ERROR_TYPES.gatewayNotAllowed) return { kind: 'gateway_not_allowed', orderId, gateway };
  if (failureType === ORDER_ERROR_TYPES.invalidTransition) {
    return { kind: 'not_payable', orderId, status: (await findOrderStatus(deps.pool, orderId)) ?? null };
  }
  // Updates cannot reach a workflow that never existed or has completed (past its grace window); the row tells which.
  if (isWorkflowNotFoundError(error)) {
    const status = await findOrderStatus(deps.pool, orderId);
    return status ? { kind: 'not_payable', orderId, status } : { kind: 'not_found', orderId };
  }
  if (isTemporalUnavailableError(error)) {
    deps.logger.warn({ orderId }, 'payment attempt not started: Temporal unavailable');
    return { kind: 'unavailable', orderId };
  }
  // Any other refusal by the workflow (a run from before payment attempts has no handler for the update and refuses
  // it): the order cannot start an attempt, which is what the payer is told; nothing was changed.
  if (error instanceof WorkflowUpdateFailedError) {
    deps.logger.warn({ orderId, failureType }, 'payment attempt refused by the order workflow');
    return { kind: 'not_payable', orderId, status: (await findOrderStatus(deps.pool, orderId)) ?? null };
  }
  throw error;
}
