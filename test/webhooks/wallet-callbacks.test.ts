// The API's wallet doors over real HTTP: checkout rules for the wallets, GET /pay/:orderId (the signed eSewa form),
// GET /callbacks/esewa/… (stored, de-duplicated, signalled, payer sent back) and the operator's confirmation of a
// manual refund. A real order worker runs the eSewa adapter against the sandbox's eSewa mode.
import { Registry } from 'prom-client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import { createOrderActivityMetrics } from '../../config/metrics';
import type { RunningApiServer } from '../../api/server';
import { createEsewaGateway } from '../../gateways/esewa/esewa.gateway';
import { esewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import { gatewayRegistry } from '../../gateways/gateway-registry';
import type { RunningSandbox } from '../../sandbox/server';
import { apiTestLogger, http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { eventually } from '../support/processes';
import { startTestSandbox } from '../support/sandbox';
import { startTestWorker, uniqueId, type RunningTestWorker } from '../support/temporal';

jest.setTimeout(60_000);

const ADMIN_TOKEN = 'wallet-admin-token-0123456789';
const RETURN_URL = 'https://shop.example/thanks?cart=7';
/** The worker's PUBLIC_BASE_URL, which paymentUrl is built on. */
const WORKER_PUBLIC_BASE = 'http://127.0.0.1:9';

let harness: ApiHarness;
let sandbox: RunningSandbox;
let worker: RunningTestWorker;
let api: RunningApiServer;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  harness = await startApiHarness();
  worker = await startTestWorker(
    createOrderActivities({
      pool: harness.pool,
      gateways: gatewayRegistry({
        esewa: createEsewaGateway({
          statusUrl: `${sandbox.url}/api/epay/transaction/status/`,
          productCode: 'EPAYTEST',
          publicBaseUrl: WORKER_PUBLIC_BASE,
          timeoutMs: 2_000,
        }),
      }),
      logger: apiTestLogger,
      metrics: createOrderActivityMetrics(new Registry()),
    }),
  );
  api = await harness.startApi({
    config: harness.config({
      TEMPORAL_TASK_QUEUE: worker.taskQueue,
      ESEWA_FORM_URL: `${sandbox.url}/api/epay/main/v2/form`,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
    }),
  });
});

afterAll(async () => {
  await harness?.stop();
  await worker?.stop();
  await sandbox?.stop();
});

async function checkout(orderId: string, extra: Record<string, unknown> = {}) {
  return postJson(api.url, '/orders', { orderId, amount: 2_500_00, currency: 'NPR', gateway: 'esewa', ...extra });
}

/** The browser: load /pay/:orderId, post its form to the sandbox, press a button; returns the callback URL. */
async function payOnEsewa(orderId: string, action: 'pay' | 'fail'): Promise<URL> {
  const page = await http(api.url, 'GET', `/pay/${orderId}`);
  expect(page.status).toBe(200);
  const fields = Object.fromEntries(
    [...page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1],
      (m[2] ?? '').replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))),
    ]),
  );
  const form = await fetch(`${sandbox.url}/api/epay/main/v2/form`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  expect(form.status).toBe(303);
  const pressed = await fetch(`${sandbox.url}/esewa/pay/${esewaTransactionUuid(orderId)}/${action}`, {
    method: 'POST',
    redirect: 'manual',
  });
  return new URL(String(pressed.headers.get('location')));
}

/** The browser following the wallet's redirect to the API. */
/** What a browser asks for; API clients get the one error shape instead of pages. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,*/*;q=0.8';

function followToApi(callback: URL) {
  return fetch(`${api.url}${callback.pathname}${callback.search}`, {
    redirect: 'manual',
    headers: { accept: BROWSER_ACCEPT },
  });
}

async function orderStatus(orderId: string): Promise<string> {
  return (await http(api.url, 'GET', `/orders/${orderId}`)).body.status as string;
}

async function storedEvents(orderId: string) {
  const { rows } = await harness.pool.query<{ event_type: string; outcome: string }>(
    'SELECT event_type, outcome FROM webhook_events WHERE gateway = $1 AND order_id = $2 ORDER BY id',
    ['esewa', orderId],
  );
  return rows;
}

