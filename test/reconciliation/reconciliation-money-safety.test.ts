// Reconciliation's money-safety cases against real parts (the sandbox's Stripe and Khalti, real PostgreSQL, a real
// Temporal worker): a payment orderpay did not create is flagged, not refunded; a second capture for a paid order is
// refunded once; a payment made after the order's workflow closed is found by asking the gateway; wallet refunds
// match by the gateway's or the operator's reference; a failing status lookup is retried alone; a refund at a
// window's edge is not a false alarm, and a later run resolves what has resolved; a killed activity is taken over
// after a short heartbeat timeout; and the Web UI shows an order refunded by reconciliation as REFUNDED.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { orderSearchAttributes, orderWorkflowId } from '../../contracts/order.contract';
import { reconciliationRefundWorkflowId, type ReconciliationSummary } from '../../contracts/reconciliation.contract';
import type { PaymentGateway } from '../../gateways/gateway';
import { orderWorkflow } from '../../workflows/order.workflow';
import { http } from '../support/api-harness';
import { recordHistoryIfAsked } from '../support/histories';
import { adminHeaders, getRun, startReconHarness, type ReconHarness } from '../support/reconciliation-harness';
import { eventually, submitKhaltiPage, submitPaymentPage } from '../support/sandbox';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const HEADER = 'kind,transaction_id,payment_id,order_id,status,amount_minor,currency,occurred_at';
const DAY_MS = 86_400_000;

let harness: ReconHarness;

afterEach(async () => {
  await harness?.stop();
});

interface Item {
  kind: string;
  orderId: string | null;
  subject: string;
  action: string;
  state: string;
  outcome: string | null;
  seen: string;
}

async function itemsOf(summary: ReconciliationSummary): Promise<Item[]> {
  const run = await getRun(harness, summary.runId);
  expect(run.status).toBe(200);
  return run.body.items as Item[];
}

async function orderRow(orderId: string) {
  const result = await harness.pool.query<{ status: string; needs_attention: boolean; refunded_amount_minor: number }>(
    'SELECT status, needs_attention, refunded_amount_minor FROM orders WHERE order_id = $1',
    [orderId],
  );
  return result.rows[0];
}

/** Uploads a CSV report for [start, end) and returns its ID. */
async function upload(
  gateway: 'stripe' | 'esewa' | 'khalti',
  lines: string[],
  window: { start: Date; end: Date } = harness.window,
): Promise<string> {
  const search = new URLSearchParams({
    gateway,
    windowStart: window.start.toISOString(),
    windowEnd: window.end.toISOString(),
  }).toString();
  const response = await http(harness.api.url, 'POST', `/admin/reconciliation/reports?${search}`, {
    body: [HEADER, ...lines].join('\n'),
    headers: { ...adminHeaders, 'content-type': 'text/csv' },
  });
  if (response.status !== 201) throw new Error(`report refused: ${response.status} ${response.text}`);
  expect(response.body).toMatchObject({ rowsRejected: 0 });
  return response.body.reportId as string;
}

function at(offsetMs: number): string {
  return new Date(harness.window.start.getTime() + offsetMs).toISOString();
}

/** A Stripe gateway whose status lookups are counted per intent and fail as `fail` says. */
function countingStripe(fail: (intentId: string, call: number) => boolean) {
  const calls = new Map<string, number>();
  const wrap = (gateway: PaymentGateway): PaymentGateway => ({
    ...gateway,
    async fetchPaymentStatus(request) {
      const call = (calls.get(request.intentId) ?? 0) + 1;
      calls.set(request.intentId, call);
      if (fail(request.intentId, call)) throw new Error(`lookup ${call} of ${request.intentId} failed (test)`);
      return gateway.fetchPaymentStatus(request);
    },
  });
  return { calls, wrap };
}

describe('payments that are not ours', () => {
  test('when a Stripe payment carries no orderpay order ID, then it is flagged as foreign_payment and never refunded by default', async () => {
    harness = await startReconHarness();
    // Somebody else's checkout on the same Stripe account: no metadata of ours.
    const session = await harness.stripe.checkout.sessions.create({
      mode: 'payment',
      success_url: 'http://elsewhere.test/ok',
      line_items: [{ price_data: { currency: 'usd', unit_amount: 4_200, product_data: { name: 'x' } }, quantity: 1 }],
    });
    const paid = await submitPaymentPage(session.url ?? '', 'pay');
    expect(paid.status).toBeLessThan(400);
    const refundsBefore = harness.sandbox.sandbox.stats().refundsCreated;

    const { summary } = await harness.reconcile();
    await harness.settleRefundWorkflows();

    expect(summary.newByKind).toEqual({ foreign_payment: 1 });
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(refundsBefore);
    const [item] = await itemsOf(summary);
    expect(item).toMatchObject({ kind: 'foreign_payment', orderId: null, action: 'flag', state: 'flagged' });
    expect(summary.openDiscrepancies).toBe(1);
  });
});

