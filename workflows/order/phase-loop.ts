// The one loop that runs both waiting phases of an order: awaiting payment (until paid, declined, cancelled or
// expired) and the grace window after it (open for late events and requests). OrderDecisions says when to wait,
// until when, and what comes next; this loop waits, runs that step, and continues as new when the history is long.
import { allHandlersFinished, condition, continueAsNew, log, workflowInfo } from '@temporalio/workflow';
import type { OrderState, OrderWorkflowInput } from '../../contracts/order.contract';
import { DEFAULT_HISTORY_EVENT_LIMIT } from '../../domain/poll-schedule';
import type { OrderDecisions, OrderPhase, Step } from './order-decisions';
import type { OrderSteps } from './order-steps';

type OrderWorkflow = (input: OrderWorkflowInput) => Promise<OrderState>;

export async function runPhase(
  phase: OrderPhase,
  input: OrderWorkflowInput,
  order: OrderDecisions,
  steps: OrderSteps,
): Promise<void> {
  order.enterPhase(phase, Date.now());
  for (;;) {
    if (order.phaseIsOver(phase)) return;
    if (order.isIdle(Date.now())) {
      await continueAsNewIfLong(phase, input, order);
      const closing = order.closingStep(phase, Date.now());
      if (closing === 'close') return;
      if (closing === 'final_check') {
        // One last look before the order closes for good: a payment whose webhooks were all lost is refunded now.
        await steps.lookup('grace_final_check');
        continue;
      }
    }
    let timerFired = false;
    if (order.waitsBeforeNextStep(phase, Date.now())) {
      const wakeAtMs = order.wakeAtMs(phase);
      timerFired = !(await condition(order.wakeTest(), Math.max(wakeAtMs - Date.now(), 1)));
    }
    const step = order.nextStep(phase, Date.now(), timerFired);
    if (step.kind === 'close') return;
    await run(step, order, steps);
  }
}

async function run(step: Exclude<Step, { kind: 'close' }>, order: OrderDecisions, steps: OrderSteps): Promise<void> {
  switch (step.kind) {
    case 'apply_event':
      return steps.applyEvent(step.event);
    case 'refund_request':
      return steps.refundRequested(step.refund);
    case 'cancel_before_payment':
      return steps.cancelBeforePayment(step.reason);
    case 'cancel_after_close':
      return steps.cancelAfterClose(step.reason);
    case 'lookup':
      await steps.lookup(step.trigger);
      return order.lookupDone(step.trigger, Date.now());
    case 'expire':
      return steps.expire();
    case 'fulfilment':
      return steps.settleFulfilment(step.decision);
    case 'start_attempt':
      return steps.startAttempt(step.request);
    case 'nothing':
      return;
  }
}

/** The run's history passed its bound (or the server suggests a new run); it wakes the loop, too. */
export function historyTooLong(order: OrderDecisions, input: OrderWorkflowInput): boolean {
  if (!order.changes.historyBounded) return false;
  const info = workflowInfo();
  const limit = input.policy.historyEventLimit ?? DEFAULT_HISTORY_EVENT_LIMIT;
  return info.continueAsNewSuggested || info.historyLength >= limit;
}

/**
 * At a quiescent point (nothing queued, no handler running), a run whose history grew past the bound hands the
 * whole order to a fresh run under the same workflow ID: queries, updates and signals keep reaching it.
 */
async function continueAsNewIfLong(phase: OrderPhase, input: OrderWorkflowInput, order: OrderDecisions): Promise<void> {
  if (!historyTooLong(order, input)) return;
  const { historyLength } = workflowInfo();
  await condition(allHandlersFinished);
  // A handler may have queued work while we waited; it is done in this run, and the check comes again.
  if (!order.isIdle(Date.now())) return;
  log.info('history is long; continuing as new', { orderId: input.orderId, historyLength, phase });
  await continueAsNew<OrderWorkflow>({ ...input, resume: order.resumeState(phase, Date.now()) });
}
