// No secret, signature, card number or customer contact detail reaches the logs, whatever path it comes in on.
// Everything logs at trace level into one captured stream through the production logger (config/logger.ts): every
// API route over real HTTP (orders, cancel, webhooks, admin, health, metrics, errors and outages), the order
// activities on a real worker (including gateway failures whose messages echo the data), the Temporal SDK's log
// bridge, and the sandbox gateway. Then: none of the planted values is in the output, every API line names its
// request, and every activity line names its order and workflow.
import { Writable } from 'node:stream';
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { createLogger, passesLuhn, scrubText } from '../../config/logger';
import { orderStateQuery, orderWorkflowId } from '../../contracts/order.contract';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import { sdkLogger } from '../../worker/sdk-logger';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { TEST_API_KEY } from '../support/api-keys';
import { eventually } from '../support/processes';
import { startTestSandbox, submitPaymentPage, TEST_STRIPE_KEY } from '../support/sandbox';
import { uniqueId } from '../support/temporal';
import { paymentSucceeded } from '../support/stripe-events';

jest.setTimeout(90_000);

const WEBHOOK_SECRET = 'whsec_redaction_0123456789';
const ADMIN_TOKEN = 'admin-redaction-token-0123456789';

/** Every value planted below; none may appear anywhere in the captured output. */
const PLANTED = {
  pan: '4111111111111111',
  panGrouped: '4242 4242 4242 4242',
  panDashed: '5555-5555-5555-4444',
  email: 'ramona.q@example.test',
  phone: '+977-9800000001',
  localPhone: '9800000002',
  name: 'Ramona Quimby',
  surname: 'Quimby',
  adminToken: ADMIN_TOKEN,
  webhookSecret: WEBHOOK_SECRET,
  stripeKey: TEST_STRIPE_KEY,
  cookie: 'sessioncookie0123456789',
  bearer: 'caller-bearer-secret-0123456789',
  apiKey: TEST_API_KEY,
  // Filled in by the checkout below: the payer's client secret.
  clientSecret: 'not-yet-known-client-secret',
};
const CUSTOMER = { name: PLANTED.name, email: PLANTED.email, phone: PLANTED.localPhone };
const DIRTY_TEXT = `card ${PLANTED.pan} / ${PLANTED.panGrouped} / ${PLANTED.panDashed}, reach ${PLANTED.email} or ${PLANTED.phone}`;

const lines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});
const logger = createLogger('redaction', 'trace', capture);

let harness: ApiHarness;
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({
    stripeWebhookSecret: WEBHOOK_SECRET,
    logger,
    config: { ADMIN_API_TOKEN: ADMIN_TOKEN },
  });
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

/** Headers a careless client or proxy sends along, with the merchant's API key. */
const NOISY_HEADERS = {
  authorization: `Bearer ${PLANTED.apiKey}`,
  cookie: `session=${PLANTED.cookie}`,
  'x-customer-email': PLANTED.email,
};

function records(): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

function signed(payload: string, secret = WEBHOOK_SECRET) {
  return {
    'content-type': 'application/json',
    'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }),
  };
}

