// Payment attempts as the API reads them, against the real PostgreSQL: GET /orders/:orderId (and the admin views that
// answer with the same order) lists every attempt oldest first, and a wallet callback counts for the intent of any
// attempt of its order at the callback's gateway (a superseded one included: its capture must reach the workflow,
// which refunds it), never for another order's intent or for an intent of this order at another gateway.
import type { Client } from '@temporalio/client';
import { orderResponseSchema } from '../../api/http/responses.schema';
import { getOrder } from '../../api/orders/get-order.use-case';
import { receiveCallback, type ReceivedCallback } from '../../api/webhooks/receive-callback.use-case';
import { createLogger } from '../../config/logger';
import { orderWorkflowId, type GatewayName, type PaymentEvent } from '../../contracts/order.contract';
import { createPool, type Pool } from '../../db/pool';
import type { CallbackHandler } from '../../gateways/gateway';
import { uniqueId } from '../support/temporal';

let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.DATABASE_URL as string, { max: 2, applicationName: 'payment-attempts-views-test' });
});

afterAll(async () => {
  await pool.end();
});

const CREATED = new Date('2031-05-01T10:00:00Z');

interface SeededAttempt {
  number: number;
  gateway: GatewayName;
  intentId: string;
  status: string;
  failureReason?: string;
  declineCode?: string;
  startedAt: string;
  endedAt?: string;
}

/** An order now at `gateway` with `intentId` (its latest attempt), and its attempts as the activities record them. */
async function seedOrder(orderId: string, gateway: GatewayName, intentId: string, attempts: SeededAttempt[]) {
  await pool.query(
    `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id, payment_url,
                         expires_at, created_at, updated_at, allowed_gateways)
     VALUES ($1, 150000, 'NPR', $2, 'AWAITING_PAYMENT', 'seeded', $3, 'https://pay.test/now', $4, $4, $4,
             ARRAY['esewa', 'khalti'])`,
    [orderId, gateway, intentId, CREATED],
  );
  for (const attempt of attempts) {
    await pool.query(
      `INSERT INTO payment_attempts (order_id, attempt_number, gateway, intent_id, payment_url, status, failure_reason,
                                     decline_code, created_at, ended_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        orderId,
        attempt.number,
        attempt.gateway,
        attempt.intentId,
        `https://pay.test/${attempt.intentId}`,
        attempt.status,
        attempt.failureReason ?? null,
        attempt.declineCode ?? null,
        attempt.startedAt,
        attempt.endedAt ?? null,
      ],
    );
  }
}

/** An order whose payer cancelled on eSewa (attempt 1) and then chose Khalti (attempt 2, open). */
async function switchedOrder() {
  const orderId = uniqueId('switched');
  const esewaIntent = `esewa-${orderId}`;
  const khaltiIntent = `pidx-${orderId}`;
  await seedOrder(orderId, 'khalti', khaltiIntent, [
    // Inserted newest first: the view orders by attempt number, not by insertion.
    { number: 2, gateway: 'khalti', intentId: khaltiIntent, status: 'open', startedAt: '2031-05-01T10:03:00.000Z' },
    {
      number: 1,
      gateway: 'esewa',
      intentId: esewaIntent,
      status: 'cancelled',
      failureReason: 'cancelled_by_payer',
      startedAt: '2031-05-01T10:00:01.000Z',
      endedAt: '2031-05-01T10:02:00.000Z',
    },
  ]);
  return { orderId, esewaIntent, khaltiIntent };
}

describe('the order view', () => {
  test('when an order has two attempts, then GET /orders/:orderId lists both oldest first with status, failure and times', async () => {
    const { orderId, esewaIntent, khaltiIntent } = await switchedOrder();

    const body = await getOrder({ pool }, orderId);

    expect(orderResponseSchema.parse(body)).toEqual(body);
    expect(body.attempts).toEqual([
      {
        number: 1,
        gateway: 'esewa',
        status: 'cancelled',
        failureReason: 'cancelled_by_payer',
        declineCode: null,
        intentId: esewaIntent,
        paymentUrl: `https://pay.test/${esewaIntent}`,
        startedAt: '2031-05-01T10:00:01.000Z',
        endedAt: '2031-05-01T10:02:00.000Z',
        createdAt: '2031-05-01T10:00:01.000Z',
      },
      {
        number: 2,
        gateway: 'khalti',
        status: 'open',
        failureReason: null,
        declineCode: null,
        intentId: khaltiIntent,
        paymentUrl: `https://pay.test/${khaltiIntent}`,
        startedAt: '2031-05-01T10:03:00.000Z',
        endedAt: null,
        createdAt: '2031-05-01T10:03:00.000Z',
      },
    ]);
  });
});

