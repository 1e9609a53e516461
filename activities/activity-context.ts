// What an activity's log lines carry about the Temporal execution they belong to, and how a failure leaves it.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from '../config/logger';
import { toActivityFailure } from './activity-errors';

/** The workflow and attempt an activity runs for, when it runs under Temporal (not in a direct call). */
export function temporalBindings(): Record<string, unknown> {
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

/**
 * Runs an activity body with a logger bound to the order and, under Temporal, to the workflow and attempt, and
 * translates what the body throws into what Temporal should see.
 */
export async function runOrderActivity<T>(
  logger: Logger,
  { activity, orderId, failedMessage }: { activity: string; orderId: string; failedMessage: string },
  body: (log: Logger) => Promise<T>,
): Promise<T> {
  const log = logger.child({ activity, orderId, ...temporalBindings() });
  try {
    return await body(log);
  } catch (error) {
    const failure = toActivityFailure(error, { orderId });
    const type = failure instanceof ApplicationFailure ? failure.type : undefined;
    const retryable = !(failure instanceof ApplicationFailure && failure.nonRetryable);
    // The original error, not its translation: a defect's stack stays in the worker log, out of the history.
    log.warn({ type, retryable, err: error }, failedMessage);
    throw failure;
  }
}
