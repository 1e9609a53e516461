// The chaos run behind `npm run chaos` and test/e2e/chaos.test.ts (one implementation, two sizes). Orders on Stripe,
// Khalti and eSewa live fates drawn by a seeded RNG while workers are SIGKILLed, API replicas are killed, the Temporal
// server is SIGKILLed and restarted, orderpay's database connections are cut, and the sandbox drops, duplicates,
// reorders, delays and fails webhooks and API calls. When the run has settled, three sources are compared per order —
// the sandbox's ledger of captures and refunds, PostgreSQL and the workflow — and every history is replayed.
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ORDER_REFUND_WORKFLOW_TYPE } from '../../contracts/order-refund.contract';
import {
  orderSearchAttributes,
  orderStateQuery,
  orderWorkflowId,
  type OrderState,
} from '../../contracts/order.contract';
import { orderpayDataConverter, parseCodecKeys } from '../../config/payload-codec';
import { createPool, type Pool } from '../../db/pool';
import { orderIdOfEsewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import { WORKFLOW_BUNDLE_PATH } from '../../worker/create-worker';
import { type ChaosTopology, type ChaosTopologyKind, startChaosTopology } from './topology';

export interface ChaosOptions {
  orders: number;
  seed: number;
  topology: ChaosTopologyKind;
  apiReplicas: number;
  workers: number;
  adminUrl: string;
  /** Between two order starts, as a shop's checkouts arrive. */
  spacingMs: number;
  log: (message: string) => void;
  /** Ends the run early (Ctrl-C): its processes are stopped and its databases dropped as after a full run. */
  signal?: AbortSignal;
}

export interface ChaosFaults {
  workerKills: number;
  apiKills: number;
  temporalRestarts: number;
  /** Kill to answering again, per restart. */
  temporalDownMs: number[];
  databaseCuts: number;
  databaseConnectionsCut: number;
}

export interface ChaosReport {
  options: Omit<ChaosOptions, 'log' | 'signal'>;
  /** "gateway fate → final status" → count. */
  outcomes: Map<string, number>;
  faults: ChaosFaults;
  sandbox: Record<string, unknown>;
  taskFailures: Map<string, number>;
  violations: string[];
  wallMs: number;
  /** From the faults' end until every workflow had closed (or the settle deadline). */
  settledMs: number;
  /** Where the histories and database rows of the orders named in violations were kept, if any. */
  evidenceDir?: string;
  logs: string;
}

const TTL_MS = 20_000;
const GRACE_MS = 15_000;
const AMOUNT = 2_000;
const SANDBOX_KEY = 'sk_test_orderpay_sandbox';

const STRIPE_FATES = [
  'pay',
  'decline',
  'decline_then_pay',
  'abandon',
  'cancel_before_payment',
  'cancel_after_payment',
  'partial_refund',
  'full_refund',
  'pay_at_ttl',
  'pay_twice',
] as const;
/** Khalti links stay payable after orderpay's TTL, and its return redirect is the only news of a payment. */
const KHALTI_FATES = ['pay', 'cancel_on_page', 'cancel_then_retry', 'abandon', 'pay_after_ttl_without_return'] as const;
/** eSewa has no refund API (refunds are an operator's task), so its fates are the ones that never need one. */
const ESEWA_FATES = ['pay', 'fail_on_page', 'fail_then_retry', 'abandon', 'pay_without_return'] as const;
type Fate = (typeof STRIPE_FATES)[number] | (typeof KHALTI_FATES)[number] | (typeof ESEWA_FATES)[number];
type Gateway = 'stripe' | 'khalti' | 'esewa';

/** What each fate must end as; a payment racing the TTL may go either way, as long as the money agrees. */
const EXPECTED: Record<Fate, readonly string[]> = {
  pay: ['PAID'],
  // A declined card leaves the session open for another card; nobody comes back, so the order expires.
  decline: ['EXPIRED'],
  decline_then_pay: ['PAID'],
  abandon: ['EXPIRED'],
  cancel_before_payment: ['CANCELLED'],
  cancel_after_payment: ['REFUNDED'],
  partial_refund: ['PARTIALLY_REFUNDED'],
  full_refund: ['REFUNDED'],
  pay_at_ttl: ['PAID', 'EXPIRED', 'REFUNDED'],
  // The second press of Pay on the same session is refused by the gateway: one capture, one PAID order.
  pay_twice: ['PAID'],
  cancel_on_page: ['EXPIRED'],
  // A new attempt from the pay link, paid: unless faults held the payer past the TTL (then the link refuses).
  cancel_then_retry: ['PAID', 'EXPIRED'],
  // Paid after the order expired, and the payer never came back: the workflow must find it and refund it.
  pay_after_ttl_without_return: ['REFUNDED'],
  fail_on_page: ['EXPIRED'],
  fail_then_retry: ['PAID', 'EXPIRED'],
  // The payer paid and closed the tab: only the status check can find the payment.
  pay_without_return: ['PAID'],
};

/** mulberry32: small, seeded and good enough to choose fates and timings reproducibly. */
export function seededRandom(seed: number): () => number {
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

/** A hung process must fail a request, not hold the run: undici's own header timeout is five minutes. */
const REQUEST_TIMEOUT_MS = 40_000;
function timedFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

/**
 * How long a fate waits for the order to reach the status its next step needs (PAID before a refund, EXPIRED before
 * a payment after expiry): a payment whose webhook was dropped is found by a poll, and a poll or the final check
 * whose worker was killed is retried only after its timeout, so under the run's faults this takes far longer than on
 * a quiet system.
 */
const STATUS_WAIT_MS = TTL_MS + GRACE_MS + 150_000;
/** Longer than any fate's own waits: the checkout, the wait for a status, then the fate's last requests. */
const FATE_DEADLINE_MS = STATUS_WAIT_MS + 180_000;

export function drawOrders(count: number, seed: number, runId: string) {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) => {
    const draw = random();
    const gateway: Gateway = draw < 0.2 ? 'khalti' : draw < 0.4 ? 'esewa' : 'stripe';
    const fates: readonly Fate[] =
      gateway === 'khalti' ? KHALTI_FATES : gateway === 'esewa' ? ESEWA_FATES : STRIPE_FATES;
    return { orderId: `${runId}-${index}`, gateway, fate: fates[Math.floor(random() * fates.length)] ?? 'pay' };
  });
}