describe('the wallet callback check', () => {
  const signals: { workflowId: string; event: PaymentEvent }[] = [];
  // Just what delivering a verified event uses: a signal to the order's workflow.
  const temporal = {
    connection: { withDeadline: <T>(_deadline: number, call: () => Promise<T>) => call() },
    workflow: {
      getHandle: (workflowId: string) => ({
        signal: (_signal: unknown, event: PaymentEvent) => {
          signals.push({ workflowId, event });
          return Promise.resolve();
        },
      }),
    },
  } as unknown as Client;

  /** A wallet whose callback names the order and intent in its query, as eSewa's and Khalti's do. */
  function walletHandler(gateway: GatewayName): CallbackHandler {
    return {
      gateway,
      parse: (callback) => {
        const orderId = String(callback.query.orderId);
        const intentId = String(callback.query.intentId);
        return {
          eventId: `${gateway}-return:${orderId}:${intentId}`,
          eventType: 'payment.success',
          orderId,
          paymentEvent: {
            eventId: `${gateway}-return:${orderId}:${intentId}`,
            kind: 'captured',
            verified: true,
            intentId,
            paymentReference: `ref-${intentId}`,
            amountMinor: 150_000,
            currency: 'NPR',
            occurredAt: '2031-05-01T10:05:00.000Z',
          },
          payerOutcome: 'paid',
        };
      },
    };
  }

  // A function: the pool exists only once beforeAll has run.
  const deps = () => ({
    pool,
    temporal,
    logger: createLogger('payment-attempts-views-test', 'silent'),
    metrics: { webhookDuplicate: () => undefined },
    callbackHandlers: { esewa: walletHandler('esewa'), khalti: walletHandler('khalti') },
  });

  function callback(gateway: GatewayName, orderId: string, intentId: string): ReceivedCallback {
    const query = { orderId, intentId };
    return {
      gateway,
      path: ['success'],
      query,
      rawQuery: new URLSearchParams(query).toString(),
      headers: {},
    };
  }

  async function storedCallbacks(orderId: string): Promise<number> {
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM webhook_events WHERE order_id = $1',
      [orderId],
    );
    return rows[0]?.n ?? -1;
  }

  test("when an eSewa callback names the order's superseded eSewa attempt, then it is stored and reaches the workflow", async () => {
    const { orderId, esewaIntent } = await switchedOrder();

    const answer = await receiveCallback(deps(), callback('esewa', orderId, esewaIntent));

    expect(answer.kind).not.toBe('refused');
    expect(signals.filter((signal) => signal.workflowId === orderWorkflowId(orderId))).toEqual([
      { workflowId: orderWorkflowId(orderId), event: expect.objectContaining({ intentId: esewaIntent }) },
    ]);
    expect(await storedCallbacks(orderId)).toBe(1);
  });

  test("when a callback names another order's intent, or this order's intent at another gateway, then it is refused and nothing is stored", async () => {
    const { orderId, khaltiIntent } = await switchedOrder();
    const other = await switchedOrder();

    const answers = [
      await receiveCallback(deps(), callback('esewa', orderId, other.esewaIntent)),
      await receiveCallback(deps(), callback('khalti', orderId, other.khaltiIntent)),
      // The Khalti pidx of this very order, arriving at the eSewa callback.
      await receiveCallback(deps(), callback('esewa', orderId, khaltiIntent)),
    ];

    expect(answers.map((answer) => answer.kind)).toEqual(['refused', 'refused', 'refused']);
    expect(signals.filter((signal) => signal.workflowId === orderWorkflowId(orderId))).toEqual([]);
    expect(await storedCallbacks(orderId)).toBe(0);
  });

  test("when a Khalti callback names the order's current attempt, then it counts as before", async () => {
    const { orderId, khaltiIntent } = await switchedOrder();

    const answer = await receiveCallback(deps(), callback('khalti', orderId, khaltiIntent));

    expect(answer.kind).not.toBe('refused');
    expect(await storedCallbacks(orderId)).toBe(1);
  });
});
