// Hostile input found by fuzzing the running API, one test per finding: each request gets a 4xx in the one error
// shape and changes nothing, and the process keeps running. Real HTTP against the in-process API, a real worker,
// Temporal and PostgreSQL.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { createLogger, scrubText } from '../../config/logger';
import { findUnstorableText, isStorableText } from '../../gateways/storable-text.schema';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { paymentSucceeded, stripeEvent } from '../support/stripe-events';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const ADMIN_TOKEN = 'hostile-admin-token-0123456789';
const WEBHOOK_SECRET = 'whsec_hostile_0123456789';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'hostile-test' };
const lines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});
let harness: ApiHarness;
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({
    stripeWebhookSecret: WEBHOOK_SECRET,
    logger: createLogger('hostile', 'info', capture),
  });
  api = await harness.startApi({
    config: harness.config({
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      TEMPORAL_TASK_QUEUE: harness.worker.taskQueue,
      RATE_LIMIT_PER_IP: '1000000',
      RATE_LIMIT_PER_ORDER: '1000000',
      HTTP_MAX_HEADER_BYTES: '8192',
    }),
  });
});

afterAll(async () => {
  await harness?.stop();
});

function expectErrorShape(result: { status: number; body: unknown }, status: number, code: string) {
  expect(result.status).toBe(status);
  expect(result.body).toMatchObject({ error: { code, message: expect.any(String) } });
}

// Other suites write to the same database at the same time: each check counts only the rows its own request could
// have written, found by the order ID or by a marker carried in the event.
async function ordersWithId(orderId: string): Promise<number> {
  const result = await harness.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE order_id = $1', [
    orderId,
  ]);
  return result.rows[0]?.n ?? 0;
}

