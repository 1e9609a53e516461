// Starting an order workflow on the test worker and watching it, for the per-wallet workflow suites
// (test/*/*.workflow.test.ts): the checkout update-with-start the API sends, state polling through the
// status query, the result (recorded for the replay suite when asked) and the order's row in PostgreSQL.
import { type Client, type WorkflowHandle, WithStartWorkflowOperation } from '@temporalio/client';
import type pg from 'pg';
import {
  ORDER_WORKFLOW_TYPE,
  checkoutUpdate,
  orderStateQuery,
  orderWorkflowId,
  type CheckoutResult,
  type OrderState,
  type OrderWorkflowInput,
} from '../../contracts/order.contract';
import { recordHistoryIfAsked } from './histories';
import { eventually } from './processes';

export interface StartedOrder {
  orderId: string;
  input: OrderWorkflowInput;
  checkout: CheckoutResult;
  handle: WorkflowHandle;
}

/** Starts the order's workflow with its checkout, as POST /orders does. */
export async function startOrderWorkflow(
  client: Client,
  taskQueue: string,
  input: OrderWorkflowInput,
): Promise<StartedOrder> {
  const checkout = await client.workflow.executeUpdateWithStart(checkoutUpdate, {
    args: [{ requestHash: input.requestHash }],
    startWorkflowOperation: new WithStartWorkflowOperation(ORDER_WORKFLOW_TYPE, {
      workflowId: orderWorkflowId(input.orderId),
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  return { orderId: input.orderId, input, checkout, handle: client.workflow.getHandle(orderWorkflowId(input.orderId)) };
}

/** Polls the status query until the state passes the test. */
export function waitForOrderState(
  order: Pick<StartedOrder, 'handle'>,
  what: string,
  test: (state: OrderState) => boolean,
): Promise<OrderState> {
  return eventually(
    async () => {
      const state = await order.handle.query(orderStateQuery);
      return test(state) ? state : undefined;
    },
    { what },
  );
}

/** The workflow's final state; its history is saved as `<pathName>.json` when RECORD_HISTORIES=1. */
export async function finishOrder(order: Pick<StartedOrder, 'handle'>, pathName: string): Promise<OrderState> {
  const state = (await order.handle.result()) as OrderState;
  await recordHistoryIfAsked(order.handle, pathName);
  return state;
}

export async function orderRow(pool: pg.Pool, orderId: string) {
  const { rows } = await pool.query<{ status: string; needs_attention: boolean; expires_at: Date }>(
    'SELECT status, needs_attention, expires_at FROM orders WHERE order_id = $1',
    [orderId],
  );
  return rows[0];
}
