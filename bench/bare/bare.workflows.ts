// The engine's own ceiling for orderpay's checkout shape, with no business logic: what Temporal allows for the same
// commands. Update-with-start, two no-op activities before the update answers (orderpay records the order and
// creates the intent), then a signal (the payment), then one more no-op activity (the PAID transition).
import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BareActivities } from './bare.activities';
import { bareCheckoutUpdate, barePaidSignal } from './bare.contract';

const { noop } = proxyActivities<BareActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3 },
});

export async function bareCheckoutWorkflow(input: { orderId: string }): Promise<void> {
  const checkout: { intentId?: string } = {};
  let paid = false;
  setHandler(bareCheckoutUpdate, async () => {
    await condition(() => checkout.intentId !== undefined);
    return { intentId: checkout.intentId ?? '' };
  });
  setHandler(barePaidSignal, () => {
    paid = true;
  });
  await noop({ step: 'record' });
  checkout.intentId = (await noop({ step: `intent-${input.orderId}` })).step;
  await condition(() => paid);
  await noop({ step: 'paid' });
}

/** P3's second baseline: a workflow that only takes signals, as an open order takes its webhooks. */
export async function bareInboxWorkflow(): Promise<void> {
  let received = 0;
  setHandler(barePaidSignal, () => {
    received += 1;
  });
  // Open until the run's execution timeout; the dev server is thrown away after the run.
  await condition(() => received < 0);
}
