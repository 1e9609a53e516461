// The sandbox with SANDBOX_STATE_FILE keeps its checkout sessions, payments, refunds and idempotency keys across a
// restart, so orders left open when `npm start` stops can still be paid and refunded after it starts again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import type { RunningSandbox } from '../../sandbox/server';
import { startTestSandbox, submitPaymentPage, TEST_STRIPE_KEY } from '../support/sandbox';

let dir: string;
let stateFile: string;
const running: RunningSandbox[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'orderpay-sandbox-state-'));
  stateFile = path.join(dir, 'state.json');
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<RunningSandbox> {
  const sandbox = await startTestSandbox({ stateFile });
  running.push(sandbox);
  return sandbox;
}

const gatewayFor = (sandbox: RunningSandbox) =>
  createStripeGateway({
    apiBase: sandbox.url,
    secretKey: TEST_STRIPE_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: 'http://shop',
  });

const intentRequest = (orderId: string) => ({
  orderId,
  amountMinor: 1_999,
  currency: 'USD',
  expiresAt: new Date(Date.now() + 15 * 60_000),
  idempotencyKey: orderId,
});

async function restart(sandbox: RunningSandbox): Promise<RunningSandbox> {
  await sandbox.stop();
  running.splice(running.indexOf(sandbox), 1);
  return start();
}

describe('sandbox state across restarts', () => {
  it('when the sandbox restarts, then an open session is still there, can be paid, and its key still replays', async () => {
    const first = await start();
    const created = await gatewayFor(first).createIntent(intentRequest('persist-1'));

    const second = await restart(first);
    const gateway = gatewayFor(second);
    // The hosted page moved with the port; the session ID is what must survive.
    const paymentUrl = `${second.publicUrl}/pay/${created.intentId}`;
    expect((await submitPaymentPage(paymentUrl, 'pay')).status).toBe(303);
    expect(await gateway.fetchPaymentStatus({ orderId: 'persist-1', intentId: created.intentId })).toMatchObject({
      state: 'captured',
      amountMinor: 1_999,
    });
    const again = await gateway.createIntent(intentRequest('persist-1'));
    expect(again.intentId).toBe(created.intentId);
    expect(second.sandbox.stats().sessionsByOrderId['persist-1']).toBe(1);
  });

  it('when a paid order is refunded after a restart, then the refund works and is not made twice', async () => {
    const first = await start();
    const created = await gatewayFor(first).createIntent(intentRequest('persist-2'));
    await submitPaymentPage(`${first.publicUrl}/pay/${created.intentId}`, 'pay');
    const refund = {
      orderId: 'persist-2',
      intentId: created.intentId,
      refundId: 'refund-persist-2-1',
      amountMinor: 1_999,
      currency: 'USD',
      reason: 'test',
    };
    const before = await gatewayFor(first).refund(refund);

    const second = await restart(first);
    const after = await gatewayFor(second).refund(refund);
    expect(after).toEqual(before);
    expect(second.sandbox.stats().refundsCreated).toBe(1);
  });

  it('when the state file is damaged, then start-up fails and names the file', async () => {
    writeFileSync(stateFile, '{"version":1,"store":');
    await expect(startTestSandbox({ stateFile })).rejects.toThrow(stateFile);
  });
});
