// The order's pay link over real HTTP, with real PostgreSQL and a real Temporal server. GET /pay/:orderId is read
// from seeded orders and payment_attempts rows, one per gateway and state. POST /pay/:orderId/attempts goes through
// Temporal to a stand-in order workflow (test/support/pay-link) that answers startPaymentAttemptUpdate as the
// contract says, so every answer's mapping (redirect, 400, 404, 409, 503), its rate limit and its refusal of bad
// input are tested while the real workflow handler is written elsewhere.
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import path from 'node:path';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId, type GatewayName } from '../../contracts/order.contract';
import { esewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { testDataConverter } from '../support/codec';
import type { StandInOrderInput } from '../support/pay-link/start-attempt.workflows';
import { testTemporalAddress, uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const ESEWA_FORM_URL = 'https://epay.example-esewa.test:8443/api/epay/main/v2/form';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,*/*;q=0.8';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let harness: ApiHarness;
let api: RunningApiServer;
let standIn: { worker: Worker; running: Promise<void>; connection: NativeConnection; taskQueue: string };

beforeAll(async () => {
  harness = await startApiHarness({ config: { ESEWA_FORM_URL, RATE_LIMIT_ATTEMPTS_PER_ORDER: '1000' } });
  api = await harness.startApi();
  const connection = await NativeConnection.connect({ address: testTemporalAddress() });
  const taskQueue = uniqueId('pay-link');
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.resolve(__dirname, '../support/pay-link/start-attempt.workflows.ts'),
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    },
  });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { code },
    dataConverter: testDataConverter(),
    shutdownGraceTime: '1s',
  });
  standIn = { worker, running: worker.run(), connection, taskQueue };
});

afterAll(async () => {
  await harness?.stop();
  if (standIn) {
    standIn.worker.shutdown();
    await standIn.running;
    await standIn.connection.close();
  }
});

interface SeededAttempt {
  gateway: GatewayName;
  intentId: string;
  paymentUrl: string;
  status: 'open' | 'declined' | 'cancelled' | 'expired' | 'superseded' | 'paid';
  failureReason?: string;
  declineCode?: string;
}

/** The rows the order's workflow would have written: the order and its attempts, numbered from 1. */
async function seedOrder(order: {
  orderId?: string;
  gateway: GatewayName;
  currency?: string;
  amountMinor?: number;
  status?: string;
  allowedGateways?: GatewayName[];
  expiresInMinutes?: number;
  attempts: SeededAttempt[];
}): Promise<string> {
  const orderId = order.orderId ?? uniqueId('pay');
  const last = order.attempts.at(-1);
  await harness.pool.query(
    `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id, payment_url,
                         allowed_gateways, expires_at)
     VALUES ($1, $2, $3, $4, $5, 'h', $6, $7, $8, now() + make_interval(mins => $9))`,
    [
      orderId,
      order.amountMinor ?? 150_050,
      order.currency ?? 'NPR',
      order.gateway,
      order.status ?? 'AWAITING_PAYMENT',
      last?.intentId ?? null,
      last?.paymentUrl ?? null,
      order.allowedGateways ?? null,
      order.expiresInMinutes ?? 10,
    ],
  );
  for (const [index, attempt] of order.attempts.entries()) {
    await harness.pool.query(
      `INSERT INTO payment_attempts (order_id, attempt_number, gateway, intent_id, payment_url, status, failure_reason,
                                     decline_code)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        orderId,
        index + 1,
        attempt.gateway,
        attempt.intentId,
        attempt.paymentUrl,
        attempt.status,
        attempt.failureReason ?? null,
        attempt.declineCode ?? null,
      ],
    );
  }
  return orderId;
}

/** The stand-in workflow for an order, under the order's real workflow ID. */
async function startStandIn(input: Omit<StandInOrderInput, 'orderId'> & { orderId?: string }): Promise<string> {
  const orderId = input.orderId ?? uniqueId('attempt');
  await harness.temporal.workflow.start('orderWorkflow', {
    workflowId: orderWorkflowId(orderId),
    taskQueue: standIn.taskQueue,
    args: [{ ...input, orderId } satisfies StandInOrderInput],
  });
  return orderId;
}

function hiddenFields(page: string): Record<string, string> {
  return Object.fromEntries(
    [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1],
      (m[2] ?? '').replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))),
    ]),
  );
}

function formAction(headers: Headers): string[] {
  const directive = (headers.get('content-security-policy') ?? '')
    .split(';')
    .map((part) => part.trim().split(/\s+/))
    .find(([name]) => name === 'form-action');
  return directive?.slice(1) ?? [];
}

/** The payer's browser posting the Try again form; redirects are not followed, so the 303 itself is asserted. */
async function postAttempt(orderId: string, body = '', headers: Record<string, string> = FORM, server = api) {
  const response = await fetch(`${server.url}/pay/${orderId}/attempts`, {
    method: 'POST',
    body,
    headers,
    redirect: 'manual',
  });
  const text = await response.text();
  let json: { error: { code: string; details?: unknown } } | undefined;
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: json! };
}

describe('GET /pay/:orderId', () => {
  it('when an eSewa order has its second attempt open, then the signed form carries that attempt’s transaction UUID', async () => {
    const orderId = uniqueId('es2');
    const second = `${esewaTransactionUuid(orderId)}-92`;
    await seedOrder({
      orderId,
      gateway: 'esewa',
      attempts: [
        {
          gateway: 'esewa',
          intentId: esewaTransactionUuid(orderId),
          paymentUrl: `http://x/pay/${orderId}`,
          status: 'cancelled',
        },
        { gateway: 'esewa', intentId: second, paymentUrl: `http://x/pay/${orderId}`, status: 'open' },
      ],
    });
    const page = await http(api.url, 'GET', `/pay/${orderId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`action="${ESEWA_FORM_URL}"`);
    const fields = hiddenFields(page.text);
    expect(fields).toMatchObject({ transaction_uuid: second, total_amount: '1500.50', product_code: 'EPAYTEST' });
    expect(fields.failure_url).toMatch(new RegExp(`/callbacks/esewa/failure/${second}$`));
  });

  it('when a Stripe card was declined and the session stays open, then the page says why in plain words and links to the session', async () => {
    const orderId = uniqueId('declined');
    const session = `https://checkout.stripe.test/c/pay/cs_${orderId}`;
    await seedOrder({
      orderId,
      gateway: 'stripe',
      currency: 'USD',
      amountMinor: 2_500,
      attempts: [
        {
          gateway: 'stripe',
          intentId: `cs_${orderId}`,
          paymentUrl: session,
          status: 'declined',
          failureReason: 'payment_declined',
          declineCode: 'insufficient_funds',
        },
        { gateway: 'stripe', intentId: `cs_${orderId}`, paymentUrl: session, status: 'open' },
      ],
    });
    const page = await http(api.url, 'GET', `/pay/${orderId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`Order ${orderId}: 25 USD`);
    expect(page.text).toContain('Your card was declined (insufficient funds).');
    expect(page.text).toContain(`<a href="${session}">Continue to payment</a>`);
    expect(page.text).not.toContain('<form');
  });

  it('when a Khalti payment was cancelled and the order allows eSewa too, then a Try again form posts here with a choice of both', async () => {
    const orderId = await seedOrder({
      gateway: 'khalti',
      allowedGateways: ['khalti', 'esewa'],
      attempts: [
        {
          gateway: 'khalti',
          intentId: uniqueId('pidx-1'),
          paymentUrl: 'https://pay.khalti.test/?pidx=1',
          status: 'cancelled',
        },
      ],
    });
    const page = await http(api.url, 'GET', `/pay/${orderId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Your last payment was cancelled; nothing was charged.');
    expect(page.text).toContain(`<form method="POST" action="/pay/${orderId}/attempts">`);
    expect(page.text).toContain('<option value="khalti" selected>Khalti</option><option value="esewa">eSewa</option>');
    expect(page.text).toContain('<button type="submit">Try again</button>');
    expect(page.text).not.toContain('pay.khalti.test');
    // The browser may post the form back to this origin.
    expect(formAction(page.headers)).toContain("'self'");
  });

  it('when an order allows only its own gateway and its attempt expired, then Try again offers no choice', async () => {
    const orderId = await seedOrder({
      gateway: 'khalti',
      attempts: [
        {
          gateway: 'khalti',
          intentId: uniqueId('pidx-2'),
          paymentUrl: 'https://pay.khalti.test/?pidx=2',
          status: 'expired',
        },
      ],
    });
    const page = await http(api.url, 'GET', `/pay/${orderId}`);
    expect(page.text).toContain('Your last payment expired before it was completed; nothing was charged.');
    expect(page.text).toContain('Try again');
    expect(page.text).not.toContain('<select');
  });

  it.each(['PAID', 'CANCELLED', 'FAILED', 'EXPIRED'])(
    'when the order is %s, then the page says it cannot be paid and offers no form or link',
    async (status) => {
      const orderId = await seedOrder({
        gateway: 'khalti',
        status,
        attempts: [
          {
            gateway: 'khalti',
            intentId: uniqueId('pidx-3'),
            paymentUrl: 'https://pay.khalti.test/?pidx=3',
            status: 'cancelled',
          },
        ],
      });
      const page = await http(api.url, 'GET', `/pay/${orderId}`, { headers: { accept: BROWSER_ACCEPT } });
      expect(page.status).toBe(409);
      expect(page.text).toContain('This order cannot be paid');
      expect(page.text).not.toContain('<form');
      expect(page.text).not.toContain('<a href');
    },
  );

  it('when the order is past its expiry, then it cannot be paid from the link', async () => {
    const orderId = await seedOrder({
      gateway: 'esewa',
      expiresInMinutes: -1,
      attempts: [{ gateway: 'esewa', intentId: uniqueId('e'), paymentUrl: 'http://x/pay/e-1', status: 'open' }],
    });
    const page = await http(api.url, 'GET', `/pay/${orderId}`, { headers: { accept: BROWSER_ACCEPT } });
    expect(page.status).toBe(409);
    expect(page.text).toContain('has expired');
    expect(page.text).not.toContain('<form');
  });

  it.each(['no-such-order', 'bad%20id', 'nul%00byte', 'x'.repeat(65)])(
    'when the link names %s, then 404 and the one error shape for an API client',
    async (id) => {
      const answer = await http(api.url, 'GET', `/pay/${id}`);
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('order_not_found');
    },
  );
});