async function driveEveryApiRoute(): Promise<string[]> {
  const orderId = uniqueId('redact');
  const checkout = { orderId, amount: 2_000, currency: 'USD', gateway: 'stripe', description: DIRTY_TEXT };
  const created = await postJson(api.url, '/orders', { ...checkout, customer: CUSTOMER }, NOISY_HEADERS);
  expect(created.status).toBe(201);
  PLANTED.clientSecret = created.body.clientSecret as string;
  // The payer's status read (secret in the query string), a wrong secret, and the key where it does not belong.
  await http(api.url, 'GET', `/orders/${orderId}/status?client_secret=${encodeURIComponent(PLANTED.clientSecret)}`);
  await http(api.url, 'GET', `/orders/${orderId}/status?client_secret=${encodeURIComponent(PLANTED.apiKey)}`);
  await http(api.url, 'GET', '/admin/actions', { headers: { authorization: `Bearer ${PLANTED.apiKey}` } });
  await http(api.url, 'GET', `/orders/${orderId}`, { headers: { authorization: `Bearer ${PLANTED.bearer}` } });
  logger
    .child({ requestId: 'careless' })
    .info({ note: `leaked ${PLANTED.apiKey} and ${PLANTED.clientSecret}` }, `careless ${PLANTED.apiKey}`);
  // Replay, conflict, invalid and malformed bodies, and a wrong media type, each with the data in them.
  await postJson(api.url, '/orders', { ...checkout, customer: CUSTOMER }, NOISY_HEADERS);
  await postJson(api.url, '/orders', { ...checkout, amount: 2_001, customer: CUSTOMER }, NOISY_HEADERS);
  await postJson(api.url, '/orders', { ...checkout, orderId: PLANTED.email, customer: { email: DIRTY_TEXT } });
  await http(api.url, 'POST', '/orders', {
    body: `{"orderId":"x","note":"${DIRTY_TEXT}"`,
    headers: { 'content-type': 'application/json', ...NOISY_HEADERS },
  });
  await http(api.url, 'POST', '/orders', { body: DIRTY_TEXT, headers: { 'content-type': 'text/plain' } });
  // Reads, including a card number where an order ID goes and one in the query string.
  await http(api.url, 'GET', `/orders/${orderId}?email=${encodeURIComponent(PLANTED.email)}`, {
    headers: NOISY_HEADERS,
  });
  await http(api.url, 'GET', `/orders/${PLANTED.pan}`, { headers: NOISY_HEADERS });
  await http(api.url, 'GET', `/orders/${encodeURIComponent(PLANTED.email)}`);
  // Webhooks: signed (delivered, then a duplicate), forged, unparseable, for an unknown gateway.
  const { payload } = paymentSucceeded(orderId, 2_000, {
    extra: {
      receipt_email: PLANTED.email,
      description: DIRTY_TEXT,
      metadata: { note: DIRTY_TEXT },
      shipping: { name: PLANTED.name, phone: PLANTED.phone },
    },
  });
  harness.gateway.payerPays(orderId);
  expect((await http(api.url, 'POST', '/webhooks/stripe', { body: payload, headers: signed(payload) })).status).toBe(
    200,
  );
  await http(api.url, 'POST', '/webhooks/stripe', { body: payload, headers: signed(payload) });
  await http(api.url, 'POST', '/webhooks/stripe', {
    body: payload,
    headers: signed(payload, 'whsec_forger_0123456789'),
  });
  await http(api.url, 'POST', '/webhooks/stripe', { body: DIRTY_TEXT, headers: signed(DIRTY_TEXT) });
  await http(api.url, 'POST', `/webhooks/${PLANTED.pan}`, { body: payload, headers: signed(payload) });
  // Cancel after payment (a refund) with the data in the reason, which reaches the workflow and the activities.
  await eventually(
    async () => {
      const state = await harness.temporal.workflow.getHandle(orderWorkflowId(orderId)).query(orderStateQuery);
      return state.status === 'PAID' ? true : undefined;
    },
    { what: 'order PAID' },
  );
  await postJson(api.url, `/orders/${orderId}/cancel`, { reason: DIRTY_TEXT }, NOISY_HEADERS);
  // Admin, health, metrics, unknown routes, wrong methods.
  await http(api.url, 'GET', '/admin/actions', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  await http(api.url, 'GET', '/admin/actions', { headers: { authorization: `Bearer ${PLANTED.bearer}` } });
  for (const path of ['/healthz', '/readyz', '/metrics', `/nowhere/${PLANTED.pan}`]) {
    await http(api.url, 'GET', path, { headers: NOISY_HEADERS });
  }
  await http(api.url, 'DELETE', `/orders/${orderId}`, { headers: NOISY_HEADERS });
  // Outages: the 503 paths log their causes.
  const databaseDown = await harness.startApi({ pool: await harness.unreachableDatabase() });
  await postJson(databaseDown.url, '/orders', { ...checkout, orderId: uniqueId('redact-db'), customer: CUSTOMER });
  await http(databaseDown.url, 'GET', '/readyz');
  return [orderId];
}

async function driveActivityFailures(): Promise<string> {
  // The gateway fails with a message that echoes everything; the activity logs the failure and Temporal retries.
  const orderId = uniqueId('redact-gw');
  harness.gateway.failNextCalls('createIntent', 2, { orderId, error: new Error(`gateway said: ${DIRTY_TEXT}`) });
  const created = await postJson(api.url, '/orders', {
    orderId,
    amount: 3_000,
    currency: 'USD',
    gateway: 'stripe',
    customer: CUSTOMER,
    description: DIRTY_TEXT,
  });
  expect(created.status).toBe(201);
  return orderId;
}

function driveSdkLogBridge(): void {
  const bridge = sdkLogger(logger, 'trace');
  const failure = new Error(`Activity failed: ${DIRTY_TEXT}`, { cause: new Error(`Bearer ${PLANTED.bearer}`) });
  bridge.warn(`Activity task failed for ${PLANTED.email}`, {
    workflowId: 'order-x',
    error: failure,
    args: [{ customer: CUSTOMER, description: DIRTY_TEXT }],
  });
}

async function driveSandbox(): Promise<void> {
  const sandboxLines = lines.length;
  const sandbox = await startTestSandbox({ logger: createLogger('sandbox-redaction', 'trace', capture) });
  try {
    const gateway = createStripeGateway({
      apiBase: sandbox.url,
      secretKey: TEST_STRIPE_KEY,
      timeoutMs: 2_000,
      publicBaseUrl: 'http://shop.test',
    });
    const orderId = uniqueId('redact-sb');
    const intent = await gateway.createIntent({
      orderId,
      amountMinor: 1_000,
      currency: 'USD',
      description: DIRTY_TEXT,
      customer: CUSTOMER,
      expiresAt: new Date(Date.now() + 600_000),
      idempotencyKey: orderId,
    });
    expect((await submitPaymentPage(intent.paymentUrl, 'pay')).status).toBe(303);
    // Nothing listens at the sandbox's webhook URL: it logs the failed deliveries.
    await eventually(async () => (lines.length > sandboxLines ? true : undefined), { what: 'sandbox log lines' });
  } finally {
    await sandbox.stop();
  }
}

describe('log redaction', () => {
  it('when secrets, signatures, card numbers and contact data come in on every path, then none of them is logged, and every line names its request or its order and workflow', async () => {
    await driveEveryApiRoute();
    const failedGatewayOrder = await driveActivityFailures();
    driveSdkLogBridge();
    await driveSandbox();
    await eventually(
      async () =>
        records().some((r) => r.orderId === failedGatewayOrder && r.msg === 'payment intent created')
          ? true
          : undefined,
      { what: 'intent created after the gateway failures' },
    );
    await eventually(
      async () =>
        records().some((r) => r.msg === 'order transitioned' && String(r.reason).startsWith('refund_succeeded'))
          ? true
          : undefined,
      {
        what: 'refund after the cancel',
      },
    );

    const output = lines.join('\n');
    expect(lines.length).toBeGreaterThan(30);
    for (const [what, value] of Object.entries(PLANTED)) {
      expect({ what, leaked: output.includes(value) }).toEqual({ what, leaked: false });
    }
    // The full Stripe signature never, nor its hex part.
    expect(output).not.toMatch(/v1=[0-9a-f]{16,}/);
    // The scrubbing left its marks where the data was.
    expect(output).toContain('[redacted:card]');
    expect(output).toContain('[redacted:email]');
    expect(output).toContain('[redacted]');

    const all = records();
    const api = all.filter((r) => r.service === 'redaction' && r.activity === undefined && r.component === undefined);
    const lifecycle = new Set(['api listening', 'metrics listening', 'api stopped']);
    for (const record of api.filter((r) => !lifecycle.has(String(r.msg)))) {
      expect({ msg: record.msg, requestId: typeof record.requestId }).toEqual({ msg: record.msg, requestId: 'string' });
    }
    const activity = all.filter((r) => r.activity !== undefined);
    expect(activity.length).toBeGreaterThan(5);
    for (const record of activity) {
      expect({ msg: record.msg, orderId: typeof record.orderId, workflowId: record.workflowId }).toEqual({
        msg: record.msg,
        orderId: 'string',
        workflowId: orderWorkflowId(String(record.orderId)),
      });
    }
    // The failing gateway's message was logged, scrubbed, under its order.
    expect(
      activity.some(
        (r) =>
          r.orderId === failedGatewayOrder &&
          r.msg === 'order activity failed' &&
          JSON.stringify(r).includes('gateway said'),
      ),
    ).toBe(true);
  });
});

describe('scrubText', () => {
  it('when digits pass the Luhn check, then they are masked, and other long numbers are left alone', () => {
    expect(passesLuhn('4111111111111111')).toBe(true);
    expect(passesLuhn('4111111111111112')).toBe(false);
    expect(scrubText('pan 4111111111111111 and 4111 1111 1111 1111 and 4111-1111-1111-1111')).toBe(
      'pan [redacted:card] and [redacted:card] and [redacted:card]',
    );
    expect(scrubText('ts 1795293243534 id 4111111111111112')).toBe('ts 1795293243534 id 4111111111111112');
    expect(scrubText('order 123456789012345678901234')).toBe('order 123456789012345678901234');
  });

  it('when text holds emails, international phone numbers or credentials, then they are masked', () => {
    expect(scrubText('mail a.b+c@shop.example.co.uk now')).toBe('mail [redacted:email] now');
    expect(scrubText('call +977 980-000-0001 or +1 (555) 010-0199')).toBe('call [redacted:phone] or [redacted:phone]');
    expect(scrubText('Authorization: Bearer abc.def-ghi')).toBe('Authorization: [redacted:credential]');
    expect(scrubText('key sk_test_abcdef123 secret whsec_abcdef123')).toBe(
      'key [redacted:credential] secret [redacted:credential]',
    );
    expect(scrubText('t=1700000000,v1=0123456789abcdef0123')).toBe('t=1700000000,[redacted:credential]');
    expect(scrubText('Authorization: Key live_secret_key_0123abcd')).toBe('Authorization: [redacted:credential]');
    expect(scrubText('khalti test_secret_key_0123abcd')).toBe('khalti [redacted:credential]');
    expect(scrubText('key op_live_AbC-12_xyz0123456789 and op_test_QQQQQQQQQQQQ')).toBe(
      'key [redacted:credential] and [redacted:credential]',
    );
    expect(scrubText('payer ord-1_secret_3q2-x_Yk9aBcDeFgHiJkLm')).toBe('payer ord-1[redacted:credential]');
    expect(scrubText('order ord-42 is PAID at 2030-01-02T03:04:05.000Z')).toBe(
      'order ord-42 is PAID at 2030-01-02T03:04:05.000Z',
    );
  });
});