describe('a second capture for a paid order', () => {
  test('when an order is PAID and the gateway captured another payment for it, then that payment is refunded once as duplicate_capture and the order stays PAID', async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('dup');
    const first = await harness.gatewayPayment(orderId, 2_000);
    await harness.seedOrder({ orderId, status: 'PAID', amountMinor: 2_000, capturedAmountMinor: 2_000, ...first });
    // The payer paid a second checkout for the same order (another tab, a retried checkout).
    const again = await harness.gateway.createIntent({
      orderId,
      amountMinor: 2_000,
      currency: 'USD',
      expiresAt: new Date(Date.now() + 15 * 60_000),
      idempotencyKey: `${orderId}-again`,
    });
    expect((await submitPaymentPage(again.paymentUrl, 'pay')).status).toBeLessThan(400);
    const second = harness.sandbox.sandbox
      .sessions(orderId)
      .map((session) => session.payment_intent)
      .find((reference) => reference && reference !== first.paymentReference);
    expect(second).toBeDefined();

    const { summary } = await harness.reconcile();
    await harness.settleRefundWorkflows();

    expect(summary.newByKind).toEqual({ duplicate_capture: 1 });
    expect(summary.matched).toBe(1);
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(1);
    const refunds = await harness.pool.query<{ refund_id: string; state: string; amount_minor: number }>(
      'SELECT refund_id, state, amount_minor FROM refunds WHERE order_id = $1',
      [orderId],
    );
    expect(refunds.rows).toEqual([
      { refund_id: `refund-${orderId}-dup-${second}`, state: 'succeeded', amount_minor: 2_000 },
    ]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'PAID' });
    const [item] = await itemsOf(summary);
    expect(item).toMatchObject({ kind: 'duplicate_capture', action: 'refund', state: 'done', outcome: 'refunded' });
    await recordHistoryIfAsked(
      harness.temporal.workflow.getHandle(reconciliationRefundWorkflowId('stripe', second ?? '')),
      'reconciliation-refund-duplicate-capture',
    );

    const rerun = await harness.reconcile();
    await harness.settleRefundWorkflows();
    expect(rerun.summary.newByKind).toEqual({});
    expect(rerun.summary.alreadyReconciled).toBe(1);
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(1);
  });
});

describe('a payment after the order workflow closed', () => {
  test('when a Khalti order expired (TTL and grace over), nothing reached orderpay, and the payer paid later, then the next run finds it by asking Khalti and refunds it', async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('khalti-after');
    const handle = await harness.temporal.workflow.start(orderWorkflow, {
      taskQueue: harness.worker.taskQueue,
      workflowId: orderWorkflowId(orderId),
      args: [
        {
          orderId,
          amountMinor: 150_000,
          currency: 'NPR',
          gateway: 'khalti',
          requestHash: 'after-close',
          policy: {
            ttlMs: 2_000,
            graceMs: 1_000,
            poll: { initialIntervalMs: 10 * 60_000, backoffCoefficient: 2, maxIntervalMs: 10 * 60_000 },
          },
        },
      ],
    });
    await handle.result();
    expect(await orderRow(orderId)).toMatchObject({ status: 'EXPIRED' });
    const { rows } = await harness.pool.query<{ payment_url: string }>(
      'SELECT payment_url FROM orders WHERE order_id = $1',
      [orderId],
    );
    // The window of the next run starts after the order was created and closed.
    const from = new Date(Math.ceil(harness.sandboxNow().getTime() / 1000) * 1000 + 1000);
    await eventually(() => (harness.sandboxNow() > from ? true : undefined), 5_000, 50);
    // The Khalti link is still payable; the payer's return redirect never reaches orderpay.
    expect((await submitKhaltiPage(rows[0]?.payment_url ?? '', 'pay')).status).toBeLessThan(400);
    // Khalti's settlement file for the window does not list it yet (it settles later).
    const reportId = await upload('khalti', [], { start: from, end: harness.window.end });

    const { summary } = await harness.reconcile({ gateway: 'khalti', reportId });
    await harness.settleRefundWorkflows();

    expect(summary.newByKind).toEqual({ late_success: 1 });
    expect(harness.sandbox.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 150_000 });
    expect(await orderRow(orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 150_000 });
  });
});

