// Every Temporal call the API makes has a deadline: a request thread must never wait on an unreachable
// server for the client's full retry budget.
import type { Client } from '@temporalio/client';
import { orderWorkflowId } from '../../contracts/order.contract';
import { isTemporalUnavailableError, isWorkflowNotFoundError } from './temporal-errors';

/** Long enough for a healthy server under load, short enough that a probe answers well inside a request. */
export const TEMPORAL_PROBE_TIMEOUT_MS = 2_000;
/** Signals are accepted by the server alone (no worker involved), so they need little time. */
export const TEMPORAL_SIGNAL_TIMEOUT_MS = 5_000;

export function withTemporalDeadline<T>(temporal: Client, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  return temporal.connection.withDeadline(Date.now() + timeoutMs, call);
}

/**
 * After a call ran out of time: is the server there and does the order's workflow exist? Distinguishes
 * "still working, ask again" from "the server is down" when both surface as a deadline.
 */
export async function probeOrderWorkflow(
  temporal: Client,
  orderId: string,
): Promise<'running' | 'closed' | 'missing' | 'unreachable'> {
  try {
    const description = await withTemporalDeadline(temporal, TEMPORAL_PROBE_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(orderWorkflowId(orderId)).describe(),
    );
    return description.status.name === 'RUNNING' ? 'running' : 'closed';
  } catch (error) {
    if (isWorkflowNotFoundError(error)) return 'missing';
    if (isTemporalUnavailableError(error)) return 'unreachable';
    throw error;
  }
}

/** For /readyz: a cheap call that needs the server and nothing else. */
export async function pingTemporal(temporal: Client): Promise<void> {
  await withTemporalDeadline(temporal, TEMPORAL_PROBE_TIMEOUT_MS, () => temporal.workflowService.getSystemInfo({}));
}
