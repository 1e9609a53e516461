// POST /admin/refunds/:refundId/confirm as a story: an operator refunded an eSewa payment by hand (ePay v2 has no
// refund API) and says so, with the eSewa reference. The refund row names the order; the order's workflow, which
// has been waiting for exactly this, records it and only then counts the money as refunded. Confirming twice is
// harmless. The route records every attempt in the admin audit log. A late payment found by reconciliation after
// its order closed is refunded by a reconciliation refund workflow, and a refund asked for after the order's workflow
// closed by an order refund workflow; both wait for the same confirmation.
import type { Client } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import type { Logger } from '../../config/logger';
import { ORDER_ERROR_TYPES, confirmManualRefundUpdate, orderWorkflowId } from '../../contracts/order.contract';
import {
  confirmReconciliationManualRefundUpdate,
  reconciliationRefundId,
  reconciliationRefundWorkflowId,
} from '../../contracts/reconciliation.contract';
import {
  confirmOrderRefundManualUpdate,
  orderRefundWorkflowId,
  requestKeyOfOrderRefundId,
} from '../../contracts/order-refund.contract';
import type { Pool } from '../../db/pool';
import { findItemByRefundId } from '../../db/reconciliation/reconciliation.repo';
import { findRefund, type RefundRow } from '../../db/refunds/refunds.repo';
import { ApiError, orderClosed, temporalUnavailable } from '../http/errors';
import { withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

export interface ConfirmManualRefundDeps {
  config: Pick<ApiConfig, 'CHECKOUT_TIMEOUT'>;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export interface ConfirmManualRefundCommand {
  refundId: string;
  reference: string;
  note?: string;
  actor: string;
}

export interface ConfirmedRefund {
  refundId: string;
  orderId: string;
  state: RefundRow['state'];
  amount: number;
  currency: string;
  manualReference: string | null;
  confirmedBy: string | null;
  /** False when it had been confirmed before: nothing changed. */
  changed: boolean;
}

const refundNotFound = (refundId: string) =>
  new ApiError(404, 'refund_not_found', 'no refund with this ID', { refundId });

const refundNotAwaitingManual = (refundId: string, state: string) =>
  new ApiError(409, 'refund_not_awaiting_manual', 'the refund does not wait for a manual confirmation', {
    refundId,
    state,
  });

export async function confirmManualRefund(
  deps: ConfirmManualRefundDeps,
  command: ConfirmManualRefundCommand,
): Promise<ConfirmedRefund> {
  const refund = await findRefund(deps.pool, command.refundId);
  if (!refund) throw refundNotFound(command.refundId);
  if (refund.state === 'succeeded' && refund.manualReference !== null) return view(refund, false);
  if (refund.state !== 'awaiting_manual') throw refundNotAwaitingManual(command.refundId, refund.state);

  const request = {
    refundId: command.refundId,
    reference: command.reference,
    note: command.note,
    actor: command.actor,
  };
  try {
    // A late payment's refund (reconciliation) waits in its reconciliation refund workflow, any other in the order's.
    const late =
      refund.refundId === reconciliationRefundId(refund.orderId)
        ? await findItemByRefundId(deps.pool, refund.orderId, refund.refundId)
        : undefined;
    // A refund made after the order's workflow closed waits in its own orderRefundWorkflow, found from the refund ID.
    const requestKey = requestKeyOfOrderRefundId(refund.orderId, refund.refundId);
    await withTemporalDeadline(deps.temporal, deps.config.CHECKOUT_TIMEOUT, async () => {
      if (requestKey !== undefined) {
        await deps.temporal.workflow
          .getHandle(orderRefundWorkflowId(refund.orderId, requestKey))
          .executeUpdate(confirmOrderRefundManualUpdate, { args: [request] });
      } else if (late) {
        await deps.temporal.workflow
          .getHandle(reconciliationRefundWorkflowId(late.gateway, late.paymentReference))
          .executeUpdate(confirmReconciliationManualRefundUpdate, { args: [request] });
      } else {
        await deps.temporal.workflow
          .getHandle(orderWorkflowId(refund.orderId))
          .executeUpdate(confirmManualRefundUpdate, { args: [request] });
      }
    });
  } catch (error) {
    throw explain(refund, error);
  }
  const confirmed = (await findRefund(deps.pool, command.refundId)) ?? refund;
  deps.logger.info({ refundId: refund.refundId, orderId: refund.orderId }, 'manual refund confirmed');
  return view(confirmed, true);
}

function explain(refund: RefundRow, error: unknown): unknown {
  if (applicationFailureType(error) === ORDER_ERROR_TYPES.invalidTransition) {
    return refundNotAwaitingManual(refund.refundId, refund.state);
  }
  // The workflow never closes while a manual refund waits, so this is an order whose history was lost or reset.
  if (isWorkflowNotFoundError(error)) return orderClosed(refund.orderId);
  if (isTemporalUnavailableError(error)) return Object.assign(temporalUnavailable(), { cause: error });
  return error;
}

function view(refund: RefundRow, changed: boolean): ConfirmedRefund {
  return {
    refundId: refund.refundId,
    orderId: refund.orderId,
    state: refund.state,
    amount: refund.amountMinor,
    currency: refund.currency,
    manualReference: refund.manualReference,
    confirmedBy: refund.confirmedBy,
    changed,
  };
}