describe('POST /pay/:orderId/attempts', () => {
  const khaltiUrl = 'https://pay.khalti.test/?pidx=new';

  it('when the payer chooses an allowed gateway, then 303 to the new attempt’s payment page', async () => {
    const orderId = await startStandIn({
      allowedGateways: ['khalti', 'esewa'],
      paymentUrls: { khalti: khaltiUrl, esewa: `${api.url}/pay/x` },
    });
    const khalti = await postAttempt(orderId, 'gateway=khalti');
    expect(khalti.status).toBe(303);
    expect(khalti.headers.get('location')).toBe(khaltiUrl);
    const esewa = await postAttempt(orderId, 'gateway=esewa');
    expect(esewa.headers.get('location')).toBe(`${api.url}/pay/x`);
  });

  it('when the form names no gateway, then the workflow picks and the payer is sent there', async () => {
    const orderId = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: { khalti: khaltiUrl } });
    const answer = await postAttempt(orderId);
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe(khaltiUrl);
  });

  it('when the workflow refuses the gateway (GatewayNotAllowed), then 400 gateway_not_allowed, as a page for a browser', async () => {
    const orderId = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: { khalti: khaltiUrl } });
    const json = await postAttempt(orderId, 'gateway=stripe');
    expect(json.status).toBe(400);
    expect(json.body.error).toMatchObject({ code: 'gateway_not_allowed', details: { orderId } });
    const page = await postAttempt(orderId, 'gateway=stripe', { ...FORM, accept: BROWSER_ACCEPT });
    expect(page.status).toBe(400);
    expect(page.text).toContain('This payment method is not offered');
    expect(page.text).toContain(`<a href="/pay/${orderId}">Back to the payment page</a>`);
  });

  it('when the order is no longer awaiting payment (InvalidTransition), then 409 and the cannot-be-paid page', async () => {
    const orderId = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: {}, closed: true });
    await seedOrder({ orderId, gateway: 'khalti', status: 'PAID', attempts: [] });
    const json = await postAttempt(orderId);
    expect(json.status).toBe(409);
    expect(json.body.error).toMatchObject({ code: 'invalid_transition', details: { orderId, status: 'PAID' } });
    const page = await postAttempt(orderId, '', { ...FORM, accept: BROWSER_ACCEPT });
    expect(page.status).toBe(409);
    expect(page.text).toContain('This order cannot be paid');
  });

  it('when the workflow answers with no attempt, then 409: nothing to pay', async () => {
    const orderId = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: {}, answerWithoutAttempt: true });
    const answer = await postAttempt(orderId);
    expect(answer.status).toBe(409);
    expect(answer.body.error.details).toMatchObject({ orderId, status: 'EXPIRED' });
  });

  it('when no workflow runs for the order, then 404 if there is no such order and 409 if it closed', async () => {
    const missing = await postAttempt(uniqueId('none'));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('order_not_found');
    const closedId = await seedOrder({ gateway: 'khalti', status: 'EXPIRED', attempts: [] });
    const closed = await postAttempt(closedId);
    expect(closed.status).toBe(409);
  });

  it('when Temporal cannot be reached, then 503 temporal_unavailable with Retry-After, as a page for a browser', async () => {
    const offline = await harness.startApi({
      config: harness.config({ CHECKOUT_TIMEOUT: '1s', ESEWA_FORM_URL }),
      temporal: await harness.unreachableTemporal(),
    });
    const json = await postAttempt(uniqueId('down'), '', FORM, offline);
    expect(json.status).toBe(503);
    expect(json.body.error.code).toBe('temporal_unavailable');
    expect(json.headers.get('retry-after')).toBe('5');
    const page = await postAttempt(uniqueId('down'), '', { ...FORM, accept: BROWSER_ACCEPT }, offline);
    expect(page.status).toBe(503);
    expect(page.text).toContain('Nothing was charged');
  });

  it.each([
    ['an unknown gateway', 'gateway=paypal', FORM, 400],
    ['a NUL byte in the gateway', 'gateway=khal%00ti', FORM, 400],
    ['a field that is not accepted', 'gateway=khalti&refund=1', FORM, 400],
    ['a JSON body', '{"gateway":"khalti"}', { 'content-type': 'application/json' }, 415],
    ['an oversized body', `gateway=${'k'.repeat(10_000)}`, FORM, 413],
  ])(
    'when the form carries %s, then a 4xx, never a 5xx, and the workflow is not asked',
    async (_case, body, headers, status) => {
      const answer = await postAttempt(uniqueId('nobody'), body, headers);
      expect(answer.status).toBe(status);
      expect(answer.body.error.code).toEqual(expect.any(String));
    },
  );

  it.each(['bad%20id', 'nul%00byte', 'x'.repeat(65)])(
    'when the order ID is %s, then 404 without asking anyone',
    async (id) => {
      const answer = await postAttempt(id, 'gateway=khalti');
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('order_not_found');
    },
  );

  it('when the attempts route gets another method, then 405', async () => {
    expect((await http(api.url, 'GET', `/pay/${uniqueId('m')}/attempts`)).status).toBe(405);
  });

  it('when one order asks for more new attempts than RATE_LIMIT_ATTEMPTS_PER_ORDER across replicas, then 429 rate_limited', async () => {
    const config = harness.config({ RATE_LIMIT_ATTEMPTS_PER_ORDER: '2', ESEWA_FORM_URL });
    const [replicaA, replicaB] = [await harness.startApi({ config }), await harness.startApi({ config })];
    const orderId = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: { khalti: khaltiUrl } });
    const statuses = [];
    for (const replica of [replicaA, replicaB, replicaA])
      statuses.push((await postAttempt(orderId, '', FORM, replica)).status);
    expect(statuses).toEqual([303, 303, 429]);
    // Another order is not affected, and the pay page itself is not counted as an attempt.
    const other = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: { khalti: khaltiUrl } });
    expect((await postAttempt(other, '', FORM, replicaB)).status).toBe(303);
    expect((await http(replicaB.url, 'GET', `/pay/${orderId}`)).status).toBe(404);
  });

  it('when Try again is answered 503 because Temporal cannot be reached, then it does not count against the order’s new attempts', async () => {
    const config = harness.config({ RATE_LIMIT_ATTEMPTS_PER_ORDER: '2', CHECKOUT_TIMEOUT: '1s', ESEWA_FORM_URL });
    const offline = await harness.startApi({ config, temporal: await harness.unreachableTemporal() });
    const online = await harness.startApi({ config });
    const orderId = await startStandIn({ allowedGateways: ['khalti'], paymentUrls: { khalti: khaltiUrl } });
    const during = [];
    for (let press = 0; press < 3; press += 1) during.push((await postAttempt(orderId, '', FORM, offline)).status);
    expect(during).toEqual([503, 503, 503]);
    // The limiter shares one store across replicas: the outage's presses were returned, so two attempts remain.
    const after = [];
    for (let press = 0; press < 3; press += 1) after.push((await postAttempt(orderId, '', FORM, online)).status);
    expect(after).toEqual([303, 303, 429]);
  });
});

describe('POST /orders gateways', () => {
  it('when gateways leaves out the order’s gateway, then 400 validation_failed naming gateways, and no order exists', async () => {
    const orderId = uniqueId('gw');
    const answer = await postJson(api.url, '/orders', {
      orderId,
      amount: 150_050,
      currency: 'NPR',
      gateway: 'esewa',
      gateways: ['khalti'],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'validation_failed',
      details: [{ field: 'gateways', message: 'must include the gateway esewa' }],
    });
    expect((await harness.pool.query('SELECT 1 FROM orders WHERE order_id = $1', [orderId])).rowCount).toBe(0);
  });

  it('when gateways are valid, then the order is created, and the same body again is a replay, not a conflict', async () => {
    const body = {
      orderId: uniqueId('gw'),
      amount: 2_500,
      currency: 'NPR',
      gateway: 'stripe',
      gateways: ['stripe', 'khalti'],
    };
    const created = await postJson(api.url, '/orders', body);
    expect(created.status).toBe(201);
    const again = await postJson(api.url, '/orders', body);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await postJson(api.url, '/orders', { ...body, gateways: ['stripe'] });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
  });
});
