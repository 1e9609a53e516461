// The sandbox with SANDBOX_STATE_FILE keeps its checkout sessions, payments, refunds, idempotency keys and
// undelivered webhooks across a restart, so orders left open when `npm start` stops can still be paid and refunded
// after it starts again. The last tests run the built sandbox (dist/, `npm test` builds it) to prove that SIGTERM
// and SIGINT do not lose the last change.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SANDBOX_STRIPE_SECRET_KEY } from '../../config/env';
import type { CreateIntentRequest } from '../../gateways/gateway';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import type { RunningSandbox } from '../../sandbox/server';
import { freePort, startService } from '../support/processes';
import {
  eventually,
  sleep,
  startTestSandbox,
  startWebhookReceiver,
  submitPaymentPage,
  TEST_STRIPE_KEY,
  TEST_WEBHOOK_SECRET,
  type TestSandboxOptions,
  type WebhookReceiver,
} from '../support/sandbox';

let dir: string;
let stateFile: string;
const running: RunningSandbox[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'orderpay-sandbox-state-'));
  stateFile = path.join(dir, 'sandbox', 'state.json');
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(options: Omit<TestSandboxOptions, 'stateFile'> = {}): Promise<RunningSandbox> {
  const sandbox = await startTestSandbox({ ...options, stateFile });
  running.push(sandbox);
  return sandbox;
}

async function restart(
  sandbox: RunningSandbox,
  options: Omit<TestSandboxOptions, 'stateFile'> = {},
): Promise<RunningSandbox> {
  await sandbox.stop();
  running.splice(running.indexOf(sandbox), 1);
  return start(options);
}

const gatewayFor = (sandbox: RunningSandbox, secretKey = TEST_STRIPE_KEY) =>
  createStripeGateway({ apiBase: sandbox.url, secretKey, timeoutMs: 2_000, publicBaseUrl: 'http://shop' });

const intentRequest = (orderId: string): CreateIntentRequest => ({
  orderId,
  amountMinor: 1_999,
  currency: 'USD',
  expiresAt: new Date(Date.now() + 15 * 60_000),
  idempotencyKey: orderId,
});

const savedText = () => readFileSync(stateFile, 'utf8');