function hiddenFields(html: string): Record<string, string> {
  return Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1],
      (m[2] ?? '').replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))),
    ]),
  );
}

class ChaosDriver {
  private nextApi = 0;
  private stopped = false;
  /** The first and the latest refused answer per request path, for a fate that runs out of time. */
  readonly refusals = new Map<string, string>();
  /**
   * Orders whose payer reached orderpay's payment page, or whose cancel got through, only after the order's expiry
   * (faults held the request up that long): the refusal is right, so these are judged as abandoned.
   */
  readonly payerAfterExpiry = new Set<string>();

  constructor(
    private readonly topology: ChaosTopology,
    private readonly random: () => number,
    /** The checker's own connection to orderpay's database. */
    private readonly db: Pool,
  ) {}

  /**
   * Any replica answers any request: each attempt goes to the next one, through kills and 503s, as a merchant's client
   * would: waiting as long as a 429's or 503's Retry-After asks (at most 10 s), else a second, until the fate's deadline.
   */
  async callApi(path: string, init: RequestInit, accept: (status: number) => boolean): Promise<Response> {
    let first = '';
    let last = '';
    while (!this.stopped) {
      const base = this.topology.apiUrls[this.nextApi++ % this.topology.apiUrls.length];
      let waitMs = 1_000;
      try {
        // Merchant routes carry the run's API key; admin routes bring their own token.
        const headers: Record<string, string> = path.startsWith('/admin')
          ? {}
          : { authorization: `Bearer ${this.topology.apiKey}` };
        Object.assign(headers, init.headers as Record<string, string> | undefined);
        const response = await timedFetch(`${base}${path}`, { ...init, headers, redirect: 'manual' });
        if (accept(response.status)) return response;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) waitMs = Math.min(retryAfter, 10) * 1_000;
        last = `${new Date().toISOString()} ${response.status} ${(await response.text()).slice(0, 300)}`;
      } catch (error) {
        last = `${new Date().toISOString()} ${String(error)}`;
      }
      first ||= last;
      this.refusals.set(path, `first ${first}; last ${last}`);
      await sleep(waitMs);
    }
    throw new Error(`${init.method ?? 'GET'} ${path} never succeeded: first ${first}; last ${last}`);
  }

  /** The run is over: a request still being retried for a fate past its deadline gives up. */
  stop(): void {
    this.stopped = true;
  }

  /** A browser following a redirect to orderpay (a wallet's return): retried through API kills, on any replica. */
  async followToApi(location: string): Promise<void> {
    const url = new URL(location);
    await this.callApi(`${url.pathname}${url.search}`, {}, (status) => status < 500);
  }

  /** What the database held for an order, for a violation's message. */
  private async orderRow(orderId: string): Promise<unknown> {
    return this.db.query('SELECT status, expires_at, updated_at FROM orders WHERE order_id = $1', [orderId]).then(
      (result) => result.rows[0],
      (error: unknown) => String(error),
    );
  }

  async orderStatus(orderId: string): Promise<string | undefined> {
    const result = await this.db.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [orderId]);
    return result.rows[0]?.status;
  }

  async waitForStatus(orderId: string, statuses: readonly string[], timeoutMs = STATUS_WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (statuses.includes((await this.orderStatus(orderId).catch(() => undefined)) ?? '')) return true;
      await sleep(250);
    }
    return false;
  }

  async runFate(orderId: string, gateway: Gateway, fate: Fate): Promise<void> {
    const currency = gateway === 'stripe' ? 'EUR' : 'NPR';
    const body = JSON.stringify({ orderId, amount: AMOUNT, currency, gateway, returnUrl: 'https://shop.example/done' });
    const created = await this.callApi(
      '/orders',
      { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': orderId }, body },
      (status) => status === 200 || status === 201,
    );
    const { paymentUrl, expiresAt } = (await created.json()) as { paymentUrl: string; expiresAt: string };
    if (gateway === 'khalti') return this.runKhaltiFate(orderId, paymentUrl, fate);
    if (gateway === 'esewa') return this.runEsewaFate(orderId, fate, Date.parse(expiresAt));
    let paid = false;
    const press = async (action: 'pay' | 'decline') => {
      // The hosted page is the payer's browser talking to the gateway; a refused press is an outcome.
      const answer = await timedFetch(`${paymentUrl}/${action}`, { method: 'POST', redirect: 'manual' }).catch(
        () => undefined,
      );
      // The checkout itself took the order's whole TTL under the faults: the session was closed with the order, and
      // the gateway rightly refuses the payer, who is judged as having abandoned it.
      if (action === 'pay' && answer?.status === 303) paid = true;
      if (!paid && answer?.status === 409 && Date.now() >= Date.parse(expiresAt)) this.payerAfterExpiry.add(orderId);
      return answer;
    };
    switch (fate) {
      case 'pay':
        await press('pay');
        return;
      case 'pay_twice':
        await press('pay');
        await sleep(this.random() * 2_000);
        await press('pay');
        return;
      case 'decline':
        await press('decline');
        return;
      case 'decline_then_pay':
        await press('decline');
        await sleep(this.random() * 2_000);
        await press('pay');
        return;
      case 'abandon':
        return;
      case 'cancel_before_payment':
        return this.cancel(orderId);
      case 'pay_at_ttl':
        await sleep(TTL_MS - 1_500 + this.random() * 3_000);
        await press('pay');
        return;
      default: {
        await press('pay');
        // Pressed Pay and captured: the order must become PAID, or the fate's expected status fails the check.
        if (!(await this.waitForStatus(orderId, ['PAID']))) return;
        if (fate === 'cancel_after_payment') return this.cancel(orderId);
        return this.adminRefund(orderId, fate === 'partial_refund' ? AMOUNT / 4 : undefined, `${orderId}-r1`);
      }
    }
  }

  private async cancel(orderId: string): Promise<void> {
    const answer = await this.callApi(
      `/orders/${orderId}/cancel`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (status) => [200, 202, 409].includes(status),
    );
    if (answer.status !== 409) return;
    // A cancel that got through only after the order expired (faults held it up) is rightly refused; one refused
    // while the order could still be cancelled is judged by the order's final status.
    const refusal = (await answer.json().catch(() => undefined)) as
      { error?: { details?: { status?: string } } } | undefined;
    if (refusal?.error?.details?.status === 'EXPIRED') this.payerAfterExpiry.add(orderId);
  }

  private async adminRefund(orderId: string, amount: number | undefined, key: string): Promise<void> {
    const init = {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${this.topology.adminToken}`,
        'idempotency-key': key,
        'x-admin-actor': 'chaos',
      },
      body: JSON.stringify({ reason: 'customer_request', ...(amount === undefined ? {} : { amount }) }),
    };
    // Sent twice with the same key: the second must change nothing.
    for (let i = 0; i < 2; i += 1) {
      await this.callApi(`/admin/orders/${orderId}/refunds`, init, (status) => status === 200 || status === 201);
    }
  }

  /** The payer on Khalti's page; the browser follows the return redirect unless the fate says it never came back. */
  private async runKhaltiFate(orderId: string, paymentUrl: string, fate: Fate): Promise<void> {
    const pidx = new URL(paymentUrl).searchParams.get('pidx') ?? '';
    const act = async (action: 'pay' | 'cancel', followReturn: boolean) => {
      const page = await timedFetch(`${this.topology.sandboxUrl}/khalti-pay/${pidx}/${action}`, {
        method: 'POST',
        redirect: 'manual',
      });
      const location = page.headers.get('location');
      if (followReturn && location) await this.followToApi(location);
    };
    switch (fate) {
      case 'pay':
        return act('pay', true);
      case 'cancel_on_page':
        return act('cancel', true);
      case 'cancel_then_retry': {
        await act('cancel', true);
        const retry = await this.newAttempt(orderId);
        if (!retry) return;
        const page = await timedFetch(
          `${this.topology.sandboxUrl}/khalti-pay/${retry.searchParams.get('pidx') ?? ''}/pay`,
          {
            method: 'POST',
            redirect: 'manual',
          },
        );
        const location = page.headers.get('location');
        if (location) await this.followToApi(location);
        return;
      }
      case 'pay_after_ttl_without_return':
        // Strictly after orderpay expired the order: the link is still payable at Khalti.
        if (!(await this.waitForStatus(orderId, ['EXPIRED']))) {
          throw new Error('the order never expired');
        }
        return act('pay', false);
      default:
        return;
    }
  }

  /**
   * The payer back on the pay link after a failed attempt presses Try again: the new attempt's page, or undefined
   * when the order could no longer be paid (it expired while faults held the payer up).
   */
  private async newAttempt(orderId: string): Promise<URL | undefined> {
    // The failed attempt must be recorded first, as a payer only sees Try again once the pay link offers it.
    for (let tries = 0; tries < 60; tries += 1) {
      const open = await this.db.query('SELECT 1 FROM payment_attempts WHERE order_id = $1 AND status = $2', [
        orderId,
        'open',
      ]);
      if (open.rowCount === 0) break;
      await sleep(500);
    }
    const answer = await this.callApi(
      `/pay/${orderId}/attempts`,
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' },
      (status) => status === 303 || status === 409,
    );
    const location = answer.headers.get('location');
    return answer.status === 303 && location ? new URL(location, this.topology.apiUrls[0]) : undefined;
  }

  /** The payer on orderpay's eSewa page, then eSewa's; the signed redirect back is the success callback. */
  private async runEsewaFate(orderId: string, fate: Fate, expiresAtMs: number): Promise<void> {
    if (fate === 'abandon') return;
    if (fate === 'fail_then_retry') {
      await this.runEsewaFate(orderId, 'fail_on_page', expiresAtMs);
      if (!(await this.newAttempt(orderId))) return;
      return this.runEsewaFate(orderId, 'pay', expiresAtMs);
    }
    // The payer's browser retries a page that failed to load; only a press that went through counts.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      try {
        return await this.playEsewaPage(orderId, fate, expiresAtMs);
      } catch (error) {
        lastError = error;
        await sleep(1_000);
      }
    }
    throw lastError;
  }

  private async playEsewaPage(orderId: string, fate: Fate, expiresAtMs: number): Promise<void> {
    const page = await this.callApi(`/pay/${orderId}`, {}, (status) => status === 200 || status === 409);
    const html = await page.text();
    if (page.status === 409) {
      // Refusing an order past its expiry is right; refusing an open one is a violation.
      const refusedAt = Date.now();
      if (refusedAt < expiresAtMs) {
        const row = await this.orderRow(orderId);
        throw new Error(
          `the payment page refused an open order ${expiresAtMs - refusedAt} ms before its expiry ` +
            `(row: ${JSON.stringify(row)}): ${html.slice(0, 200)}`,
        );
      }
      this.payerAfterExpiry.add(orderId);
      return;
    }
    const action = /<form id="esewa" method="POST" action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error('no eSewa form on the payment page');
    const form = await timedFetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(hiddenFields(html)).toString(),
      redirect: 'manual',
    });
    const hostedPage = form.headers.get('location');
    if (!hostedPage) throw new Error(`the eSewa form answered ${form.status} without a location`);
    const pressed = await timedFetch(`${hostedPage}/${fate === 'fail_on_page' ? 'fail' : 'pay'}`, {
      method: 'POST',
      redirect: 'manual',
    });
    const location = pressed.headers.get('location');
    // The sandbox drops some returns on purpose (the payer closed the tab); the status check must find those.
    if (location && fate !== 'pay_without_return' && location.startsWith(this.topology.apiUrls[0] ?? '')) {
      await this.followToApi(location);
    }
  }
}

interface GatewayLedger {
  captures: Map<string, number[]>;
  refunds: Map<string, number>;
}

async function listSandbox<T extends { id: string }>(sandboxUrl: string, resource: string): Promise<T[]> {
  const all: T[] = [];
  let startingAfter: string | undefined;
  for (;;) {
    const url = new URL(`${sandboxUrl}/v1/${resource}`);
    url.searchParams.set('limit', '100');
    if (startingAfter) url.searchParams.set('starting_after', startingAfter);
    const response = await timedFetch(url, { headers: { authorization: `Bearer ${SANDBOX_KEY}` } });
    const page = (await response.json()) as { data: T[]; has_more: boolean };
    all.push(...page.data);
    if (!page.has_more || page.data.length === 0) return all;
    startingAfter = page.data[page.data.length - 1]?.id;
  }
}

/** Every capture and refund the three gateways recorded, by order. */
async function gatewayLedger(sandboxUrl: string, esewaOrders: ReadonlySet<string>): Promise<GatewayLedger> {
  type Intent = { id: string; status: string; amount: number; metadata: { orderId?: string } };
  const intents = await listSandbox<Intent>(sandboxUrl, 'payment_intents');
  const refunds = await listSandbox<Intent>(sandboxUrl, 'refunds');
  const ledger: GatewayLedger = { captures: new Map(), refunds: new Map() };
  const capture = (orderId: string, amount: number) =>
    ledger.captures.set(orderId, [...(ledger.captures.get(orderId) ?? []), amount]);
  const refund = (orderId: string, amount: number) =>
    ledger.refunds.set(orderId, (ledger.refunds.get(orderId) ?? 0) + amount);
  for (const intent of intents) {
    if (intent.metadata.orderId && intent.status === 'succeeded') capture(intent.metadata.orderId, intent.amount);
  }
  for (const item of refunds) {
    if (item.metadata.orderId && item.status === 'succeeded') refund(item.metadata.orderId, item.amount);
  }
  const khalti = (await (await timedFetch(`${sandboxUrl}/_sandbox/khalti/payments`)).json()) as {
    data: { purchaseOrderId: string; status: string; amount: number; refundedAmount: number }[];
  };
  for (const payment of khalti.data) {
    if (!['Completed', 'Refunded', 'Partially Refunded'].includes(payment.status)) continue;
    capture(payment.purchaseOrderId, payment.amount);
    if (payment.refundedAmount > 0) refund(payment.purchaseOrderId, payment.refundedAmount);
  }
  const esewa = (await (await timedFetch(`${sandboxUrl}/_sandbox/esewa/transactions`)).json()) as {
    data: { transactionUuid: string; status: string; totalPaisa: number }[];
  };
  for (const transaction of esewa.data) {
    // Every attempt of an order has a transaction UUID of its own; each names the order.
    const orderId = orderIdOfEsewaTransactionUuid(transaction.transactionUuid);
    if (!orderId || !esewaOrders.has(orderId)) continue;
    if (['COMPLETE', 'FULL_REFUND', 'PARTIAL_REFUND'].includes(transaction.status)) {
      capture(orderId, transaction.totalPaisa);
    }
    if (transaction.status === 'FULL_REFUND') refund(orderId, transaction.totalPaisa);
  }
  return ledger;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const random = seededRandom(options.seed ^ 0x5eed);
  const runId = `chaos-${options.seed}-${Date.now().toString(36)}`;
  const orders = drawOrders(options.orders, options.seed, runId);
  const topology = await startChaosTopology({
    kind: options.topology,
    apiReplicas: options.apiReplicas,
    workers: options.workers,
    adminUrl: options.adminUrl,
    apiEnv: {
      ORDER_TTL: `${TTL_MS / 1000}s`,
      ORDER_GRACE_PERIOD: `${GRACE_MS / 1000}s`,
      // Every gateway polls on the chaos cadence: Stripe's own (15 m) would leave its lost webhooks to the final check.
      GATEWAY_POLL_CADENCE: '',
      POLL_INITIAL_INTERVAL: '2s',
      POLL_MAX_INTERVAL: '5s',
      GRACE_POLL_INTERVAL: '4s',
      ESEWA_FIRST_STATUS_CHECK: '3s',
      CHECKOUT_TIMEOUT: '30s',
      // Every request of the run comes from one address.
      RATE_LIMIT_PER_IP: '1000000',
    },
    workerEnv: {},
    log: options.log,
  });
  // Aborting rejects the run's body, so the `finally` below stops every process and drops the run's databases.
  const interrupted = new Promise<never>((_, reject) => {
    const interrupt = () => reject(new Error('the chaos run was interrupted'));
    if (options.signal?.aborted) interrupt();
    options.signal?.addEventListener('abort', interrupt, { once: true });
  });
  interrupted.catch(() => undefined);
  const db = createPool(topology.databaseUrl, {
    applicationName: 'orderpay-chaos-checker',
    max: 4,
    // An idle client dropped by the server is replaced on the next query; it must not end the run.
    onClientError: (error) => options.log(`checker database connection error: ${error.message}`),
  });
  const connection = await Connection.connect({ address: topology.temporalAddress });
  const client = new Client({
    connection,
    namespace: topology.namespace,
    dataConverter: orderpayDataConverter(parseCodecKeys(topology.codecKeys)),
  });
  const driver = new ChaosDriver(topology, random, db);
  const violations: string[] = [];
  const faults: ChaosFaults = {
    workerKills: 0,
    apiKills: 0,
    temporalRestarts: 0,
    temporalDownMs: [],
    databaseCuts: 0,
    databaseConnectionsCut: 0,
  };
  try {
    const play = async (): Promise<ChaosReport> => {
      await timedFetch(`${topology.sandboxUrl}/_sandbox/faults`, {
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

      let chaosOn = true;
      const chaos = (async () => {
        let tick = 0;
        while (chaosOn) {
          await sleep(4_000 + random() * 4_000);
          if (!chaosOn) break;
          tick += 1;
          await topology.killWorker();
          faults.workerKills += 1;
          if (tick % 3 === 1) {
            faults.databaseConnectionsCut += await topology.cutDatabaseConnections();
            faults.databaseCuts += 1;
          }
          if (tick % 4 === 0) {
            await topology.killApi(tick % topology.apiUrls.length);
            faults.apiKills += 1;
          }
          if (tick % 5 === 2) {
            // Everything in flight at the server is cut; workers, APIs and clients must reconnect and carry on.
            faults.temporalDownMs.push(await topology.killTemporal(1_000 + random() * 2_000));
            faults.temporalRestarts += 1;
          }
        }
      })();

      const fateRuns: Promise<void>[] = [];
      let lastOrderStartedAt = Date.now();
      for (const order of orders) {
        lastOrderStartedAt = Date.now();
        // A request that never gets through is a violation of its own; the run goes on to check the money.
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the fate did not finish within ${FATE_DEADLINE_MS / 1000}s`)),
            FATE_DEADLINE_MS,
          );
        });
        fateRuns.push(
          Promise.race([driver.runFate(order.orderId, order.gateway, order.fate), deadline])
            .catch((error: unknown) => {
              const refused = [...driver.refusals.entries()]
                .filter(([path]) => path.includes(order.orderId))
                .map(([path, answers]) => `${path}: ${answers}`);
              violations.push(
                `${order.orderId} (${order.fate}): ${String(error)}${refused.length ? ` [${refused.join(' | ')}]` : ''}`,
              );
            })
            .finally(() => clearTimeout(timer)),
        );
        await sleep(options.spacingMs);
      }
      await Promise.all(fateRuns);
      // Faults go on until the last order's TTL has passed, so expiries and final checks run under them too, however
      // quickly the drawn fates played out.
      await sleep(Math.max(0, lastOrderStartedAt + TTL_MS + 5_000 - Date.now()));
      chaosOn = false;
      await chaos;
      await timedFetch(`${topology.sandboxUrl}/_sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          webhookDropRate: 0,
          webhookDuplicateRate: 0,
          apiErrorRate: 0,
          apiErrorAfterCommitRate: 0,
        }),
      });
      options.log(`fates played out after ${((Date.now() - started) / 1000).toFixed(0)}s; settling`);

      // Settle: every workflow closes after its TTL and grace window; give retries room. Only workflows not yet seen
      // closed are asked again, so settling adds little load to a system still catching up.
      const settleStarted = Date.now();
      const settleDeadline = settleStarted + TTL_MS + GRACE_MS + 300_000;
      let open = orders.map(({ orderId }) => orderId);
      while (open.length > 0 && Date.now() < settleDeadline) {
        const stillOpen: string[] = [];
        for (let i = 0; i < open.length; i += 50) {
          const batch = open.slice(i, i + 50);
          const statuses = await Promise.all(
            batch.map(async (orderId) => {
              try {
                return (await client.workflow.getHandle(orderWorkflowId(orderId)).describe()).status.name;
              } catch {
                return 'UNKNOWN';
              }
            }),
          );
          stillOpen.push(...batch.filter((_, index) => ['RUNNING', 'UNKNOWN'].includes(statuses[index] ?? '')));
        }
        open = stillOpen;
        if (open.length > 0) await sleep(2_000);
      }
      const settledMs = Date.now() - settleStarted;
      options.log(`settled in ${(settledMs / 1000).toFixed(0)}s (${open.length} workflows still open)`);

      await checkInvariants({
        orders,
        topology,
        db,
        client,
        violations,
        payerAfterExpiry: driver.payerAfterExpiry,
        report: options.log,
      });
      const outcomes = new Map<string, number>();
      const histories = [];
      for (const { orderId, gateway, fate } of orders) {
        const status = (await driver.orderStatus(orderId)) ?? 'MISSING';
        const late = driver.payerAfterExpiry.has(orderId) ? ' (came after expiry)' : '';
        const outcome = `${gateway} ${fate}${late} → ${status}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        const workflowId = orderWorkflowId(orderId);
        histories.push({ workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() });
      }

      // Determinism: every history of the run replays with the build the workers ran.
      const replayOptions = {
        workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
        dataConverter: orderpayDataConverter(parseCodecKeys(topology.codecKeys)),
      };
      for await (const result of Worker.runReplayHistories(replayOptions, histories)) {
        if (result.error) violations.push(`${result.workflowId}: replay failed: ${String(result.error)}`);
      }
      // Failed workflow tasks are retried by the server; a worker bug (non-determinism, an unhandled error) is not.
      const taskFailures = new Map<string, number>();
      for (const { workflowId, history } of histories) {
        for (const event of history.events ?? []) {
          const attributes = event.workflowTaskFailedEventAttributes;
          if (!attributes) continue;
          const cause =
            temporal.api.enums.v1.WorkflowTaskFailedCause[attributes.cause ?? 0] ?? String(attributes.cause);
          taskFailures.set(cause, (taskFailures.get(cause) ?? 0) + 1);
          if (/NON_DETERMINISTIC|UNHANDLED_FAILURE/.test(cause)) {
            violations.push(`${workflowId}: workflow task failed: ${cause} ${attributes.failure?.message ?? ''}`);
          }
        }
      }
      const evidence = await keepEvidence({ runId, violations, orders, histories, db, client, topology });
      const sandbox = (await (await timedFetch(`${topology.sandboxUrl}/_sandbox/stats`)).json()) as Record<
        string,
        unknown
      >;
      return {
        options: {
          orders: options.orders,
          seed: options.seed,
          topology: options.topology,
          apiReplicas: options.apiReplicas,
          workers: options.workers,
          adminUrl: options.adminUrl,
          spacingMs: options.spacingMs,
        },
        outcomes,
        faults,
        sandbox,
        taskFailures,
        violations,
        wallMs: Date.now() - started,
        settledMs,
        ...(evidence ? { evidenceDir: evidence } : {}),
        logs: violations.length > 0 ? topology.logs().slice(-40_000) : '',
      };
    };
    return await Promise.race([interrupted, play()]);
  } finally {
    driver.stop();
    await db.end();
    await connection.close();
    await topology.stop();
  }
}

