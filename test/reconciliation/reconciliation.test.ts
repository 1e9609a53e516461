// Reconciliation end to end: the sandbox's payments and refunds (read through its Stripe list API), real PostgreSQL
// and a real Temporal worker. Each test gets a window (in the future) of its own (the sandbox clock runs inside it), so
// nothing else in the database falls into it. Proves every case with its default action, and that a rerun of the
// same window changes nothing and reports what it saw as already reconciled.
import { registrySum } from '../support/metrics';
import { cancelOrderUpdate, orderStateQuery, orderWorkflowId } from '../../contracts/order.contract';
import type { ReconciliationSummary } from '../../contracts/reconciliation.contract';
import { orderWorkflow } from '../../workflows/order.workflow';
import { adminHeaders, getRun, startReconHarness, type ReconHarness } from '../support/reconciliation-harness';
import { http } from '../support/api-harness';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/sandbox';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let harness: ReconHarness;

afterEach(async () => {
  await harness?.stop();
});

async function orderRow(orderId: string) {
  const result = await harness.pool.query<{
    status: string;
    needs_attention: boolean;
    refunded_amount_minor: number;
  }>('SELECT status, needs_attention, refunded_amount_minor FROM orders WHERE order_id = $1', [orderId]);
  return result.rows[0];
}

async function itemsOf(summary: ReconciliationSummary) {
  const run = await getRun(harness, summary.runId);
  expect(run.status).toBe(200);
  return run.body.items as Array<{
    kind: string;
    orderId: string | null;
    action: string;
    state: string;
    outcome: string | null;
    seen: string;
  }>;
}

