// P1 and P2: checkout → PAID throughput and POST /orders latency, orderpay against the bare same-shape workflow
// (bench/bare) on the same dev server, at the same concurrency and order count.
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import type { Pool } from '../../db/pool';
import { BARE_WORKFLOW_TYPE, bareCheckoutUpdate, barePaidSignal } from '../bare/bare.contract';
import { quantile, runConcurrently } from '../support/measure';
import { watchOrders } from '../support/order-watcher';
import type { OrderpayStack } from '../support/stack';

export interface CheckoutFigures {
  orders: number;
  concurrency: number;
  orderpay: { ordersPerSecond: number; checkoutP50Ms: number; checkoutP99Ms: number };
  bare: { ordersPerSecond: number; checkoutP50Ms: number; checkoutP99Ms: number };
}

export interface CheckoutLoad {
  orders: number;
  concurrency: number;
  warmup: number;
}

/** Checkout → pay on the hosted page → the signed webhook → PAID in the database, `orders` times. */
export async function orderpayCheckouts(
  stack: OrderpayStack,
  pool: Pool,
  load: CheckoutLoad,
): Promise<CheckoutFigures['orderpay']> {
  const run = randomBytes(3).toString('hex');
  const watcher = watchOrders(pool, ['PAID']);
  try {
    const latencies: number[] = [];
    const one = async (orderId: string, record: boolean) => {
      const answer = await stack.api.checkout(orderId);
      if (answer.status !== 201 || !answer.body.paymentUrl) {
        throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      }
      if (record) latencies.push(answer.ms);
      const paid = watcher.waitFor(orderId);
      await stack.pay(answer.body.paymentUrl);
      await paid;
    };
    await runConcurrently(load.warmup, load.concurrency, (i) => one(`bench-warm-${run}-${i}`, false));
    const seconds = await runConcurrently(load.orders, load.concurrency, (i) => one(`bench-p1-${run}-${i}`, true));
    return {
      ordersPerSecond: load.orders / seconds,
      checkoutP50Ms: quantile(latencies, 0.5),
      checkoutP99Ms: quantile(latencies, 0.99),
    };
  } finally {
    watcher.stop();
  }
}

/** The same shape with nothing but Temporal: update-with-start, a signal for the payment, the result. */
export async function bareCheckouts(
  client: Client,
  taskQueue: string,
  load: CheckoutLoad,
): Promise<CheckoutFigures['bare']> {
  const run = randomBytes(3).toString('hex');
  const latencies: number[] = [];
  const one = async (orderId: string, record: boolean) => {
    const started = performance.now();
    const workflowId = `bare-${orderId}`;
    await client.workflow.executeUpdateWithStart(bareCheckoutUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation(BARE_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ orderId }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    if (record) latencies.push(performance.now() - started);
    const handle = client.workflow.getHandle(workflowId);
    await handle.signal(barePaidSignal);
    await handle.result();
  };
  await runConcurrently(load.warmup, load.concurrency, (i) => one(`warm-${run}-${i}`, false));
  const seconds = await runConcurrently(load.orders, load.concurrency, (i) => one(`p1-${run}-${i}`, true));
  return {
    ordersPerSecond: load.orders / seconds,
    checkoutP50Ms: quantile(latencies, 0.5),
    checkoutP99Ms: quantile(latencies, 0.99),
  };
}
