// POST /admin/orders/:orderId/recheck: an operator's nudge. It is signalled as an unverified payment event, which
// the workflow treats as a hint and answers with a status lookup at the gateway: the operator never tells the
// workflow what happened, only to go and look.
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { orderWorkflowId, paymentEventSignal, type PaymentEvent } from '../../contracts/order.contract';
import { findOrderStatus } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import { orderClosed, orderNotFound, temporalUnavailable } from '../http/errors';
import { TEMPORAL_SIGNAL_TIMEOUT_MS, withTemporalDeadline } from '../temporal/temporal-calls';
import { isTemporalUnavailableError, isWorkflowNotFoundError } from '../temporal/temporal-errors';

export interface RecheckDeps {
  pool: Pool;
  temporal: Client;
}

export async function recheckOrder(
  { pool, temporal }: RecheckDeps,
  orderId: string,
): Promise<{ orderId: string; requested: true; eventId: string }> {
  if (!(await findOrderStatus(pool, orderId))) throw orderNotFound(orderId);
  const hint: PaymentEvent = {
    // A fresh ID each time: the workflow de-duplicates event IDs, and every recheck should look again.
    eventId: `admin-recheck-${randomUUID()}`,
    kind: 'pending',
    verified: false,
    occurredAt: new Date().toISOString(),
  };
  try {
    await withTemporalDeadline(temporal, TEMPORAL_SIGNAL_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(orderWorkflowId(orderId)).signal(paymentEventSignal, hint),
    );
  } catch (error) {
    // The workflow has completed: its grace window is over and nothing listens any more (reconciliation's job).
    if (isWorkflowNotFoundError(error)) throw orderClosed(orderId);
    if (isTemporalUnavailableError(error)) throw Object.assign(temporalUnavailable(), { cause: error });
    throw error;
  }
  return { orderId, requested: true, eventId: hint.eventId };
}