/** The three sources per order: the gateway's ledger, the database row, the workflow's own state. */
async function checkInvariants(context: {
  orders: ReturnType<typeof drawOrders>;
  topology: ChaosTopology;
  db: Pool;
  client: Client;
  violations: string[];
  payerAfterExpiry: ReadonlySet<string>;
  report: (message: string) => void;
}): Promise<void> {
  const { orders, topology, db, client, violations } = context;
  const esewaOrders = new Set(orders.filter((o) => o.gateway === 'esewa').map((o) => o.orderId));
  const ledger = await gatewayLedger(topology.sandboxUrl, esewaOrders);
  for (const { orderId, fate } of orders) {
    const row = (
      await db.query<{ status: string; captured_amount_minor: string; refunded_amount_minor: string }>(
        'SELECT status, captured_amount_minor, refunded_amount_minor FROM orders WHERE order_id = $1',
        [orderId],
      )
    ).rows[0];
    const captures = ledger.captures.get(orderId) ?? [];
    const captured = captures.reduce((sum, amount) => sum + amount, 0);
    const refunded = ledger.refunds.get(orderId) ?? 0;
    const handle = client.workflow.getHandle(orderWorkflowId(orderId));
    const status = row?.status ?? 'MISSING';
    const say = (what: string) => violations.push(`${orderId} (${fate}, ${status}): ${what}`);
    let description: Awaited<ReturnType<typeof handle.describe>> | undefined;
    let workflow: OrderState | undefined;
    try {
      description = await handle.describe();
      workflow = await handle.query(orderStateQuery);
    } catch (error) {
      say(`workflow unreadable: ${String(error)}`);
    }

    if (!row) say('no order row');
    if (description?.status.name === 'RUNNING') say('workflow still running after TTL + grace (stuck)');
    // An order's workflow only completes: a failed or terminated run has left the order unattended.
    if (description && !['RUNNING', 'COMPLETED'].includes(description.status.name)) {
      say(`workflow ended ${description.status.name}`);
    }
    const expected = context.payerAfterExpiry.has(orderId) ? EXPECTED.abandon : EXPECTED[fate];
    if (!expected.includes(status)) say(`expected ${expected.join('/')}`);
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
    const workflowDisagrees =
      workflow !== undefined && (workflow.status !== status || workflow.refundedAmountMinor !== refunded);
    // A refund asked for after the order's workflow closed runs in a refund workflow of its own, which moves the
    // order row and the order's search attributes; the closed run keeps the state it closed with.
    if (workflow && workflowDisagrees && !(await laterRefundWorkflowSays(client, orderId, status))) {
      if (workflow.status !== status) say(`workflow says ${workflow.status}`);
      if (workflow.refundedAmountMinor !== refunded) say(`workflow refunded ${workflow.refundedAmountMinor}`);
    }
  }
  // The three sources are read one after the other, so they only agree if nothing moved meanwhile: a gateway ledger
  // that changed during the check means the run had not settled, and every comparison above is in doubt.
  const after = await gatewayLedger(topology.sandboxUrl, esewaOrders);
  const moved = orders.filter(
    ({ orderId }) =>
      String(ledger.captures.get(orderId) ?? []) !== String(after.captures.get(orderId) ?? []) ||
      (ledger.refunds.get(orderId) ?? 0) !== (after.refunds.get(orderId) ?? 0),
  );
  if (moved.length > 0) {
    violations.push(
      `the gateway's ledger changed while the run was checked (it had not settled) for ${moved.length} orders, ` +
        `e.g. ${moved
          .slice(0, 5)
          .map((order) => order.orderId)
          .join(', ')}`,
    );
  }
}