describe('reconciling a window against the sandbox', () => {
  test('when the window holds one of each case, then each is found, handled by its default action, and reported', async () => {
    harness = await startReconHarness();
    const id = (name: string) => uniqueId(name);

    // Both agree: paid here and there, same amount.
    const agreed = id('agreed');
    const agreedPay = await harness.gatewayPayment(agreed, 2_500);
    await harness.seedOrder({
      orderId: agreed,
      status: 'PAID',
      amountMinor: 2_500,
      capturedAmountMinor: 2_500,
      ...agreedPay,
    });

    // Late success: we expired it (its workflow is long gone), the payer paid.
    const late = id('late');
    const latePay = await harness.gatewayPayment(late, 1_800);
    await harness.seedOrder({ orderId: late, status: 'EXPIRED', amountMinor: 1_800, intentId: latePay.intentId });

    // PAID here, never paid there.
    const phantom = id('phantom');
    const phantomPay = await harness.gatewayPayment(phantom, 900, { pay: false });
    await harness.seedOrder({
      orderId: phantom,
      status: 'PAID',
      amountMinor: 900,
      capturedAmountMinor: 900,
      intentId: phantomPay.intentId,
    });

    // Amount mismatch: we recorded 3000, the gateway captured 2999.
    const mismatch = id('mismatch');
    const mismatchPay = await harness.gatewayPayment(mismatch, 2_999);
    await harness.seedOrder({
      orderId: mismatch,
      status: 'PAID',
      amountMinor: 3_000,
      capturedAmountMinor: 3_000,
      ...mismatchPay,
    });

    // A gateway payment for an order we never had.
    const ghost = id('ghost');
    await harness.gatewayPayment(ghost, 700);

    // A refund made in the gateway's dashboard, not by orderpay.
    const outside = id('outside');
    const outsidePay = await harness.gatewayPayment(outside, 1_200);
    await harness.seedOrder({
      orderId: outside,
      status: 'PAID',
      amountMinor: 1_200,
      capturedAmountMinor: 1_200,
      ...outsidePay,
    });
    await harness.stripe.refunds.create({ payment_intent: outsidePay.paymentReference ?? '' });

    // A refund orderpay recorded that the gateway never made.
    const lost = id('lost');
    const lostPay = await harness.gatewayPayment(lost, 1_500);
    await harness.seedOrder({
      orderId: lost,
      status: 'PARTIALLY_REFUNDED',
      amountMinor: 1_500,
      capturedAmountMinor: 1_500,
      ...lostPay,
    });
    await harness.pool.query(
      `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id, created_at)
       VALUES ($1, $2, 500, 'USD', 'customer', 'succeeded', 're_never_made', $3)`,
      [`refund-${lost}-1`, lost, harness.sandboxNow()],
    );

    const refundsBefore = harness.sandbox.sandbox.stats().refundsCreated;
    const discrepancyCount = () =>
      registrySum(harness.workerMetrics, 'orderpay_reconciliation_discrepancies_total', { gateway: 'stripe' });
    const runCount = () =>
      registrySum(harness.workerMetrics, 'orderpay_reconciliation_run_duration_seconds_count', { gateway: 'stripe' });
    const [discrepanciesBefore, runsBefore] = [await discrepancyCount(), await runCount()];
    const { summary } = await harness.reconcile();
    await harness.settleRefundWorkflows();

    expect(summary.matched).toBe(3); // the payments of agreed, outside and lost themselves
    expect(summary.newByKind).toEqual({
      late_success: 1,
      paid_not_settled: 1,
      amount_mismatch: 1,
      unknown_payment: 1,
      refund_missing_here: 1,
      refund_missing_there: 1,
    });
    expect(summary.alreadyReconciled).toBe(0);
    expect(await discrepancyCount()).toBe(discrepanciesBefore + 6);
    expect(await runCount()).toBe(runsBefore + 1);

    // Refunds: the late payment and the unknown payment, once each.
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(refundsBefore + 2);
    expect(await orderRow(late)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 1_800 });
    // Flags: never flipped, marked for review.
    expect(await orderRow(phantom)).toMatchObject({ status: 'PAID', needs_attention: true });
    expect(await orderRow(mismatch)).toMatchObject({ status: 'PAID', needs_attention: true });
    expect(await orderRow(outside)).toMatchObject({ status: 'PAID', needs_attention: true });
    expect(await orderRow(lost)).toMatchObject({ status: 'PARTIALLY_REFUNDED', needs_attention: true });
    expect(await orderRow(agreed)).toMatchObject({ status: 'PAID', needs_attention: false });

    const items = await itemsOf(summary);
    const byKind = Object.fromEntries(items.map((item) => [item.kind, item]));
    expect(byKind.late_success).toMatchObject({ orderId: late, action: 'refund', state: 'done', outcome: 'refunded' });
    expect(byKind.unknown_payment).toMatchObject({
      orderId: null,
      action: 'refund',
      state: 'done',
      outcome: 'refunded',
    });
    expect(byKind.paid_not_settled).toMatchObject({ orderId: phantom, action: 'flag', state: 'flagged' });
    expect(byKind.amount_mismatch).toMatchObject({ orderId: mismatch, action: 'flag', state: 'flagged' });
    expect(byKind.refund_missing_here).toMatchObject({ orderId: outside, action: 'flag', state: 'flagged' });
    expect(byKind.refund_missing_there).toMatchObject({ orderId: lost, action: 'flag', state: 'flagged' });
    expect(items.every((item) => item.seen === 'new')).toBe(true);

    // Open discrepancies are the flagged ones: four left for an operator.
    expect(summary.openDiscrepancies).toBe(4);
    const description = await harness.temporal.workflow
      .getHandle((await getRun(harness, summary.runId)).body.workflowId)
      .describe();
    expect(description.searchAttributes.ReconOpenDiscrepancies).toEqual([4]);
    expect(description.searchAttributes.ReconGateway).toEqual(['stripe']);

    await recordHistoryIfAsked(
      harness.temporal.workflow.getHandle((await getRun(harness, summary.runId)).body.workflowId, summary.runId),
      'reconciliation-every-case',
    );

    // The same window again: nothing changes, everything is reported as already reconciled.
    const rerun = await harness.reconcile();
    await harness.settleRefundWorkflows();
    expect(rerun.summary.newByKind).toEqual({});
    expect(rerun.summary.alreadyReconciled).toBe(6);
    // Metrics count what a run found new: the rerun adds a run, not discrepancies.
    expect(await discrepancyCount()).toBe(discrepanciesBefore + 6);
    expect(await runCount()).toBe(runsBefore + 2);
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(refundsBefore + 2);
    expect(await orderRow(late)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 1_800 });
    const rerunItems = await itemsOf(rerun.summary);
    expect(rerunItems.map((item) => item.seen)).toEqual(Array(6).fill('already_reconciled'));

    const list = await http(harness.api.url, 'GET', `/admin/reconciliation/runs?gateway=stripe&limit=200`, {
      headers: adminHeaders,
    });
    expect(list.body.runs.map((run: { runId: string }) => run.runId)).toEqual(
      expect.arrayContaining([summary.runId, rerun.summary.runId]),
    );
  });

  test('when a repair batch holds more items than are repaired at once, then every one is repaired, once', async () => {
    harness = await startReconHarness();
    // 12 late payments and 9 amount mismatches: 21 items in one batch of 100, three slices of 8 at a time.
    const late: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const orderId = uniqueId(`late-${i}`);
      const pay = await harness.gatewayPayment(orderId, 1_000 + i);
      await harness.seedOrder({ orderId, status: 'EXPIRED', amountMinor: 1_000 + i, intentId: pay.intentId });
      late.push(orderId);
    }
    const mismatched: string[] = [];
    for (let i = 0; i < 9; i += 1) {
      const orderId = uniqueId(`mismatch-${i}`);
      const pay = await harness.gatewayPayment(orderId, 500);
      await harness.seedOrder({ orderId, status: 'PAID', amountMinor: 501, capturedAmountMinor: 501, ...pay });
      mismatched.push(orderId);
    }

    const { summary } = await harness.reconcile();
    await harness.settleRefundWorkflows();
    expect(summary.newByKind).toEqual({ late_success: 12, amount_mismatch: 9 });
    const items = await itemsOf(summary);
    expect(items.filter((i) => i.kind === 'late_success').map((i) => [i.state, i.outcome])).toEqual(
      late.map(() => ['done', 'refunded']),
    );
    expect(items.filter((i) => i.kind === 'amount_mismatch').map((i) => i.state)).toEqual(
      mismatched.map(() => 'flagged'),
    );
    for (const orderId of late) expect(await orderRow(orderId)).toMatchObject({ status: 'REFUNDED' });
    for (const orderId of mismatched) expect(await orderRow(orderId)).toMatchObject({ needs_attention: true });
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(12);
  });

  test('when the late-success policy is accept, then the closed order becomes PAID and nothing is refunded', async () => {
    harness = await startReconHarness({
      policy: { lateSuccess: 'accept', unknownPayment: 'record', foreignPayment: 'flag' },
    });
    const late = uniqueId('accept');
    const pay = await harness.gatewayPayment(late, 1_100);
    await harness.seedOrder({ orderId: late, status: 'CANCELLED', amountMinor: 1_100, intentId: pay.intentId });
    const ghost = uniqueId('ghost');
    await harness.gatewayPayment(ghost, 400);

    const { summary } = await harness.reconcile();

    expect(summary.newByKind).toEqual({ late_success: 1, unknown_payment: 1 });
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(0);
    expect(await orderRow(late)).toMatchObject({ status: 'PAID' });
    const items = await itemsOf(summary);
    expect(items.find((item) => item.kind === 'late_success')).toMatchObject({ action: 'accept', state: 'done' });
    expect(items.find((item) => item.kind === 'unknown_payment')).toMatchObject({
      action: 'record',
      state: 'flagged',
      outcome: 'recorded_unknown_payment',
    });
  });

  test('when an order is still awaiting payment but the gateway captured it and no workflow is open, then it is flagged', async () => {
    harness = await startReconHarness();
    const waiting = uniqueId('waiting');
    const pay = await harness.gatewayPayment(waiting, 650);
    await harness.seedOrder({ orderId: waiting, status: 'AWAITING_PAYMENT', amountMinor: 650, intentId: pay.intentId });

    const { summary } = await harness.reconcile();

    expect(summary.newByKind).toEqual({ unapplied_capture: 1 });
    expect(await orderRow(waiting)).toMatchObject({ status: 'AWAITING_PAYMENT', needs_attention: true });
  });
});

