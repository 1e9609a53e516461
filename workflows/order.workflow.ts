// The order workflow: one per order, ID `order-<orderId>`. It records the order, starts the payment, awaits its
// outcome (a payment event, a status poll, the TTL or a cancel request), then stays open for late events, requests
// and, when the order asked for it, the merchant's fulfilment answer, compensating with refunds, and closes. The
// rules live in workflows/order/order-decisions.ts (no Temporal, unit tested); the side effects in order-steps.ts;
// the one loop of both waiting phases in phase-loop.ts.
import { allHandlersFinished, condition, patched } from '@temporalio/workflow';
import type { OrderState, OrderWorkflowInput } from '../contracts/order.contract';
import { OrderDecisions, currentProcessChanges, type ProcessChanges } from './order/order-decisions';
import { registerOrderHandlers } from './order/order-handlers';
import { OrderSteps } from './order/order-steps';
import { runPhase } from './order/phase-loop';

export async function orderWorkflow(input: OrderWorkflowInput): Promise<OrderState> {
  const order = new OrderDecisions(input, processChanges(input), Date.now());
  const steps = new OrderSteps(input, order);
  registerOrderHandlers(input, order);

  if (!input.resume) {
    steps.announceOrder();
    // A row the database refuses, or one past PENDING already, leaves no payment of this run to wait for.
    if (!(await steps.recordOrder())) return close(order);
    await steps.startPayment();
  }
  if (order.state.status === 'AWAITING_PAYMENT') await runPhase('awaiting_payment', input, order, steps);
  await runPhase('grace', input, order, steps);
  return close(order);
}

/**
 * Changes to the process, decided once before the first command so that a run takes one path throughout: an order
 * started before a change replays without its marker and keeps the old behaviour. Runs started since
 * order-process-2027-02 record that one marker for all of them, runs of order-process-2027-01 and 2026-12 replay
 * with theirs; older runs ask each change's own marker, in the order they always did.
 */
function processChanges(input: OrderWorkflowInput): ProcessChanges {
  // A run resumed from one without attempts goes on as it was: its state has none to build on.
  const resumedFromOlder = input.resume !== undefined && input.resume.state.attempts === undefined;
  if (!resumedFromOlder && patched('order-process-2027-02')) {
    return currentProcessChanges(input);
  }
  if (!resumedFromOlder && patched('order-process-2027-01')) {
    return { ...currentProcessChanges(input), paymentStartedInOneCall: false };
  }
  if (!resumedFromOlder && patched('order-process-2026-12')) {
    return { ...currentProcessChanges(input), localGatewayCalls: false, paymentStartedInOneCall: false };
  }
  return {
    gracePolling: patched('grace-poll-closed-unpaid'),
    ledgerChecked: patched('refund-ledger-in-flight'),
    duplicateCaptures: patched('duplicate-capture-refund'),
    historyBounded: patched('bounded-history'),
    // Asked only when the order wants it: no other order's history gains a marker.
    fulfilmentConfirmation: input.fulfilment !== undefined && patched('fulfilment-confirmation'),
    paymentAttempts: !resumedFromOlder && patched('payment-attempts'),
    currentProcess: false,
    localGatewayCalls: false,
    paymentStartedInOneCall: false,
  };
}

/** From here on requests are refused; the run ends once every handler has answered. */
async function close(order: OrderDecisions): Promise<OrderState> {
  order.close();
  await condition(allHandlersFinished);
  return order.state;
}