/**
 * The run's databases are dropped when it ends, so for every order a violation names, its history (payloads
 * encrypted with the run's codec key, kept beside it), its decoded workflow state and its database rows are written
 * to a directory of the run's own; the report names it.
 */
async function keepEvidence(context: {
  runId: string;
  violations: readonly string[];
  orders: ReturnType<typeof drawOrders>;
  histories: readonly { workflowId: string; history: temporal.api.history.v1.IHistory }[];
  db: Pool;
  client: Client;
  topology: ChaosTopology;
}): Promise<string | undefined> {
  const named = context.orders.filter(({ orderId }) =>
    context.violations.some((violation) => violation.includes(`${orderId} `) || violation.includes(`${orderId}:`)),
  );
  if (named.length === 0) return undefined;
  const directory = path.join(tmpdir(), `orderpay-${context.runId}`);
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, 'codec-keys'), `${context.topology.codecKeys}\n`, { mode: 0o600 });
  writeFileSync(path.join(directory, 'violations.txt'), `${context.violations.join('\n')}\n`);
  const rowsOf = async (table: string, orderId: string) =>
    (await context.db.query(`SELECT * FROM ${table} WHERE order_id = $1 ORDER BY 1`, [orderId])).rows;
  for (const { orderId } of named) {
    const workflowId = orderWorkflowId(orderId);
    const history = context.histories.find((entry) => entry.workflowId === workflowId)?.history;
    if (history) {
      writeFileSync(
        path.join(directory, `${orderId}.history.json`),
        historyToJSON(temporal.api.history.v1.History.create(history)),
      );
    }
    const state = await context.client.workflow
      .getHandle(workflowId)
      .query(orderStateQuery)
      .catch((error: unknown) => String(error));
    const rows: Record<string, unknown> = { state };
    for (const table of ['orders', 'order_status_history', 'payment_attempts', 'webhook_events', 'refunds']) {
      rows[table] = await rowsOf(table, orderId).catch((error: unknown) => String(error));
    }
    writeFileSync(path.join(directory, `${orderId}.json`), JSON.stringify(rows, null, 2));
  }
  return directory;
}

