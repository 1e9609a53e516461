// The sandbox gateway and a webhook receiver on real sockets (port 0), for tests that need a Stripe to talk to.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../../config/logger';
import type { SandboxFaultsPatch } from '../../sandbox/sandbox.faults';
import type { DeclineReason } from '../../sandbox/stripe.objects';
import { startSandbox, type RunningSandbox } from '../../sandbox/server';
import type { WebhookRetryPolicy } from '../../sandbox/webhook.dispatcher';

export const TEST_STRIPE_KEY = 'sk_test_orderpay_tests';
export const TEST_WEBHOOK_SECRET = 'whsec_orderpay_tests';
export const TEST_KHALTI_KEY = 'live_secret_key_orderpay_tests';

/** Short backoff so retry paths finish within a test. */
export const FAST_WEBHOOK_RETRY: WebhookRetryPolicy = {
  baseDelayMs: 20,
  maxDelayMs: 200,
  maxAttempts: 5,
  requestTimeoutMs: 2_000,
};

export interface TestSandboxOptions {
  webhookUrl?: string;
  faults?: SandboxFaultsPatch;
  webhookRetry?: Partial<WebhookRetryPolicy>;
  stateFile?: string;
  /** Where the sandbox logs; silent unless SANDBOX_TEST_LOG_LEVEL says otherwise. */
  logger?: Logger;
  /** The sandbox's clock, for expiry without waiting. */
  now?: () => number;
  khaltiExpiryMs?: number;
}

export function startTestSandbox(options: TestSandboxOptions = {}): Promise<RunningSandbox> {
  return startSandbox({
    port: 0,
    apiKey: TEST_STRIPE_KEY,
    // Nothing listens on port 9 (discard); deliveries fail fast when a test does not care about webhooks.
    webhookUrl: options.webhookUrl ?? 'http://127.0.0.1:9/webhooks/stripe',
    webhookSecret: TEST_WEBHOOK_SECRET,
    webhookRetry: { ...FAST_WEBHOOK_RETRY, ...options.webhookRetry },
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.stateFile ? { stateFile: options.stateFile } : {}),
    ...(options.now ? { now: options.now } : {}),
    khaltiSecretKey: TEST_KHALTI_KEY,
    ...(options.khaltiExpiryMs === undefined ? {} : { khaltiExpiryMs: options.khaltiExpiryMs }),
    logger: options.logger ?? createLogger('sandbox-test', process.env.SANDBOX_TEST_LOG_LEVEL ?? 'silent'),
  });
}

export interface ReceivedWebhook {
  /** Milliseconds since the epoch when the request arrived. */
  at: number;
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
  /** What the receiver answered. */
  status: number;
  event: { id: string; type: string; data: { object: Record<string, unknown> } };
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Decides the HTTP status per request (1-based count of requests so far); 200 by default. */
  respondWith(status: (requestNumber: number) => number): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let statusFor: (requestNumber: number) => number = () => 200;
  let count = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      count += 1;
      const rawBody = Buffer.concat(chunks);
      const status = statusFor(count);
      received.push({
        at: Date.now(),
        headers: req.headers,
        rawBody,
        status,
        event: JSON.parse(rawBody.toString('utf8')) as ReceivedWebhook['event'],
      });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    received,
    respondWith(fn) {
      statusFor = fn;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Retries an assertion until it passes or the time is up; the last failure is what the test reports. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 3_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Presses a button on the hosted payment page, as the browser's form post would; redirects are not followed. */
export function submitPaymentPage(paymentUrl: string, action: 'pay' | 'decline' | 'abandon'): Promise<Response> {
  return fetch(`${paymentUrl}/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `outcome=${action}`,
    redirect: 'manual',
  });
}

/**
 * Declines a try on the hosted payment page with one of Stripe's reasons (the page's select); the session stays open
 * and the answer redirects back to the page. submitPaymentPage(url, 'decline') is the same with generic_decline.
 */
export function declinePaymentPage(paymentUrl: string, reason: DeclineReason): Promise<Response> {
  return fetch(`${paymentUrl}/decline`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ outcome: 'decline', reason }).toString(),
    redirect: 'manual',
  });
}

/**
 * Posts orderpay's signed eSewa form (buildEsewaForm) to the sandbox's form URL, as the payer's browser does; the
 * answer is a 303 to the hosted page of that transaction_uuid (not followed).
 */
export function submitEsewaForm(sandboxUrl: string, form: Readonly<Record<string, string>>): Promise<Response> {
  return fetch(`${sandboxUrl}/api/epay/main/v2/form`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form }).toString(),
    redirect: 'manual',
  });
}

/**
 * Presses a button on the sandbox's eSewa page for one transaction_uuid: pay (signed success redirect), fail (the
 * merchant's failure_url, as eSewa does for a failed or cancelled payment) or abandon (no redirect).
 */
export function pressEsewaPage(
  sandboxUrl: string,
  transactionUuid: string,
  action: 'pay' | 'fail' | 'abandon',
): Promise<Response> {
  return fetch(`${sandboxUrl}/esewa/pay/${transactionUuid}/${action}`, { method: 'POST', redirect: 'manual' });
}

/**
 * Presses a button on the sandbox's Khalti page as a browser would: loads payment_url, finds the form for the action
 * and posts it. Redirects are not followed, so the return to the merchant is the answer's Location.
 */
export async function submitKhaltiPage(
  paymentUrl: string,
  action: 'pay' | 'pending' | 'cancel' | 'abandon',
): Promise<Response> {
  const page = await fetch(paymentUrl);
  const html = await page.text();
  if (page.status !== 200) throw new Error(`Khalti page answered ${page.status}: ${html.slice(0, 200)}`);
  const formAction = [...html.matchAll(/<form method="post" action="([^"]+)">/g)]
    .map((match) => match[1] ?? '')
    .find((path) => path.endsWith(`/${action}`));
  if (!formAction) throw new Error(`no ${action} form on the Khalti page`);
  return fetch(new URL(formAction, paymentUrl), { method: 'POST', redirect: 'manual' });
}