describe('sandbox state across restarts', () => {
  it('when the sandbox restarts, then an open session is still there, can be paid, and its key still replays', async () => {
    const first = await start();
    const request = intentRequest('persist-1');
    const created = await gatewayFor(first).createIntent(request);

    const second = await restart(first);
    expect(second.port).not.toBe(first.port);
    const gateway = gatewayFor(second);
    expect(await gateway.fetchPaymentStatus({ orderId: 'persist-1', intentId: created.intentId })).toMatchObject({
      state: 'pending',
    });
    // The hosted page moved with the port, and the session's link follows it.
    const [session] = second.sandbox.sessions('persist-1');
    expect(session?.url).toBe(`${second.publicUrl}/pay/${created.intentId}`);
    expect((await submitPaymentPage(session?.url ?? '', 'pay')).status).toBe(303);
    expect(await gateway.fetchPaymentStatus({ orderId: 'persist-1', intentId: created.intentId })).toMatchObject({
      state: 'captured',
      amountMinor: 1_999,
      currency: 'USD',
    });

    const again = await gateway.createIntent(request);
    expect(again.intentId).toBe(created.intentId);
    expect(second.sandbox.stats()).toMatchObject({
      sessionsCreated: 1,
      sessionsByOrderId: { 'persist-1': 1 },
      paymentsCaptured: 1,
      idempotentReplays: 1,
    });
  });

  it('when an order paid before a restart is refunded after it, then the refund works and is kept in turn', async () => {
    const first = await start();
    const created = await gatewayFor(first).createIntent(intentRequest('persist-2'));
    await submitPaymentPage(created.paymentUrl, 'pay');
    const refund = {
      orderId: 'persist-2',
      intentId: created.intentId,
      refundId: 'refund-persist-2-1',
      amountMinor: 1_999,
      currency: 'USD',
      reason: 'test',
    };

    const second = await restart(first);
    const made = await gatewayFor(second).refund(refund);
    expect(made).toMatchObject({ state: 'succeeded', gatewayRefundId: expect.stringMatching(/^re_/) as string });
    expect(await gatewayFor(second).fetchPaymentStatus(refund)).toMatchObject({
      state: 'captured',
      refundedAmountMinor: 1_999,
    });

    // The refund's idempotency key survives the next restart: a retried activity gets the same refund back.
    const third = await restart(second);
    expect(await gatewayFor(third).refund(refund)).toEqual(made);
    expect(third.sandbox.stats()).toMatchObject({ refundsCreated: 1, refundedAmountMinor: 1_999 });
  });

  it('when something changes, then the file holds it moments later, without waiting for a stop', async () => {
    // A crash (SIGKILL, power loss) gets no stop: only the writes after each change can have saved anything.
    const first = await start();
    const created = await gatewayFor(first).createIntent(intentRequest('persist-7'));
    await eventually(() => expect(savedText()).toContain(created.intentId));
    await submitPaymentPage(created.paymentUrl, 'pay');
    await eventually(() => expect(savedText()).toContain('"payment_status":"paid"'));
  });

  it('when the sandbox stops right after a change, then the file already holds it and no temp file is left', async () => {
    expect(existsSync(stateFile)).toBe(false);
    const first = await start();
    expect(first.sandbox.sessions()).toEqual([]);
    const created = await gatewayFor(first).createIntent(intentRequest('persist-3'));
    // Sooner than the coalescing window: only the write on stop can have saved the session.
    await first.stop();

    expect(savedText()).toContain(created.intentId);
    expect(readdirSync(path.dirname(stateFile))).toEqual(['state.json']);
  });

  describe('webhooks', () => {
    let receiver: WebhookReceiver;
    const verifier = createStripeWebhookVerifier({ secrets: [TEST_WEBHOOK_SECRET], toleranceSeconds: 300 });

    beforeEach(async () => {
      receiver = await startWebhookReceiver();
    });

    afterEach(async () => {
      await receiver.close();
    });

    it('when deliveries were still failing at the stop, then they are sent after the restart and delivered ones are not', async () => {
      // No retry before the stop: the deliveries that fail stay pending.
      const first = await start({
        webhookUrl: receiver.url,
        webhookRetry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      });
      const delivered = await gatewayFor(first).createIntent(intentRequest('persist-4'));
      await submitPaymentPage(delivered.paymentUrl, 'pay');
      await eventually(() => expect(first.sandbox.stats().webhooks).toMatchObject({ succeeded: 2, pending: 0 }));

      receiver.respondWith(() => 503);
      const undelivered = await gatewayFor(first).createIntent(intentRequest('persist-5'));
      await submitPaymentPage(undelivered.paymentUrl, 'pay');
      await eventually(() => expect(first.sandbox.stats().webhooks).toMatchObject({ failed: 2, pending: 2 }));
      const failedIds = receiver.received.filter((webhook) => webhook.status === 503).map((w) => w.event.id);

      receiver.respondWith(() => 200);
      const second = await restart(first, { webhookUrl: receiver.url });
      await eventually(() =>
        expect(second.sandbox.stats().webhooks).toMatchObject({ attempted: 2, succeeded: 2, pending: 0 }),
      );
      const resent = receiver.received.slice(4);
      expect(resent.map((webhook) => webhook.event.id).sort()).toEqual([...failedIds].sort());
      for (const webhook of resent) {
        // Signed afresh, so the receiver's tolerance window accepts them.
        expect(verifier.verify(webhook.rawBody, webhook.headers)).toMatchObject({
          orderId: 'persist-5',
          paymentEvent: { kind: 'captured', amountMinor: 1_999 },
        });
      }
      // Nothing is pending any more, so a further restart sends nothing.
      const third = await restart(second, { webhookUrl: receiver.url });
      await sleep(100);
      expect(third.sandbox.stats().webhooks.attempted).toBe(0);
      expect(receiver.received).toHaveLength(6);
    });
  });

  it.each([
    ['not JSON', '{"version":1,"store":'],
    ['JSON of another shape', JSON.stringify({ version: 1, store: { sessions: [['cs_1', { session: null }]] } })],
  ])('when the state file is %s, then start-up fails, names the file and leaves it alone', async (_, text) => {
    mkdirSync(path.dirname(stateFile));
    writeFileSync(stateFile, text);

    await expect(startTestSandbox({ stateFile })).rejects.toThrow(stateFile);
    expect(savedText()).toBe(text);
  });
});

describe('the sandbox process', () => {
  const startProcess = async () => {
    const port = await freePort();
    const sandbox = startService('sandbox', {
      SANDBOX_PORT: String(port),
      SANDBOX_STATE_FILE: stateFile,
      SANDBOX_WEBHOOK_URL: 'http://127.0.0.1:9/webhooks/stripe',
    });
    return { sandbox, url: `http://127.0.0.1:${port}` };
  };

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'when it gets %s right after a change, then the change is in the file and it exits cleanly',
    async (signal) => {
      const { sandbox, url } = await startProcess();
      try {
        await eventually(async () => expect((await fetch(`${url}/healthz`)).status).toBe(200), 10_000, 50);
        const gateway = createStripeGateway({
          apiBase: url,
          secretKey: SANDBOX_STRIPE_SECRET_KEY,
          timeoutMs: 2_000,
          publicBaseUrl: 'http://shop',
        });
        const created = await gateway.createIntent(intentRequest('persist-6'));
        await sandbox.stop(signal);

        expect(sandbox.child.exitCode).toBe(0);
        expect(savedText()).toContain(created.intentId);
      } finally {
        await sandbox.stop();
      }
    },
  );

  it('when its state file is damaged, then it exits with a message naming the file', async () => {
    mkdirSync(path.dirname(stateFile));
    writeFileSync(stateFile, 'not json');
    const { sandbox } = await startProcess();
    try {
      await eventually(() => expect(sandbox.child.exitCode).toBe(1), 10_000, 50);
      expect(sandbox.output()).toContain(`sandbox state file ${stateFile} is not valid JSON`);
    } finally {
      await sandbox.stop();
    }
  });
});
