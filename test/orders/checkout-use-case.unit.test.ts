// How a checkout (checkoutOrder and its HTTP answer) reads what Temporal answers, with the database and the Temporal client faked: rejections
// that the real workflow only produces in races (a different request reaching the workflow before its order row
// exists) are hard to provoke end to end.
import {
  ApplicationFailure,
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { CheckoutDeps } from '../../api/orders/checkout-order.use-case';
import { answerCheckout } from '../../api/orders/orders.routes';
import { ApiError } from '../../api/http/errors';
import { requestHash } from '../../api/http/request-hash';
import { apiConfigSchema } from '../../config/env';
import { createLogger } from '../../config/logger';
import type { CheckoutBody } from '../../api/orders/checkout.schema';
import type { Pool } from '../../db/pool';

const order: CheckoutBody = { orderId: 'o-1', amount: 500, currency: 'USD', gateway: 'stripe' };
const hash = requestHash(order);

interface FakeWorld {
  orderRow?: { request_hash: string; status: string };
  updateOutcome: (options: { startWorkflowOperation: { options: { args: unknown[] } } }) => Promise<unknown>;
  workflowStatus?: 'RUNNING' | 'COMPLETED';
  saved: unknown[][];
}

function deps(world: FakeWorld): CheckoutDeps {
  const pool = {
    async query(sql: string, params: unknown[]) {
      if (sql.includes('FROM idempotency_records') && !sql.includes('JOIN orders')) return { rows: [], rowCount: 0 };
      if (sql.includes('INSERT INTO idempotency_records')) {
        world.saved.push(params);
        return { rows: [], rowCount: 1 };
      }
      if (sql.includes('FROM orders') || sql.includes('JOIN orders')) {
        const row = world.orderRow && {
          order_id: order.orderId,
          amount_minor: order.amount,
          currency: order.currency,
          gateway: order.gateway,
          payment_url: null,
          expires_at: new Date('2030-01-01T00:00:00Z'),
          ...world.orderRow,
        };
        // The checkout's first read: no stored answer, and the order's row (all NULL without one), in one row.
        if (sql.includes('JOIN orders')) return { rows: [{ idempotency: null, order_id: null, ...row }] };
        return { rows: row ? [row] : [], rowCount: row ? 1 : 0 };
      }
      throw new Error(`unexpected SQL: ${sql}`);
    },
  } as unknown as Pool;
  const temporal = {
    connection: { withDeadline: (_deadline: number, call: () => Promise<unknown>) => call() },
    workflow: {
      executeUpdateWithStart: (_update: unknown, options: Parameters<FakeWorld['updateOutcome']>[0]) =>
        world.updateOutcome(options),
      getHandle: () => ({
        describe: async () => {
          if (!world.workflowStatus) throw new WorkflowUpdateRPCTimeoutOrCancelledError('still unreachable');
          return { status: { name: world.workflowStatus } };
        },
      }),
    },
  } as unknown as Client;
  return { config: apiConfigSchema.parse({}), pool, temporal, logger: createLogger('test', 'silent') };
}

async function outcome(world: FakeWorld, body: CheckoutBody = order) {
  try {
    return await answerCheckout(deps(world), { order: body, idempotencyKey: body.orderId });
  } catch (error) {
    if (error instanceof ApiError) return { error: error.code, status: error.status };
    throw error;
  }
}

const rejectedWith = (type: string) => () =>
  Promise.reject(
    new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type, nonRetryable: true })),
  );

test('when the workflow validator rejects with IdempotencyConflict, then 409 idempotency_conflict and nothing is stored', async () => {
  const world: FakeWorld = { updateOutcome: rejectedWith('IdempotencyConflict'), saved: [] };
  expect(await outcome(world)).toEqual({ error: 'idempotency_conflict', status: 409 });
  expect(world.saved).toEqual([]);
});

test('when the order row was recorded by a different request (OrderRecordConflict), then 409 idempotency_conflict', async () => {
  expect(await outcome({ updateOutcome: rejectedWith('OrderRecordConflict'), saved: [] })).toEqual({
    error: 'idempotency_conflict',
    status: 409,
  });
});