async function storedEventsMentioning(marker: string): Promise<number> {
  const result = await harness.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM webhook_events WHERE strpos(raw_body, $1) > 0`,
    [marker],
  );
  return result.rows[0]?.n ?? 0;
}

function signedWebhook(payload: string, timestamp = Math.floor(Date.now() / 1000)) {
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp });
  return http(api.url, 'POST', '/webhooks/stripe', {
    body: payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  });
}

const checkoutBody = (overrides: Record<string, unknown> = {}) => ({
  orderId: uniqueId('hostile'),
  amount: 1_000,
  currency: 'USD',
  gateway: 'stripe',
  ...overrides,
});

describe('the storable-text refinement', () => {
  test.each([
    ['plain text', 'hello', true],
    ['a paired surrogate (emoji)', 'pay 💳', true],
    ['a NUL', 'a\u0000b', false],
    ['a lone high surrogate', 'a\uD83Db', false],
    ['a lone low surrogate', '\uDCB3', false],
  ])('when a string is %s, then storable is %p', (_name, text, storable) => {
    expect(isStorableText(text)).toBe(storable);
  });

  test('when a nested key or value is unstorable, then its path is named', () => {
    expect(findUnstorableText({ a: [{ b: 'ok' }, { c: 'x\u0000' }] })).toEqual(['a', 1, 'c']);
    expect(findUnstorableText({ ['k\u0000']: 1 })).toEqual(['k\u0000']);
  });
});

describe('checkout', () => {
  test.each([
    ['a NUL in the description', { description: 'a\u0000b' }, 'description'],
    ['a NUL in the customer name', { customer: { name: 'x\u0000' } }, 'customer.name'],
    ['a lone surrogate in the description', { description: 'coffee \uD83D' }, 'description'],
    ['an amount of 2^53-1', { amount: Number.MAX_SAFE_INTEGER }, 'amount'],
    ['an amount above Stripe maximum', { amount: 100_000_000 }, 'amount'],
    ['an eSewa amount above the wallet cap', { gateway: 'esewa', currency: 'NPR', amount: 100_000_001 }, 'amount'],
  ])('when the body has %s, then it is a 400 naming the field and no order is stored', async (_n, fields, field) => {
    const body = checkoutBody(fields);
    const answer = await postJson(api.url, '/orders', body);
    expectErrorShape(answer, 400, 'validation_failed');
    expect(answer.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(await ordersWithId(body.orderId)).toBe(0);
  });

  test('when the amount is Stripe maximum, then the order is accepted', async () => {
    const answer = await postJson(api.url, '/orders', checkoutBody({ amount: 99_999_999 }));
    expect(answer.status).toBe(201);
  });
});

describe('admin parameters', () => {
  test.each([
    ['a NUL in a path parameter', '/admin/reconciliation/reports/rpt%00x'],
    ['a NUL in a query parameter', '/admin/orders?status=PAID%00'],
    ['a NUL in the audit log filter', '/admin/actions?actor=a%00b'],
  ])('when %s, then it is a 400', async (_name, path) => {
    const answer = await http(api.url, 'GET', path, { headers: admin });
    expectErrorShape(answer, 400, 'validation_failed');
  });
});

describe('Stripe webhooks', () => {
  test.each([
    ['301 s', 301],
    ['an hour', 3_600],
    ['a year', 365 * 24 * 3_600],
  ])('when the signature is dated %s in the future, then it is refused and nothing is stored', async (_n, ahead) => {
    const marker = uniqueId('future');
    const event = paymentSucceeded(marker, 1_000, { eventId: `evt_${marker}` });
    const answer = await signedWebhook(event.payload, Math.floor(Date.now() / 1000) + ahead);
    expectErrorShape(answer, 401, 'invalid_signature');
    expect(await storedEventsMentioning(marker)).toBe(0);
  });

  test.each([
    ['event ID', (m: string) => stripeEvent('customer.created', { id: 'cus_1', object: 'customer' }, `evt_\u0000${m}`)],
    [
      'event type',
      (m: string) => stripeEvent('customer.\u0000created', { id: 'cus_1', object: 'customer' }, `evt_${m}`),
    ],
    ['order ID in the metadata', (m: string) => paymentSucceeded('ord\u0000x', 1_000, { eventId: `evt_${m}` })],
  ])('when a signed event carries a NUL in its %s, then it is a 400 and nothing is stored', async (_n, build) => {
    const marker = uniqueId('nul');
    const answer = await signedWebhook(build(marker).payload);
    expectErrorShape(answer, 400, 'validation_failed');
    expect(await storedEventsMentioning(marker)).toBe(0);
  });
});

describe('wallet callbacks', () => {
  async function khaltiOrder() {
    const orderId = uniqueId('khalti-cb');
    const answer = await postJson(api.url, '/orders', {
      orderId,
      amount: 1_000,
      currency: 'NPR',
      gateway: 'khalti',
    });
    expect(answer.status).toBe(201);
    const row = await harness.pool.query<{ intent_id: string }>('SELECT intent_id FROM orders WHERE order_id = $1', [
      orderId,
    ]);
    return { orderId, pidx: String(row.rows[0]?.intent_id) };
  }

  test('when a Khalti return names another order with a real pidx, then it is a 400, stored nowhere, and the genuine return is still taken', async () => {
    const victim = await khaltiOrder();
    const other = await khaltiOrder();
    const forged = await http(
      api.url,
      'GET',
      `/callbacks/khalti?pidx=${victim.pidx}&status=Completed&purchase_order_id=${other.orderId}`,
    );
    expectErrorShape(forged, 400, 'callback_refused');
    const stored = () =>
      harness.pool.query('SELECT event_id FROM webhook_events WHERE gateway = $1 AND event_id LIKE $2', [
        'khalti',
        `%${victim.pidx}%`,
      ]);
    expect((await stored()).rowCount).toBe(0);
    const genuine = await http(
      api.url,
      'GET',
      `/callbacks/khalti?pidx=${victim.pidx}&status=Completed&purchase_order_id=${victim.orderId}`,
    );
    expect(genuine.status).toBe(200);
    expect((await stored()).rows).toEqual([{ event_id: `khalti-return:${victim.orderId}:${victim.pidx}:captured` }]);
  });

  test('when a Khalti return names an unknown pidx or a Stripe order, then it is a 400 in the one error shape', async () => {
    const order = await khaltiOrder();
    const stripeOrder = checkoutBody();
    expect((await postJson(api.url, '/orders', stripeOrder)).status).toBe(201);
    for (const query of [
      `pidx=notTheIntent123&status=Completed&purchase_order_id=${order.orderId}`,
      `pidx=${order.pidx}&status=Completed&purchase_order_id=${stripeOrder.orderId}`,
      `pidx=${order.pidx}&status=Completed&purchase_order_id=no-such-order`,
    ]) {
      expectErrorShape(await http(api.url, 'GET', `/callbacks/khalti?${query}`), 400, 'callback_refused');
    }
  });

  test.each([
    ['a Khalti pidx', '/callbacks/khalti?pidx=a%00b&status=Completed&purchase_order_id=x'],
    ['a Khalti status', '/callbacks/khalti?pidx=ab&status=Comp%00leted&purchase_order_id=x'],
    ['an eSewa failure path', '/callbacks/esewa/failure/a%00b'],
    ['an eSewa data field', '/callbacks/esewa/success?data=%00'],
  ])('when %s carries a NUL, then it is a 400, not a 503', async (_n, path) => {
    expectErrorShape(await http(api.url, 'GET', path), 400, 'callback_refused');
  });
});

describe('settlement uploads', () => {
  test('when uploads have a bad header and a body over 20 KB, then each is a 400 and the API keeps answering', async () => {
    const body = `nonsense,header\n${'x,y\n'.repeat(10_000)}`;
    for (let i = 0; i < 5; i++) {
      const upload = await http(
        api.url,
        'POST',
        `/admin/reconciliation/reports?gateway=stripe&windowStart=2026-01-01T00:00:00Z&windowEnd=2026-01-02T00:00:00Z`,
        { body, headers: { ...admin, 'content-type': 'text/csv' } },
      );
      expectErrorShape(upload, 400, 'invalid_report');
    }
    expect((await http(api.url, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('logs', () => {
  test('when card numbers, emails and phones are percent-encoded in a path, then the log shows none of them', async () => {
    const paths = [
      '/orders/4242%204242%204242%204242',
      '/nowhere/ramona%40example.test',
      '/nowhere/%2B977%209800000001',
      '/nowhere/4242%25204242%25204242%25204242',
    ];
    for (const path of paths) await http(api.url, 'GET', path);
    const output = lines.join('\n');
    for (const secret of ['4242 4242 4242 4242', '4242%204242', 'ramona@example.test', 'ramona%40', '9800000001']) {
      expect(output).not.toContain(secret);
    }
    expect(scrubText('/x/4242%204242%204242%204242')).toBe('/x/[redacted:card]');
  });
});

describe('requests Node refuses itself', () => {
  function raw(head: string): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const socket = connect(api.port, '127.0.0.1');
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
      socket.on('end', () => {
        const [headPart = '', bodyPart = ''] = data.split('\r\n\r\n');
        resolve({ status: Number(headPart.split(' ')[1]), body: bodyPart ? JSON.parse(bodyPart) : undefined });
      });
      socket.on('error', reject);
      socket.write(head);
    });
  }

  test('when the request line is malformed, then it is a 400 in the one error shape', async () => {
    expectErrorShape(await raw('NOT A REQUEST\r\n\r\n'), 400, 'bad_request');
  });

  test('when the headers exceed the limit, then it is a 431 in the one error shape', async () => {
    const big = 'x'.repeat(10_000);
    expectErrorShape(await raw(`GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\n\r\n`), 431, 'headers_too_large');
  });

  test('when Expect asks for something else than 100-continue, then it is a 417 in the one error shape', async () => {
    const answer = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: api.port, path: '/healthz', headers: { expect: 'teapot' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expectErrorShape(answer, 417, 'expectation_failed');
  });

  test('when a JSON body exceeds 16 KB, then it is a 413 in the one error shape', async () => {
    const answer = await postJson(api.url, '/orders', checkoutBody({ description: 'x'.repeat(20_000) }));
    expectErrorShape(answer, 413, 'payload_too_large');
  });
});