describe('wallet refunds in a settlement file', () => {
  test("when an eSewa refund was confirmed by an operator with eSewa's reference, then the file's refund line matches it and no item is raised", async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('esewa-refunded');
    const payment = `000R${orderId.slice(-6).toUpperCase()}`;
    await harness.seedOrder({
      orderId,
      gateway: 'esewa',
      status: 'REFUNDED',
      amountMinor: 50_000,
      capturedAmountMinor: 50_000,
      intentId: `esewa_${orderId}`,
      paymentReference: payment,
    });
    await harness.pool.query(
      `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id,
                            manual_reference, confirmed_by, confirmed_at, created_at)
       VALUES ($1, $2, 50000, 'NPR', 'customer', 'succeeded', $1, 'ESEWA-RF-9', 'ops', $3, $3)`,
      [`refund-${orderId}-1`, orderId, harness.sandboxNow()],
    );
    const reportId = await upload('esewa', [
      `payment,${payment},,${orderId},succeeded,50000,NPR,${at(60_000)}`,
      `refund,ESEWA-RF-9,${payment},${orderId},succeeded,50000,NPR,${at(3_600_000)}`,
    ]);

    const { summary } = await harness.reconcile({ gateway: 'esewa', reportId });

    expect(summary.newByKind).toEqual({});
    expect(await itemsOf(summary)).toEqual([]);
    expect(summary.openDiscrepancies).toBe(0);
  });
});

describe('status lookups under faults', () => {
  test('when one status lookup fails once and another always, then only those are retried, and the one that never answers becomes lookup_failed', async () => {
    const flaky = uniqueId('flaky');
    const steady = uniqueId('steady');
    const broken = uniqueId('broken');
    const ids = new Map<string, string>();
    const stripe = countingStripe((intentId, call) => {
      const orderId = ids.get(intentId);
      return (orderId === flaky && call === 1) || orderId === broken;
    });
    harness = await startReconHarness({ wrapStripe: stripe.wrap, activityDeps: { lookupAttempts: 3 } });
    for (const orderId of [flaky, steady, broken]) {
      const pay = await harness.gatewayPayment(orderId, 1_000);
      ids.set(pay.intentId, orderId);
      await harness.seedOrder({ orderId, status: 'PAID', amountMinor: 1_000, capturedAmountMinor: 1_000, ...pay });
    }
    // The file lists none of the three: each needs the gateway's own word.
    const reportId = await upload('stripe', []);

    const { summary } = await harness.reconcile({ gateway: 'stripe', reportId });

    const callsOf = (orderId: string) =>
      [...ids.entries()].filter(([, id]) => id === orderId).map(([intentId]) => stripe.calls.get(intentId))[0];
    expect(callsOf(steady)).toBe(1);
    expect(callsOf(flaky)).toBe(2);
    expect(callsOf(broken)).toBe(3);
    expect(summary.newByKind).toEqual({ lookup_failed: 1 });
    expect(summary.matched).toBe(2);
    const [item] = await itemsOf(summary);
    expect(item).toMatchObject({ kind: 'lookup_failed', orderId: broken, action: 'flag', state: 'flagged' });
  });

  test('when an activity stops heartbeating (its worker died), then it is retried after the heartbeat timeout, while a slow one that heartbeats is not', async () => {
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    let collects = 0;
    const slow = countingStripe(() => false);
    harness = await startReconHarness({
      activityDeps: { heartbeatIntervalMs: 300 },
      wrapStripe: (gateway) => {
        const counted = slow.wrap(gateway);
        return {
          ...counted,
          async fetchPaymentStatus(request) {
            // Longer than the heartbeat timeout: only heartbeats keep this attempt alive.
            await new Promise((resolve) => setTimeout(resolve, 4_000));
            return counted.fetchPaymentStatus(request);
          },
        };
      },
      wrapActivities: (activities) => ({
        ...activities,
        async collectSettlementData(input) {
          collects += 1;
          // The first attempt's worker is gone: no answer, no heartbeat.
          if (collects === 1) await hung;
          return activities.collectSettlementData(input);
        },
      }),
    });
    const waiting = uniqueId('waiting');
    const pay = await harness.gatewayPayment(waiting, 800, { pay: false });
    await harness.seedOrder({ orderId: waiting, status: 'AWAITING_PAYMENT', amountMinor: 800, intentId: pay.intentId });

    const handle = await harness.temporal.workflow.start('reconciliationWorkflow', {
      taskQueue: harness.worker.taskQueue,
      workflowId: uniqueId('recon-heartbeat'),
      args: [
        {
          gateway: 'stripe',
          windowStart: harness.window.start.toISOString(),
          windowEnd: harness.window.end.toISOString(),
          timeouts: { bulkMs: 10 * 60_000, batchMs: 10 * 60_000, heartbeatMs: 2_000 },
        },
      ],
    });
    try {
      const summary = (await handle.result()) as ReconciliationSummary;
      expect(collects).toBe(2);
      expect(slow.calls.get(pay.intentId)).toBe(1);
      expect(summary.newByKind).toEqual({});
    } finally {
      release();
    }
  });
});

