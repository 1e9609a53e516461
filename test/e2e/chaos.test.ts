// Chaos: Stripe and Khalti orders with fates drawn by a seeded RNG (paid, declined, abandoned, cancelled before and
// after payment, refunded in part and in full, paid at the TTL, paid on Khalti after the TTL with no return) while
// workers are SIGKILLed, the API process is killed and restarted, the run's own Temporal server is SIGKILLed and
// restarted, and the sandbox drops, duplicates, reorders, delays and fails webhooks and API calls. When the run has
// settled, three sources are compared per order — the sandbox's ledger of captures and refunds, PostgreSQL and the
// workflow — and every history of the run is replayed. A CI-sized run by default; a longer one with
// `CHAOS_ORDERS=300 CHAOS_SEED=7 npx jest test/e2e/chaos.test.ts`.
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { orderStateQuery, orderWorkflowId, type OrderState } from '../../contracts/order.contract';
import { createPool, type Pool } from '../../db/pool';
import { withDefaultKey } from '../support/api-keys';
import { testDataConverter } from '../support/codec';
import { eventually, type RunningProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { uniqueId, workflowBundle } from '../support/temporal';
import { type OwnTemporalServer, startOwnTemporalServer } from '../support/temporal-server';

const ORDER_COUNT = Number(process.env.CHAOS_ORDERS ?? 24);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
const TTL_MS = 20_000;
const GRACE_MS = 15_000;
const ADMIN_TOKEN = 'chaos-admin-token';
const SANDBOX_KEY = 'sk_test_orderpay_sandbox';
const AMOUNT = 2_000;

jest.setTimeout(Math.max(600_000, ORDER_COUNT * 4_000));

const STRIPE_FATES = [
  'pay',
  'decline',
  'abandon',
  'cancel_before_payment',
  'cancel_after_payment',
  'partial_refund',
  'full_refund',
  'pay_at_ttl',
] as const;
/** Khalti links stay payable after orderpay's TTL, and its return redirect is the only news of a payment. */
const KHALTI_FATES = ['pay', 'cancel_on_page', 'abandon', 'pay_after_ttl_without_return'] as const;
type Fate = (typeof STRIPE_FATES)[number] | (typeof KHALTI_FATES)[number];
type Gateway = 'stripe' | 'khalti';

/** What each fate must end as; a payment racing the TTL may go either way, as long as the money agrees. */
const EXPECTED: Record<Fate, readonly string[]> = {
  pay: ['PAID'],
  decline: ['FAILED'],
  abandon: ['EXPIRED'],
  cancel_before_payment: ['CANCELLED'],
  cancel_after_payment: ['REFUNDED'],
  partial_refund: ['PARTIALLY_REFUNDED'],
  full_refund: ['REFUNDED'],
  pay_at_ttl: ['PAID', 'EXPIRED', 'REFUNDED'],
  cancel_on_page: ['FAILED', 'EXPIRED'],
  // Paid after the order expired, and the payer never came back: the workflow must find it and refund it.
  pay_after_ttl_without_return: ['REFUNDED'],
};

/** mulberry32: small, seeded and good enough to choose fates and timings reproducibly. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let temporalServer: OwnTemporalServer;
let stack: Stack;
/** Oldest first: each kill takes the oldest, so one worker is always warm while its replacement starts. */
let workers: RunningProcess[];
let db: Pool;
let client: Client;

beforeAll(async () => {
  // A Temporal server of this run's own, so the run can kill it too.
  temporalServer = await startOwnTemporalServer();
  const temporalAddress = { TEMPORAL_ADDRESS: temporalServer.address };
  stack = await startStack(
    {
      ...temporalAddress,
      ORDER_TTL: `${TTL_MS / 1000}s`,
      ORDER_GRACE_PERIOD: `${GRACE_MS / 1000}s`,
      POLL_INITIAL_INTERVAL: '2s',
      POLL_MAX_INTERVAL: '5s',
      GRACE_POLL_INTERVAL: '4s',
      CHECKOUT_TIMEOUT: '30s',
      ADMIN_API_TOKEN: ADMIN_TOKEN,
    },
    { ...temporalAddress, WORKER_SHUTDOWN_GRACE: '1s' },
  );
  workers = [stack.worker, stack.startWorker()];
  db = createPool(String(process.env.DATABASE_URL));
  const connection = await Connection.connect({ address: temporalServer.address });
  client = new Client({ connection, namespace: 'default', dataConverter: testDataConverter() });
});

afterAll(async () => {
  await stack?.stop();
  await db?.end();
  await client?.connection.close();
  await temporalServer?.stop();
});

/** Retries a request through API restarts and 503s; the same Idempotency-Key makes every retry the same request. */
async function callApi(path: string, init: RequestInit, accept: (status: number) => boolean): Promise<Response> {
  let last = '';
  for (let attempt = 0; attempt < 60; attempt += 1) {
    try {
      const headers = withDefaultKey(path, init.headers as Record<string, string> | undefined);
      const response = await fetch(`${stack.apiUrl}${path}`, { ...init, headers });
      if (accept(response.status)) return response;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = String(error);
    }
    await sleep(1_000);
  }
  throw new Error(`${init.method ?? 'GET'} ${path} never succeeded: ${last}`);
}

async function orderStatus(orderId: string): Promise<string | undefined> {
  const result = await db.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [orderId]);
  return result.rows[0]?.status;
}