test('when the workflow has finished and its row has the same hash, then 200 replayed from the row', async () => {
  const world: FakeWorld = {
    orderRow: { request_hash: hash, status: 'EXPIRED' },
    updateOutcome: () => Promise.reject(new WorkflowExecutionAlreadyStartedError('x', 'order-o-1', 'orderWorkflow')),
    saved: [],
  };
  expect(await outcome(world)).toMatchObject({
    status: 200,
    replayed: true,
    body: { orderId: 'o-1', status: 'EXPIRED' },
  });
  expect(world.saved).toEqual([]);
});

test('when the workflow has finished but left no order row, then 409 order_closed', async () => {
  const world: FakeWorld = {
    updateOutcome: () => Promise.reject(new WorkflowExecutionAlreadyStartedError('x', 'order-o-1', 'orderWorkflow')),
    saved: [],
  };
  expect(await outcome(world)).toEqual({ error: 'order_closed', status: 409 });
});

test('when the checkout outlives the deadline but the workflow runs, then 503 checkout_pending and nothing is stored', async () => {
  const world: FakeWorld = {
    updateOutcome: () => Promise.reject(new WorkflowUpdateRPCTimeoutOrCancelledError('deadline')),
    workflowStatus: 'RUNNING',
    saved: [],
  };
  expect(await outcome(world)).toEqual({ error: 'checkout_pending', status: 503 });
  expect(world.saved).toEqual([]);
});

test('when the checkout outlives the deadline and the server cannot be reached, then 503 temporal_unavailable', async () => {
  const world: FakeWorld = {
    updateOutcome: () => Promise.reject(new WorkflowUpdateRPCTimeoutOrCancelledError('deadline')),
    saved: [],
  };
  expect(await outcome(world)).toEqual({ error: 'temporal_unavailable', status: 503 });
});

test('when Temporal fails in an unexpected way, then the error is not disguised as a known answer', async () => {
  const bug = new TypeError('bug');
  await expect(outcome({ updateOutcome: () => Promise.reject(bug), saved: [] })).rejects.toBe(bug);
});

test('when the checkout succeeds, then 201 and the response is stored under the key with the request hash', async () => {
  const world: FakeWorld = {
    updateOutcome: async () => ({
      orderId: 'o-1',
      status: 'AWAITING_PAYMENT',
      paymentUrl: 'https://pay.example/1',
      intentId: 'pi_1',
      expiresAt: '2030-01-01T00:00:00.000Z',
      failureReason: null,
    }),
    saved: [],
  };
  expect(await outcome(world)).toMatchObject({
    status: 201,
    replayed: false,
    body: { paymentUrl: 'https://pay.example/1' },
  });
  expect(world.saved).toEqual([['POST /orders', 'o-1', hash, 'o-1', 201, expect.stringContaining('"amount":500')]]);
});

describe('the workflow input', () => {
  const checkoutResult = {
    orderId: 'o-1',
    status: 'AWAITING_PAYMENT',
    paymentUrl: 'https://pay.example/cs_1',
    intentId: 'cs_1',
    expiresAt: '2030-01-01T00:00:00.000Z',
    failureReason: null,
  };
  async function inputOf(body: CheckoutBody): Promise<Record<string, unknown>> {
    let input: Record<string, unknown> | undefined;
    const world: FakeWorld = {
      updateOutcome: async ({ startWorkflowOperation }) => {
        input = startWorkflowOperation.options.args[0] as Record<string, unknown>;
        return checkoutResult;
      },
      saved: [],
    };
    expect(await outcome(world, body)).toMatchObject({ status: 201 });
    if (!input) throw new Error('the workflow was not started');
    return input;
  }

  test('when the body names gateways, then the input carries them and the policy carries ORDER_MAX_ATTEMPTS', async () => {
    const input = await inputOf({ ...order, currency: 'NPR', gateway: 'esewa', gateways: ['esewa', 'khalti'] });
    expect(input.gateways).toEqual(['esewa', 'khalti']);
    expect(input.policy).toMatchObject({ maxAttempts: 5 });
  });

  test('when the body names no gateways, then the input has no gateways field at all', async () => {
    const input = await inputOf(order);
    expect(Object.keys(input)).not.toContain('gateways');
    expect(input.requestHash).toBe(hash);
  });
});