describe('refunds at the edge of a window', () => {
  test('when our refund was written just before the window ended and the gateway made it just after, then neither window flags it', async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('edge');
    const pay = await harness.gatewayPayment(orderId, 1_500);
    await harness.seedOrder({
      orderId,
      status: 'PARTIALLY_REFUNDED',
      amountMinor: 1_500,
      capturedAmountMinor: 1_500,
      ...pay,
    });
    const end = harness.window.end;
    await harness.pool.query(
      `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id, created_at)
       VALUES ($1, $2, 500, 'USD', 'customer', 'succeeded', 're_edge_1', $3)`,
      [`refund-${orderId}-1`, orderId, new Date(end.getTime() - 1_000)],
    );
    const first = await upload('stripe', [
      `payment,${pay.paymentReference},,${orderId},succeeded,1500,USD,${at(60_000)}`,
    ]);
    const next = { start: end, end: new Date(end.getTime() + DAY_MS) };
    const second = await upload(
      'stripe',
      [
        `refund,re_edge_1,${pay.paymentReference},${orderId},succeeded,500,USD,${new Date(end.getTime() + 1_000).toISOString()}`,
      ],
      next,
    );

    const one = await harness.reconcile({ gateway: 'stripe', reportId: first });
    const two = await harness.reconcile({ gateway: 'stripe', reportId: second });

    expect(one.summary.newByKind).toEqual({});
    expect(two.summary.newByKind).toEqual({});
    expect(await orderRow(orderId)).toMatchObject({ needs_attention: false });
  });

  test('when a refund missing from one report shows up in a later one, then the later run resolves the item', async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('resolves');
    const pay = await harness.gatewayPayment(orderId, 1_500);
    await harness.seedOrder({
      orderId,
      status: 'PARTIALLY_REFUNDED',
      amountMinor: 1_500,
      capturedAmountMinor: 1_500,
      ...pay,
    });
    await harness.pool.query(
      `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id, created_at)
       VALUES ($1, $2, 500, 'USD', 'customer', 'succeeded', 're_late_1', $3)`,
      [`refund-${orderId}-1`, orderId, new Date(harness.window.start.getTime() + 3_600_000)],
    );
    const paymentLine = `payment,${pay.paymentReference},,${orderId},succeeded,1500,USD,${at(60_000)}`;
    const incomplete = await upload('stripe', [paymentLine]);
    const one = await harness.reconcile({ gateway: 'stripe', reportId: incomplete });
    expect(one.summary.newByKind).toEqual({ refund_missing_there: 1 });
    expect(one.summary.openDiscrepancies).toBe(1);

    // The operator uploads the gateway's corrected file for the window.
    const complete = await upload('stripe', [
      paymentLine,
      `refund,re_late_1,${pay.paymentReference},${orderId},succeeded,500,USD,${at(3_601_000)}`,
    ]);
    const two = await harness.reconcile({ gateway: 'stripe', reportId: complete });

    expect(two.summary.openDiscrepancies).toBe(0);
    const item = await harness.pool.query<{ state: string; outcome: string }>(
      `SELECT state, outcome FROM reconciliation_items WHERE order_id = $1 AND kind = 'refund_missing_there'`,
      [orderId],
    );
    expect(item.rows).toEqual([{ state: 'done', outcome: 'resolved_by_later_run' }]);
  });
});

describe('the Temporal view of an order reconciliation refunded', () => {
  test('when reconciliation refunds a late payment after the order workflow closed, then the Web UI finds the order by OrderId as REFUNDED', async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('view');
    const pay = await harness.gatewayPayment(orderId, 1_800);
    await harness.seedOrder({ orderId, status: 'EXPIRED', amountMinor: 1_800, intentId: pay.intentId });

    await harness.reconcile();
    await harness.settleRefundWorkflows();
    expect(await orderRow(orderId)).toMatchObject({ status: 'REFUNDED' });

    const found = await eventually(
      async () => {
        const infos: WorkflowExecutionInfo[] = [];
        const query = `OrderId = "${orderId}" AND OrderStatus = "REFUNDED"`;
        for await (const info of harness.temporal.workflow.list({ query })) infos.push(info);
        if (infos.length !== 1) throw new Error(`${infos.length} workflows listed`);
        return infos[0];
      },
      20_000,
      200,
    );
    expect(found?.workflowId).toBe(reconciliationRefundWorkflowId('stripe', pay.paymentReference ?? ''));
    const attributes = found?.typedSearchAttributes;
    expect(attributes?.get(orderSearchAttributes.gateway)).toBe('stripe');
    expect(attributes?.get(orderSearchAttributes.amountMinor)).toBe(1_800);
    expect(attributes?.get(orderSearchAttributes.currency)).toBe('USD');
    await recordHistoryIfAsked(
      harness.temporal.workflow.getHandle(found?.workflowId ?? ''),
      'reconciliation-refund-late-payment-search-attributes',
    );
  });
});