async function waitForStatus(orderId: string, statuses: readonly string[], timeoutMs = 60_000): Promise<boolean> {
  try {
    await eventually(async () => (statuses.includes((await orderStatus(orderId)) ?? '') ? true : undefined), {
      timeoutMs,
      intervalMs: 250,
      what: `${orderId} in ${statuses.join('/')}`,
    });
    return true;
  } catch {
    return false;
  }
}

async function payerAction(paymentUrl: string, action: 'pay' | 'decline'): Promise<void> {
  // The hosted page is the payer's browser talking to the gateway, which is up; a refused payment (the session
  // expired first) is an outcome, not a failure of the run.
  await fetch(`${paymentUrl}/${action}`, { method: 'POST', redirect: 'manual' }).catch(() => undefined);
}

async function adminRefund(orderId: string, amount: number | undefined, key: string): Promise<void> {
  const init = {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${ADMIN_TOKEN}`,
      'idempotency-key': key,
      'x-admin-actor': 'chaos',
    },
    body: JSON.stringify({ reason: 'customer_request', ...(amount === undefined ? {} : { amount }) }),
  };
  // Sent twice with the same key: the second must change nothing.
  for (let i = 0; i < 2; i += 1) {
    await callApi(`/admin/orders/${orderId}/refunds`, init, (status) => status === 200 || status === 201);
  }
}

async function cancel(orderId: string): Promise<void> {
  await callApi(`/orders/${orderId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (s) =>
    [200, 202, 409].includes(s),
  );
}

async function runFate(orderId: string, gateway: Gateway, fate: Fate, random: () => number): Promise<void> {
  const currency = gateway === 'khalti' ? 'NPR' : 'EUR';
  const body = JSON.stringify({ orderId, amount: AMOUNT, currency, gateway, returnUrl: 'https://shop.example/done' });
  const created = await callApi(
    '/orders',
    { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': orderId }, body },
    (status) => status === 200 || status === 201,
  );
  const { paymentUrl } = (await created.json()) as { paymentUrl: string };
  if (gateway === 'khalti') return runKhaltiFate(orderId, paymentUrl, fate);
  switch (fate) {
    case 'pay':
      return payerAction(paymentUrl, 'pay');
    case 'decline':
      return payerAction(paymentUrl, 'decline');
    case 'abandon':
      return;
    case 'cancel_before_payment':
      return cancel(orderId);
    case 'pay_at_ttl':
      await sleep(TTL_MS - 1_500 + random() * 3_000);
      return payerAction(paymentUrl, 'pay');
    case 'cancel_after_payment':
    case 'partial_refund':
    case 'full_refund':
    default: {
      await payerAction(paymentUrl, 'pay');
      if (!(await waitForStatus(orderId, ['PAID']))) return;
      if (fate === 'cancel_after_payment') return cancel(orderId);
      return adminRefund(orderId, fate === 'partial_refund' ? AMOUNT / 4 : undefined, `${orderId}-r1`);
    }
  }
}

/** The payer on Khalti's page; the browser follows the return redirect unless the fate says it never came back. */
async function runKhaltiFate(orderId: string, paymentUrl: string, fate: Fate): Promise<void> {
  const pidx = new URL(paymentUrl).searchParams.get('pidx') ?? '';
  const act = async (action: 'pay' | 'cancel', followReturn: boolean) => {
    const page = await fetch(`${stack.sandboxUrl}/khalti-pay/${pidx}/${action}`, {
      method: 'POST',
      redirect: 'manual',
    });
    const location = page.headers.get('location');
    if (followReturn && location) await fetch(location, { redirect: 'manual' }).catch(() => undefined);
  };
  switch (fate) {
    case 'pay':
      return act('pay', true);
    case 'cancel_on_page':
      return act('cancel', true);
    case 'pay_after_ttl_without_return':
      // Strictly after orderpay expired the order: the link is still payable at Khalti.
      if (!(await waitForStatus(orderId, ['EXPIRED'], TTL_MS + 90_000))) throw new Error('the order never expired');
      return act('pay', false);
    default:
      return;
  }
}

interface GatewayLedger {
  captures: Map<string, number[]>;
  refunds: Map<string, number>;
}

async function listSandbox<T extends { id: string }>(resource: string): Promise<T[]> {
  const all: T[] = [];
  let startingAfter: string | undefined;
  for (;;) {
    const url = new URL(`${stack.sandboxUrl}/v1/${resource}`);
    url.searchParams.set('limit', '100');
    if (startingAfter) url.searchParams.set('starting_after', startingAfter);
    const response = await fetch(url, { headers: { authorization: `Bearer ${SANDBOX_KEY}` } });
    const page = (await response.json()) as { data: T[]; has_more: boolean };
    all.push(...page.data);
    if (!page.has_more || page.data.length === 0) return all;
    startingAfter = page.data[page.data.length - 1]?.id;
  }
}

async function gatewayLedger(): Promise<GatewayLedger> {
  const intents = await listSandbox<{ id: string; status: string; amount: number; metadata: { orderId?: string } }>(
    'payment_intents',
  );
  const refunds = await listSandbox<{ id: string; status: string; amount: number; metadata: { orderId?: string } }>(
    'refunds',
  );
  const ledger: GatewayLedger = { captures: new Map(), refunds: new Map() };
  for (const intent of intents) {
    const orderId = intent.metadata.orderId;
    if (!orderId || intent.status !== 'succeeded') continue;
    ledger.captures.set(orderId, [...(ledger.captures.get(orderId) ?? []), intent.amount]);
  }
  for (const refund of refunds) {
    const orderId = refund.metadata.orderId;
    if (!orderId || refund.status !== 'succeeded') continue;
    ledger.refunds.set(orderId, (ledger.refunds.get(orderId) ?? 0) + refund.amount);
  }
  const khalti = (await (await fetch(`${stack.sandboxUrl}/_sandbox/khalti/payments`)).json()) as {
    data: { purchaseOrderId: string; status: string; amount: number; refundedAmount: number }[];
  };
  for (const payment of khalti.data) {
    if (!['Completed', 'Refunded', 'Partially Refunded'].includes(payment.status)) continue;
    const orderId = payment.purchaseOrderId;
    ledger.captures.set(orderId, [...(ledger.captures.get(orderId) ?? []), payment.amount]);
    if (payment.refundedAmount > 0) {
      ledger.refunds.set(orderId, (ledger.refunds.get(orderId) ?? 0) + payment.refundedAmount);
    }
  }
  return ledger;
}

describe('chaos run (Stripe and Khalti)', () => {
  it('when orders run under killed workers, a restarted API and a faulty gateway, then no money is lost, taken twice or over-refunded, and every source agrees', async () => {
    const random = seededRandom(SEED);
    const runId = uniqueId(`chaos-${SEED}`);
    // One order in four is a Khalti order.
    const orders = Array.from({ length: ORDER_COUNT }, (_, index) => {
      const gateway: Gateway = random() < 0.25 ? 'khalti' : 'stripe';
      const fates = gateway === 'khalti' ? KHALTI_FATES : STRIPE_FATES;
      return { orderId: `${runId}-${index}`, gateway, fate: fates[Math.floor(random() * fates.length)] ?? 'pay' };
    });
    await fetch(`${stack.sandboxUrl}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        webhookDropRate: 0.3,
        webhookDuplicateRate: 0.2,
        webhookReorder: true,
        webhookDelayMs: 200,
        apiErrorRate: 0.1,
        apiErrorAfterCommitRate: 0.05,
        apiLatencyMs: 30,
      }),
    });

    const faults = { workerKills: 0, apiRestarts: 0, temporalRestarts: 0 };
    let chaosOn = true;
    const chaos = (async () => {
      let tick = 0;
      while (chaosOn) {
        await sleep(4_000 + random() * 4_000);
        if (!chaosOn) break;
        tick += 1;
        await workers.shift()?.stop('SIGKILL');
        faults.workerKills += 1;
        workers.push(stack.startWorker());
        if (tick % 4 === 0) {
          await stack.restartApi();
          faults.apiRestarts += 1;
        }
        if (tick % 5 === 2) {
          // Everything in flight at the server is cut; workers, API and clients must reconnect and carry on.
          await temporalServer.kill();
          await sleep(1_000 + random() * 2_000);
          await temporalServer.start();
          faults.temporalRestarts += 1;
        }
      }
    })();

    // Orders start a little apart, as a shop's checkouts do, and then live their fates concurrently.
    const violations: string[] = [];
    const fateRuns: Promise<void>[] = [];
    for (const order of orders) {
      // A request that never gets through is a violation of its own; the run goes on to check the money.
      fateRuns.push(
        runFate(order.orderId, order.gateway, order.fate, random).catch((error: unknown) => {
          violations.push(`${order.orderId} (${order.fate}): ${String(error)}`);
        }),
      );
      await sleep(150);
    }
    await Promise.all(fateRuns);
    chaosOn = false;
    await chaos;
    await fetch(`${stack.sandboxUrl}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        webhookDropRate: 0,
        webhookDuplicateRate: 0,
        apiErrorRate: 0,
        apiErrorAfterCommitRate: 0,
      }),
    });

    // Settle: every workflow closes after its TTL and grace window; give retries room.
    const settleDeadline = Date.now() + TTL_MS + GRACE_MS + 120_000;
    const openWorkflows = async () => {
      let open = 0;
      for (const { orderId } of orders) {
        const description = await client.workflow.getHandle(orderWorkflowId(orderId)).describe();
        if (description.status.name === 'RUNNING') open += 1;
      }
      return open;
    };
    while ((await openWorkflows()) > 0 && Date.now() < settleDeadline) await sleep(2_000);

    const ledger = await gatewayLedger();
    const outcomes = new Map<string, number>();
    for (const { orderId, gateway, fate } of orders) {
      const row = (
        await db.query<{
          status: string;
          captured_amount_minor: string;
          refunded_amount_minor: string;
        }>('SELECT status, captured_amount_minor, refunded_amount_minor FROM orders WHERE order_id = $1', [orderId])
      ).rows[0];
      const captures = ledger.captures.get(orderId) ?? [];
      const captured = captures.reduce((sum, amount) => sum + amount, 0);
      const refunded = ledger.refunds.get(orderId) ?? 0;
      const handle = client.workflow.getHandle(orderWorkflowId(orderId));
      const description = await handle.describe();
      const workflow: OrderState = await handle.query(orderStateQuery);
      const status = row?.status ?? 'MISSING';
      const outcome = `${gateway} ${fate} → ${status}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const say = (what: string) => violations.push(`${orderId} (${fate}, ${status}): ${what}`);

      if (!row) say('no order row');
      if (description.status.name === 'RUNNING') say('workflow still running after TTL + grace (stuck)');
      if (!EXPECTED[fate].includes(status)) say(`expected ${EXPECTED[fate].join('/')}`);
      if (captures.length > 1) say(`charged ${captures.length} times at the gateway`);
      if (refunded > captured) say(`refunded ${refunded} of ${captured} captured`);
      const kept = captured - refunded;
      if (['EXPIRED', 'CANCELLED', 'FAILED', 'REFUNDED'].includes(status) && kept !== 0) {
        say(`gateway kept ${kept} for an order that holds no money (lost payment)`);
      }
      if (['PAID', 'PARTIALLY_REFUNDED'].includes(status) && kept <= 0) say('order holds money the gateway does not');
      if (row && Number(row.refunded_amount_minor) !== refunded) {
        say(`database refunded ${row.refunded_amount_minor}, gateway ${refunded}`);
      }
      if (
        row &&
        ['PAID', 'PARTIALLY_REFUNDED', 'REFUNDED'].includes(status) &&
        Number(row.captured_amount_minor) !== captured
      ) {
        say(`database captured ${row.captured_amount_minor}, gateway ${captured}`);
      }
      if (workflow.status !== status) say(`workflow says ${workflow.status}`);
      if (workflow.refundedAmountMinor !== refunded) say(`workflow refunded ${workflow.refundedAmountMinor}`);
    }

    // Determinism: every history of the run replays with the current code.
    const histories = await Promise.all(
      orders.map(async ({ orderId }) => ({
        workflowId: orderWorkflowId(orderId),
        history: await client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory(),
      })),
    );
    const replayOptions = { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() };
    for await (const result of Worker.runReplayHistories(replayOptions, histories)) {
      if (result.error) violations.push(`${result.workflowId}: replay failed: ${String(result.error)}`);
    }
    // Failed workflow tasks are retried by the server; a worker bug (non-determinism, an unhandled error) is not.
    const taskFailures = new Map<string, number>();
    for (const { workflowId, history } of histories) {
      for (const event of history.events ?? []) {
        const attributes = event.workflowTaskFailedEventAttributes;
        if (!attributes) continue;
        const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[attributes.cause ?? 0] ?? String(attributes.cause);
        taskFailures.set(cause, (taskFailures.get(cause) ?? 0) + 1);
        if (/NON_DETERMINISTIC|UNHANDLED_FAILURE/.test(cause)) {
          violations.push(`${workflowId}: workflow task failed: ${cause} ${attributes.failure?.message ?? ''}`);
        }
      }
    }

    const stats = (await (await fetch(`${stack.sandboxUrl}/_sandbox/stats`)).json()) as Record<string, unknown>;
    console.log(
      [
        `chaos seed ${SEED}, ${ORDER_COUNT} orders`,
        ...[...outcomes.entries()].sort().map(([outcome, n]) => `  ${outcome.padEnd(60)} ${n}`),
        `  workflow task failures (retried by the server): ${JSON.stringify(Object.fromEntries(taskFailures))}`,
        `  workers SIGKILLed ${faults.workerKills} times, API restarted ${faults.apiRestarts} times, ` +
          `Temporal server SIGKILLed and restarted ${faults.temporalRestarts} times`,
        `  sandbox: ${JSON.stringify(stats)}`,
        `  violations: ${violations.length}`,
        ...violations.map((v) => `    ${v}`),
      ].join('\n'),
    );
    if (violations.length > 0) console.error(stack.logs().slice(-20_000));
    expect(violations).toEqual([]);
  });
});
