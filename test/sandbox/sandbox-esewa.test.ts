// The eSewa adapter against the sandbox's eSewa mode over real HTTP: the signed form the API would serve, the
// hosted page, the signed success redirect, the status API and its faults, and state kept across a restart.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import { createEsewaGateway } from '../../gateways/esewa/esewa.gateway';
import { ESEWA_UAT_PRODUCT_CODE, ESEWA_UAT_SECRET_KEY, buildEsewaForm } from '../../gateways/esewa/esewa.protocol';
import { esewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import { GatewayUnavailableError } from '../../gateways/gateway-errors';
import type { RunningSandbox } from '../../sandbox/server';
import { startTestSandbox } from '../support/sandbox';
import { uniqueId } from '../support/temporal';

const RETURN_BASE = 'http://127.0.0.1:9';

let sandbox: RunningSandbox;

beforeEach(async () => {
  sandbox = await startTestSandbox();
});
afterEach(async () => {
  await sandbox?.stop();
});

function gateway() {
  return createEsewaGateway({
    statusUrl: `${sandbox.url}/api/epay/transaction/status/`,
    productCode: ESEWA_UAT_PRODUCT_CODE,
    publicBaseUrl: RETURN_BASE,
    timeoutMs: 2_000,
  });
}

/** What the payer's browser does with orderpay's form: POST it to the eSewa form URL, land on the hosted page. */
async function submitForm(orderId: string, amountMinor: number, secretKey = ESEWA_UAT_SECRET_KEY) {
  const form = buildEsewaForm(
    { formUrl: '', productCode: ESEWA_UAT_PRODUCT_CODE, secretKey, publicBaseUrl: RETURN_BASE },
    { orderId, amountMinor },
  );
  return fetch(`${sandbox.url}/api/epay/main/v2/form`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form }).toString(),
    redirect: 'manual',
  });
}

function press(orderId: string, action: 'pay' | 'fail' | 'abandon') {
  return fetch(`${sandbox.url}/esewa/pay/${esewaTransactionUuid(orderId)}/${action}`, {
    method: 'POST',
    redirect: 'manual',
  });
}

const lookup = (orderId: string, amountMinor: number) => ({
  orderId,
  intentId: esewaTransactionUuid(orderId),
  amountMinor,
  currency: 'NPR',
});