/** Whether the newest refund workflow of a closed order (a refund after close) agrees with the order row. */
async function laterRefundWorkflowSays(client: Client, orderId: string, status: string): Promise<boolean> {
  let newest: { startTime: Date; status: unknown } | undefined;
  const query = `${orderSearchAttributes.orderId.name} = "${orderId}" AND WorkflowType = "${ORDER_REFUND_WORKFLOW_TYPE}"`;
  for await (const execution of client.workflow.list({ query })) {
    if (newest && newest.startTime >= execution.startTime) continue;
    newest = {
      startTime: execution.startTime,
      status: execution.typedSearchAttributes.get(orderSearchAttributes.orderStatus),
    };
  }
  return newest?.status === status;
}

/** One table: fates and their outcomes, the faults injected, and every violation. */
export function formatChaosReport(report: ChaosReport): string {
  const { options } = report;
  const rows = [...report.outcomes.entries()].sort(([a], [b]) => a.localeCompare(b));
  const faults = report.faults;
  const sandbox = report.sandbox;
  return [
    `chaos: seed ${options.seed}, ${options.orders} orders, ${options.topology} topology ` +
      `(${options.apiReplicas} API, ${options.workers} workers), ${(report.wallMs / 1000).toFixed(0)}s, ` +
      `every workflow closed ${(report.settledMs / 1000).toFixed(0)}s after the faults ended`,
    '',
    `  ${'gateway / fate → final status'.padEnd(58)} orders`,
    ...rows.map(([outcome, count]) => `  ${outcome.padEnd(58)} ${String(count).padStart(6)}`),
    '',
    '  faults injected',
    `    workers SIGKILLed ${faults.workerKills}, API replicas SIGKILLed ${faults.apiKills}, ` +
      `Temporal server SIGKILLed and restarted ${faults.temporalRestarts}` +
      (faults.temporalDownMs.length === 0
        ? ', '
        : ` (down ${(Math.max(...faults.temporalDownMs) / 1000).toFixed(1)} s at most, ` +
          `${(faults.temporalDownMs.reduce((sum, ms) => sum + ms, 0) / 1000).toFixed(0)} s in all), `) +
      `database connections cut ${faults.databaseConnectionsCut} (in ${faults.databaseCuts} cuts)`,
    `    sandbox: ${Object.entries(sandbox)
      .filter(([, value]) => typeof value === 'number')
      .map(([name, value]) => `${name} ${String(value)}`)
      .join(', ')}`,
    `    workflow task failures retried by the server: ${
      report.taskFailures.size === 0 ? 'none' : JSON.stringify(Object.fromEntries(report.taskFailures))
    }`,
    '',
    `  violations: ${report.violations.length}` +
      (report.evidenceDir ? ` (histories and rows of the orders named: ${report.evidenceDir})` : ''),
    ...report.violations.map((violation) => `    ${violation}`),
  ].join('\n');
}