describe('the admin API of reconciliation', () => {
  test('when a backfill spans three days, then three one-day runs start, each with an ID from gateway and window', async () => {
    harness = await startReconHarness();
    const from = harness.window.start;
    const to = new Date(from.getTime() + 3 * 86_400_000);
    const response = await http(harness.api.url, 'POST', '/admin/reconciliation/runs', {
      body: JSON.stringify({ gateway: 'stripe', from: from.toISOString(), to: to.toISOString() }),
      headers: { ...adminHeaders, 'content-type': 'application/json' },
    });
    expect(response.status).toBe(202);
    const runs = response.body.runs as Array<{
      workflowId: string;
      runId: string;
      windowStart: string;
      status: string;
    }>;
    expect(runs.map((run) => run.status)).toEqual(['started', 'started', 'started']);
    expect(runs[1]?.workflowId).toBe(
      `recon-stripe-${new Date(from.getTime() + 86_400_000).toISOString()}-${new Date(from.getTime() + 2 * 86_400_000).toISOString()}`,
    );
    for (const run of runs) await harness.temporal.workflow.getHandle(run.workflowId, run.runId).result();

    const audit = await http(harness.api.url, 'GET', '/admin/actions?limit=20', { headers: adminHeaders });
    expect(audit.body.actions).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: 'reconciliation.start', actor: 'recon-test' })]),
    );
  });

  test('when the same window is already being reconciled, then a second start reports already_running and starts nothing', async () => {
    harness = await startReconHarness();
    // Stop the worker so the first run stays open.
    await harness.worker.stop();
    const body = JSON.stringify({
      gateway: 'stripe',
      from: harness.window.start.toISOString(),
      to: harness.window.end.toISOString(),
    });
    const headers = { ...adminHeaders, 'content-type': 'application/json' };
    const first = await http(harness.api.url, 'POST', '/admin/reconciliation/runs', { body, headers });
    const second = await http(harness.api.url, 'POST', '/admin/reconciliation/runs', { body, headers });
    expect(first.body.runs[0].status).toBe('started');
    expect(second.body.runs[0]).toMatchObject({ status: 'already_running', workflowId: first.body.runs[0].workflowId });
    await harness.temporal.workflow.getHandle(first.body.runs[0].workflowId).terminate('test over');
  });

  test('when the body is not a window or a report, then 400 validation_failed names the field', async () => {
    harness = await startReconHarness();
    const response = await http(harness.api.url, 'POST', '/admin/reconciliation/runs', {
      body: JSON.stringify({ gateway: 'stripe', from: '2024-01-02T00:00:00Z', to: '2024-01-01T00:00:00Z' }),
      headers: { ...adminHeaders, 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
    const missing = await http(harness.api.url, 'GET', '/admin/reconciliation/runs/no-such-run', {
      headers: adminHeaders,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('run_not_found');
    const unauthenticated = await http(harness.api.url, 'GET', '/admin/reconciliation/runs');
    expect(unauthenticated.status).toBe(401);
  });
});

describe('a late payment while the order workflow is still open', () => {
  test('when the order was cancelled and its workflow is in its grace window, then the workflow is told and refunds it itself, once', async () => {
    harness = await startReconHarness();
    const orderId = uniqueId('open');
    const workflowId = orderWorkflowId(orderId);
    const handle = await harness.temporal.workflow.start(orderWorkflow, {
      taskQueue: harness.worker.taskQueue,
      workflowId,
      args: [
        {
          orderId,
          amountMinor: 1_400,
          currency: 'USD',
          gateway: 'stripe',
          requestHash: 'open-order',
          policy: {
            ttlMs: 10 * 60_000,
            graceMs: 10 * 60_000,
            poll: { initialIntervalMs: 10 * 60_000, backoffCoefficient: 2, maxIntervalMs: 10 * 60_000 },
          },
        },
      ],
    });
    await handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer' }] });
    expect(await orderRow(orderId)).toMatchObject({ status: 'CANCELLED' });
    // The gateway captured the payment anyway (its report says so; the capture is real at the sandbox).
    const captured = await harness.gatewayPayment(uniqueId('elsewhere'), 1_400);
    const at = new Date(harness.sandboxNow().getTime() + 1_000).toISOString();
    const csv = [
      'kind,transaction_id,payment_id,order_id,status,amount_minor,currency,occurred_at',
      `payment,${captured.paymentReference},,${orderId},succeeded,1400,USD,${at}`,
    ].join('\n');
    const query = new URLSearchParams({
      gateway: 'stripe',
      windowStart: harness.window.start.toISOString(),
      windowEnd: harness.window.end.toISOString(),
    });
    const upload = await http(harness.api.url, 'POST', `/admin/reconciliation/reports?${query}`, {
      body: csv,
      headers: { ...adminHeaders, 'content-type': 'text/csv' },
    });
    expect(upload.status).toBe(201);

    const { summary } = await harness.reconcile({ gateway: 'stripe', reportId: upload.body.reportId });
    expect(summary.newByKind).toEqual({ late_success: 1 });
    expect((await itemsOf(summary))[0]).toMatchObject({ state: 'in_progress', outcome: 'signalled_order_workflow' });
    await eventually(async () => expect(await orderRow(orderId)).toMatchObject({ status: 'REFUNDED' }), 20_000, 100);
    const state = await handle.query(orderStateQuery);
    expect(state.refunds).toEqual([expect.objectContaining({ state: 'succeeded', amountMinor: 1_400 })]);

    // The next run sees the order refunded by its own workflow: the item is closed, nothing is refunded again.
    const rerun = await harness.reconcile({ gateway: 'stripe', reportId: upload.body.reportId });
    expect(rerun.summary.alreadyReconciled).toBe(1);
    expect((await itemsOf(rerun.summary))[0]).toMatchObject({ state: 'done', outcome: 'refunded_by_order_workflow' });
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(1);
    await handle.terminate('test over');
  });
});