describe('eSewa sandbox and adapter', () => {
  it('when the payer submits the form and pays, then the redirect is a signed success and the status is COMPLETE', async () => {
    const orderId = uniqueId('es.pay');
    const submitted = await submitForm(orderId, 1_000_00);
    expect(submitted.status).toBe(303);
    const pageUrl = String(submitted.headers.get('location'));
    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('1000.00 NPR');

    expect(await gateway().fetchPaymentStatus(lookup(orderId, 1_000_00))).toMatchObject({
      state: 'pending',
      gatewayStatus: 'PENDING',
    });
    const paid = await press(orderId, 'pay');
    expect(paid.status).toBe(303);
    const location = new URL(String(paid.headers.get('location')));
    expect(location.pathname).toBe('/callbacks/esewa/success');

    const handler = createEsewaCallbackHandler({
      productCode: ESEWA_UAT_PRODUCT_CODE,
      secretKey: ESEWA_UAT_SECRET_KEY,
    });
    const parsed = handler.parse({ path: ['success'], query: { data: String(location.searchParams.get('data')) } });
    expect(parsed).toMatchObject({
      orderId,
      paymentEvent: { kind: 'captured', verified: true, amountMinor: 1_000_00 },
    });
    const decoded = JSON.parse(Buffer.from(String(location.searchParams.get('data')), 'base64').toString()) as {
      total_amount: string;
    };
    // The sandbox writes amounts as eSewa does, which differs from what orderpay signed in the form.
    expect(decoded.total_amount).toBe('1000.0');

    const status = await gateway().fetchPaymentStatus(lookup(orderId, 1_000_00));
    expect(status).toMatchObject({
      state: 'captured',
      amountMinor: 1_000_00,
      currency: 'NPR',
      gatewayStatus: 'COMPLETE',
    });
    expect(status.paymentReference).toBe(parsed.paymentEvent.paymentReference);
    expect(await gateway().cancelIntent(lookup(orderId, 1_000_00))).toMatchObject({
      outcome: 'already_captured',
      amountMinor: 1_000_00,
    });
  });

  it('when the form is signed with another secret or tampered with, then the sandbox refuses it', async () => {
    const orderId = uniqueId('es-forged');
    expect((await submitForm(orderId, 500, 'wrong-secret')).status).toBe(400);
    expect(await gateway().fetchPaymentStatus(lookup(orderId, 500))).toMatchObject({ gatewayStatus: 'NOT_FOUND' });
  });

  it('when the payer fails or nobody pays, then the status is CANCELED or NOT_FOUND and nothing is captured', async () => {
    const failed = uniqueId('es-fail');
    await submitForm(failed, 2_000);
    const redirect = await press(failed, 'fail');
    expect(redirect.status).toBe(303);
    expect(redirect.headers.get('location')).toBe(
      `${RETURN_BASE}/callbacks/esewa/failure/${esewaTransactionUuid(failed)}`,
    );
    expect(await gateway().fetchPaymentStatus(lookup(failed, 2_000))).toMatchObject({ state: 'cancelled' });

    const never = uniqueId('es-never');
    expect(await gateway().fetchPaymentStatus(lookup(never, 2_000))).toMatchObject({
      state: 'pending',
      gatewayStatus: 'NOT_FOUND',
    });
    expect(await gateway().cancelIntent(lookup(never, 2_000))).toEqual({ outcome: 'cancelled' });
  });

  it('when the status is asked with another amount, then eSewa does not find the payment', async () => {
    const orderId = uniqueId('es-amount');
    await submitForm(orderId, 3_000);
    await press(orderId, 'pay');
    expect(await gateway().fetchPaymentStatus(lookup(orderId, 3_001))).toMatchObject({ gatewayStatus: 'NOT_FOUND' });
  });

  it('when eSewa says AMBIGUOUS or refunded, then the adapter asks for attention', async () => {
    const orderId = uniqueId('es-amb');
    await submitForm(orderId, 4_000);
    const uuid = esewaTransactionUuid(orderId);
    const force = (status: string) =>
      fetch(`${sandbox.url}/_sandbox/esewa/transactions/${uuid}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status }),
      });
    expect((await force('AMBIGUOUS')).status).toBe(200);
    expect(await gateway().fetchPaymentStatus(lookup(orderId, 4_000))).toMatchObject({
      state: 'pending',
      needsAttention: true,
    });
    await force('FULL_REFUND');
    expect(await gateway().fetchPaymentStatus(lookup(orderId, 4_000))).toMatchObject({
      state: 'captured',
      needsAttention: true,
    });
  });

  it('when the status API answers an outage body or a 5xx, then the lookup fails retryably and is never a status', async () => {
    const orderId = uniqueId('es-outage');
    sandbox.sandbox.setFaults({ statusOutageRate: 1 });
    await expect(gateway().fetchPaymentStatus(lookup(orderId, 100))).rejects.toBeInstanceOf(GatewayUnavailableError);
    sandbox.sandbox.setFaults({ statusOutageRate: 0, apiErrorRate: 1 });
    await expect(gateway().fetchPaymentStatus(lookup(orderId, 100))).rejects.toBeInstanceOf(GatewayUnavailableError);
    sandbox.sandbox.setFaults({ apiErrorRate: 0 });
    await expect(gateway().fetchPaymentStatus(lookup(orderId, 100))).resolves.toMatchObject({
      gatewayStatus: 'NOT_FOUND',
    });
  });

  it('when the callback is dropped, then the payer stays on eSewa and the status API still knows', async () => {
    const orderId = uniqueId('es-drop');
    sandbox.sandbox.setFaults({ webhookDropRate: 1 });
    await submitForm(orderId, 5_000);
    const paid = await press(orderId, 'pay');
    expect(paid.status).toBe(200);
    expect(paid.headers.get('location')).toBeNull();
    expect(await gateway().fetchPaymentStatus(lookup(orderId, 5_000))).toMatchObject({ state: 'captured' });
  });

  it('when a refund is asked for, then it becomes a manual task and nothing is refunded', async () => {
    expect(
      await gateway().refund({
        orderId: 'o1',
        intentId: 'o1',
        refundId: 'refund-o1-1',
        amountMinor: 100,
        currency: 'NPR',
        reason: 'customer',
      }),
    ).toEqual({ gatewayRefundId: 'manual-refund-o1-1', state: 'awaiting_manual' });
  });
});

describe('eSewa sandbox state', () => {
  it('when the sandbox restarts with a state file, then its eSewa transactions are still there', async () => {
    await sandbox.stop();
    const stateFile = path.join(mkdtempSync(path.join(tmpdir(), 'esewa-state-')), 'state.json');
    sandbox = await startTestSandbox({ stateFile });
    const orderId = uniqueId('es-keep');
    await submitForm(orderId, 6_000);
    await press(orderId, 'pay');
    await sandbox.stop();
    sandbox = await startTestSandbox({ stateFile });
    expect(await gateway().fetchPaymentStatus(lookup(orderId, 6_000))).toMatchObject({ state: 'captured' });
  });
});