describe('wallet checkout rules', () => {
  it('when a wallet order is not in NPR, then it is refused with a 400 naming the currency', async () => {
    for (const gateway of ['esewa', 'khalti']) {
      const response = await postJson(api.url, '/orders', {
        orderId: uniqueId('npr'),
        amount: 5_000,
        currency: 'USD',
        gateway,
      });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({
        code: 'validation_failed',
        details: [{ field: 'currency', message: `must be NPR for gateway ${gateway}` }],
      });
    }
  });

  it('when a Khalti order is under Rs 10, then it is refused with a 400 naming the amount', async () => {
    const response = await postJson(api.url, '/orders', {
      orderId: uniqueId('kmin'),
      amount: 999,
      currency: 'NPR',
      gateway: 'khalti',
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details).toEqual([
      { field: 'amount', message: 'must be at least 1000 paisa (Rs 10) for gateway khalti' },
    ]);
  });
});

describe('eSewa through the API', () => {
  it('when the payer pays, then the signed callback is stored once, the order is PAID and the payer goes back to the shop', async () => {
    const orderId = uniqueId('api-es');
    const created = await checkout(orderId, { returnUrl: RETURN_URL });
    expect(created.status).toBe(201);
    expect(created.body.paymentUrl).toBe(`${WORKER_PUBLIC_BASE}/pay/${orderId}`);

    const page = await http(api.url, 'GET', `/pay/${orderId}`);
    expect(page.text).toContain(`action="${sandbox.url}/api/epay/main/v2/form"`);
    expect(page.text).toContain('<button type="submit">');
    const callback = await payOnEsewa(orderId, 'pay');
    expect(callback.pathname).toBe('/callbacks/esewa/success');

    const back = await followToApi(callback);
    expect(back.status).toBe(303);
    const location = new URL(String(back.headers.get('location')));
    expect(`${location.origin}${location.pathname}`).toBe('https://shop.example/thanks');
    expect(Object.fromEntries(location.searchParams)).toEqual({
      cart: '7',
      orderId,
      gateway: 'esewa',
      outcome: 'paid',
    });
    await eventually(async () => ((await orderStatus(orderId)) === 'PAID' ? true : undefined), { what: 'PAID' });

    // The payer reloads the page: the same event, acknowledged, not stored twice.
    expect((await followToApi(callback)).status).toBe(303);
    expect(await storedEvents(orderId)).toEqual([{ event_type: 'success:COMPLETE', outcome: 'delivered' }]);

    const closed = await http(api.url, 'GET', `/pay/${orderId}`, { headers: { accept: BROWSER_ACCEPT } });
    expect(closed.status).toBe(409);
    expect(closed.text).toContain('is paid');
  });

  it('when the success data is tampered with, then nothing is stored or changed and the payer sees a 400 page', async () => {
    const orderId = uniqueId('api-tamper');
    await checkout(orderId);
    const callback = await payOnEsewa(orderId, 'pay');
    const data = JSON.parse(Buffer.from(String(callback.searchParams.get('data')), 'base64').toString()) as Record<
      string,
      string
    >;
    data.total_amount = '1.0';
    callback.searchParams.set('data', Buffer.from(JSON.stringify(data)).toString('base64'));

    const refused = await followToApi(callback);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toMatch(/text\/html/);
    expect(await refused.text()).toContain('nothing about your order was changed');
    const asApiClient = await http(api.url, 'GET', `${callback.pathname}${callback.search}`);
    expect(asApiClient.status).toBe(400);
    expect(asApiClient.body.error.code).toBe('callback_refused');
    expect(await storedEvents(orderId)).toEqual([]);
    expect(await orderStatus(orderId)).toBe('AWAITING_PAYMENT');
  });

  it('when the payer fails on eSewa and the order has no return URL, then the hint is stored and an orderpay page answers', async () => {
    const orderId = uniqueId('api-fail');
    await checkout(orderId);
    const callback = await payOnEsewa(orderId, 'fail');
    expect(callback.pathname).toBe(`/callbacks/esewa/failure/${esewaTransactionUuid(orderId)}`);
    const answer = await followToApi(callback);
    expect(answer.status).toBe(200);
    const page = await answer.text();
    expect(page).toContain('did not go through');
    // The order's pay link is where the payer can try again.
    expect(page).toContain(
      `<form method="POST" action="/pay/${orderId}/attempts"><button type="submit">Try again</button></form>`,
    );
    expect(await storedEvents(orderId)).toEqual([{ event_type: 'failure', outcome: 'delivered' }]);
    // The hint made the workflow ask eSewa, which says CANCELED: the attempt ends, and the order stays payable.
    await eventually(
      async () => {
        const attempt = await harness.pool.query<{ status: string }>(
          'SELECT status FROM payment_attempts WHERE order_id = $1 AND attempt_number = 1',
          [orderId],
        );
        return attempt.rows[0]?.status === 'cancelled' ? true : undefined;
      },
      { what: 'the first attempt cancelled' },
    );
    expect(await orderStatus(orderId)).toBe('AWAITING_PAYMENT');
  });

  it('when a page or callback names nothing of ours, then the payer gets an honest 4xx page', async () => {
    expect((await http(api.url, 'GET', '/pay/no-such-order')).status).toBe(404);
    expect((await http(api.url, 'GET', '/pay/bad%20id')).status).toBe(404);
    expect((await http(api.url, 'GET', '/callbacks/esewa/failure/a-9')).status).toBe(400);
    expect((await http(api.url, 'GET', '/callbacks/nowhere/success')).status).toBe(404);
    expect((await http(api.url, 'POST', '/callbacks/esewa/success')).status).toBe(405);
  });

  it('when a paid eSewa order is cancelled, then the refund waits for an operator, whose confirmation is recorded once', async () => {
    const orderId = uniqueId('api-refund');
    await checkout(orderId);
    await followToApi(await payOnEsewa(orderId, 'pay'));
    await eventually(async () => ((await orderStatus(orderId)) === 'PAID' ? true : undefined), { what: 'PAID' });

    const impatient = await harness.startApi({
      config: harness.config({ TEMPORAL_TASK_QUEUE: worker.taskQueue, CHECKOUT_TIMEOUT: '1s' }),
    });
    const cancelled = await postJson(impatient.url, `/orders/${orderId}/cancel`, { reason: 'customer' });
    expect(cancelled.status).toBe(503);
    expect(cancelled.body.error.code).toBe('cancel_pending');

    const refundId = `refund-${orderId}-1`;
    const waiting = await eventually(async () => {
      const { rows } = await harness.pool.query<{ state: string }>('SELECT state FROM refunds WHERE refund_id = $1', [
        refundId,
      ]);
      return rows[0]?.state === 'awaiting_manual' ? rows[0] : undefined;
    });
    expect(waiting.state).toBe('awaiting_manual');
    expect(await orderStatus(orderId)).toBe('PAID');

    const confirmPath = `/admin/refunds/${refundId}/confirm`;
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'ops.anita' };
    expect((await postJson(api.url, confirmPath, { reference: 'RF-1' })).status).toBe(401);
    expect((await postJson(api.url, confirmPath, {}, headers)).status).toBe(400);
    expect(
      (await postJson(api.url, `/admin/refunds/refund-${orderId}-9/confirm`, { reference: 'x' }, headers)).status,
    ).toBe(404);

    const confirmed = await postJson(api.url, confirmPath, { reference: 'RF-1', note: 'portal' }, headers);
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.refund).toMatchObject({
      refundId,
      orderId,
      state: 'succeeded',
      manualReference: 'RF-1',
      confirmedBy: 'ops.anita',
      changed: true,
    });
    expect(await orderStatus(orderId)).toBe('REFUNDED');
    const again = await postJson(api.url, confirmPath, { reference: 'RF-1' }, headers);
    expect(again.status).toBe(200);
    expect(again.body.refund.changed).toBe(false);

    const { rows } = await harness.pool.query<{ actor: string; outcome: string }>(
      "SELECT actor, outcome FROM admin_actions WHERE action = 'refund.confirm_manual' AND target = $1 ORDER BY id",
      [refundId],
    );
    expect(rows).toEqual([
      { actor: 'ops.anita', outcome: 'succeeded' },
      { actor: 'ops.anita', outcome: 'already_confirmed' },
    ]);
  });
});
