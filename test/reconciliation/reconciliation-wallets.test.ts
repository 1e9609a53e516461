// Reconciling eSewa and Khalti from the settlement files their merchant portals give (uploaded as CSV), against the
// sandbox's Khalti and eSewa, real PostgreSQL and Temporal: a late Khalti payment is refunded through Khalti's
// refund API exactly once; a late eSewa payment (no refund API) becomes a manual refund an operator confirms with
// POST /admin/refunds/:refundId/confirm, the same way as in the order workflow; a PAID order missing from the file
// (Khalti or eSewa, each asked through its status API) and an amount that differs in paisa are flagged.
import { reconciliationRefundWorkflowId } from '../../contracts/reconciliation.contract';
import { http, postJson } from '../support/api-harness';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/processes';
import { adminHeaders, getRun, startReconHarness, type ReconHarness } from '../support/reconciliation-harness';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const HEADER = 'kind,transaction_id,payment_id,order_id,status,amount_minor,currency,occurred_at';
/** As a wallet portal's export reads: the amount in rupees. */
const RUPEE_HEADER = 'kind,transaction_id,payment_id,order_id,status,amount,currency,occurred_at';

let harness: ReconHarness;

afterEach(async () => {
  await harness?.stop();
});

function at(minutes: number): string {
  return new Date(harness.window.start.getTime() + minutes * 60_000).toISOString();
}

async function upload(gateway: 'esewa' | 'khalti', lines: string[], header = HEADER): Promise<string> {
  const search = new URLSearchParams({
    gateway,
    windowStart: harness.window.start.toISOString(),
    windowEnd: harness.window.end.toISOString(),
  }).toString();
  const response = await http(harness.api.url, 'POST', `/admin/reconciliation/reports?${search}`, {
    body: [header, ...lines].join('\n'),
    headers: { ...adminHeaders, 'content-type': 'text/csv' },
  });
  if (response.status !== 201) throw new Error(`report refused: ${response.status} ${response.text}`);
  expect(response.body).toMatchObject({ rowsRejected: 0 });
  return response.body.reportId as string;
}

async function orderRow(orderId: string) {
  const result = await harness.pool.query<{ status: string; needs_attention: boolean; refunded_amount_minor: number }>(
    'SELECT status, needs_attention, refunded_amount_minor FROM orders WHERE order_id = $1',
    [orderId],
  );
  return result.rows[0];
}

async function refundRows(orderId: string) {
  const result = await harness.pool.query<{ refund_id: string; state: string; amount_minor: number }>(
    'SELECT refund_id, state, amount_minor FROM refunds WHERE order_id = $1',
    [orderId],
  );
  return result.rows;
}

describe('Khalti from an uploaded settlement file', () => {
  test('when Khalti took the money for an order we expired, then Khalti refunds it once and a rerun says already reconciled', async () => {
    harness = await startReconHarness();
    const late = uniqueId('khalti-late');
    const pay = await harness.khaltiPayment(late, 150_000);
    await harness.seedOrder({
      orderId: late,
      gateway: 'khalti',
      status: 'EXPIRED',
      amountMinor: 150_000,
      intentId: pay.intentId,
    });
    const reportId = await upload('khalti', [`payment,${pay.paymentReference},,${late},succeeded,150000,NPR,${at(5)}`]);

    const { summary } = await harness.reconcile({ gateway: 'khalti', reportId });
    await harness.settleRefundWorkflows();

    expect(summary.newByKind).toEqual({ late_success: 1 });
    expect(harness.sandbox.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 150_000 });
    expect(await refundRows(late)).toEqual([
      { refund_id: `refund-${late}-recon`, state: 'succeeded', amount_minor: 150_000 },
    ]);
    expect(await orderRow(late)).toMatchObject({ status: 'REFUNDED' });
    const run = await getRun(harness, summary.runId);
    expect(run.body.items[0]).toMatchObject({ kind: 'late_success', state: 'done', outcome: 'refunded' });

    const rerun = await harness.reconcile({ gateway: 'khalti', reportId });
    await harness.settleRefundWorkflows();
    expect(rerun.summary.alreadyReconciled).toBe(1);
    expect(rerun.summary.newByKind).toEqual({});
    expect(harness.sandbox.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 150_000 });
  });

  test('when an order is PAID here but missing from the file, and another differs in paisa, then both are flagged', async () => {
    harness = await startReconHarness();
    const missing = uniqueId('khalti-missing');
    const differs = uniqueId('khalti-differs');
    for (const orderId of [missing, differs]) {
      await harness.seedOrder({
        orderId,
        gateway: 'khalti',
        status: 'PAID',
        amountMinor: 150_000,
        capturedAmountMinor: 150_000,
        intentId: `pidx_${orderId}`,
        paymentReference: `txn_${orderId}`,
      });
    }
    // Rs 1,499.50 in the portal's file: 50 paisa short of the order's Rs 1,500.
    const reportId = await upload(
      'khalti',
      [`payment,txn_${differs},,${differs},succeeded,"1,499.50",NPR,${at(5)}`],
      RUPEE_HEADER,
    );

    const { summary } = await harness.reconcile({ gateway: 'khalti', reportId });

    expect(summary.newByKind).toEqual({ paid_not_settled: 1, amount_mismatch: 1 });
    const run = await getRun(harness, summary.runId);
    const items = run.body.items as Array<{ kind: string; orderId: string; state: string }>;
    expect(items.map((item) => [item.kind, item.orderId, item.state]).sort()).toEqual([
      ['amount_mismatch', differs, 'flagged'],
      ['paid_not_settled', missing, 'flagged'],
    ]);
    const mismatch = await harness.pool.query<{ gateway_amount_minor: number }>(
      `SELECT gateway_amount_minor FROM reconciliation_items WHERE order_id = $1`,
      [differs],
    );
    expect(mismatch.rows).toEqual([{ gateway_amount_minor: 149_950 }]);
    expect(await orderRow(missing)).toMatchObject({ status: 'PAID', needs_attention: true });
    expect(await orderRow(differs)).toMatchObject({ status: 'PAID', needs_attention: true });
    expect(harness.sandbox.sandbox.stats().khalti.refunds).toBe(0);
  });
});

describe('eSewa from an uploaded settlement file', () => {
  test('when eSewa took the money for an order we expired, then it is a manual refund until an operator confirms it, and only then REFUNDED', async () => {
    harness = await startReconHarness();
    const late = uniqueId('esewa-late');
    const reference = `0007${late.slice(-6).toUpperCase()}`;
    await harness.seedOrder({
      orderId: late,
      gateway: 'esewa',
      status: 'EXPIRED',
      amountMinor: 250_000,
      intentId: `esewa_${late}`,
    });
    const reportId = await upload(
      'esewa',
      [`payment,${reference},,${late},succeeded,2500.00,NPR,${at(5)}`],
      RUPEE_HEADER,
    );
    const refundId = `refund-${late}-recon`;

    const { summary } = await harness.reconcile({ gateway: 'esewa', reportId });

    expect(summary.newByKind).toEqual({ late_success: 1 });
    // Not refunded: a task for an operator, visible on the order, the refund and the run.
    await eventually(async () => ((await refundRows(late))[0]?.state === 'awaiting_manual' ? true : undefined), {
      what: 'the manual refund',
    });
    const item = await eventually(
      async () => {
        const run = await getRun(harness, summary.runId);
        const found = (run.body.items as Array<{ outcome: string | null }>)[0];
        return found?.outcome === 'manual_refund_required' ? found : undefined;
      },
      { what: 'the item to say manual refund required' },
    );
    expect(item).toMatchObject({ kind: 'late_success', state: 'in_progress', outcome: 'manual_refund_required' });
    // The Web UI: the order (its own workflow long closed) is found by OrderId as needing attention.
    const flagged = await eventually(
      async () => {
        const ids: string[] = [];
        const query = `OrderId = "${late}" AND NeedsAttention = true`;
        for await (const info of harness.temporal.workflow.list({ query })) ids.push(info.workflowId);
        return ids.length === 1 ? ids : undefined;
      },
      { what: 'the refund workflow listed with NeedsAttention' },
    );
    expect(flagged).toEqual([reconciliationRefundWorkflowId('esewa', reference)]);
    expect(await refundRows(late)).toEqual([{ refund_id: refundId, state: 'awaiting_manual', amount_minor: 250_000 }]);
    expect(await orderRow(late)).toMatchObject({
      status: 'EXPIRED',
      needs_attention: true,
      refunded_amount_minor: 0,
    });
    const waiting = await harness.reconcile({ gateway: 'esewa', reportId });
    expect(waiting.summary.newByKind).toEqual({});
    expect(waiting.summary.openDiscrepancies).toBe(1);

    const confirmed = await postJson(
      harness.api.url,
      `/admin/refunds/${refundId}/confirm`,
      { reference: 'ESEWA-REFUND-77' },
      adminHeaders,
    );
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.refund).toMatchObject({ refundId, orderId: late, state: 'succeeded', changed: true });

    const handle = harness.temporal.workflow.getHandle(reconciliationRefundWorkflowId('esewa', reference));
    expect(await handle.result()).toEqual({ state: 'done', outcome: 'refunded_manually' });
    expect(await orderRow(late)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 250_000 });
    const run = await getRun(harness, summary.runId);
    expect(run.body.items[0]).toMatchObject({ kind: 'late_success', state: 'done', outcome: 'refunded_manually' });
    const again = await postJson(
      harness.api.url,
      `/admin/refunds/${refundId}/confirm`,
      { reference: 'ESEWA-REFUND-77' },
      adminHeaders,
    );
    expect(again.body.refund).toMatchObject({ state: 'succeeded', changed: false });
    await recordHistoryIfAsked(handle, 'reconciliation-refund-manual-search-attributes');

    const rerun = await harness.reconcile({ gateway: 'esewa', reportId });
    expect(rerun.summary.alreadyReconciled).toBe(1);
    expect(rerun.summary.openDiscrepancies).toBe(0);
    expect(await refundRows(late)).toHaveLength(1);
  });
});

describe('eSewa orders missing from the file', () => {
  test('when an eSewa order is PAID here but neither the file nor eSewa has the payment, then it is flagged, not flipped', async () => {
    harness = await startReconHarness();
    const missing = uniqueId('esewa-missing');
    await harness.seedOrder({
      orderId: missing,
      gateway: 'esewa',
      status: 'PAID',
      amountMinor: 100_000,
      capturedAmountMinor: 100_000,
      intentId: `esewa_${missing}`,
      paymentReference: '000MISS',
    });
    // eSewa's status check (keyed by the amount) is asked and knows nothing of it.
    const reportId = await upload('esewa', [`payment,000OTHER,,,succeeded,500,NPR,${at(5)}`], RUPEE_HEADER);

    const { summary } = await harness.reconcile({ gateway: 'esewa', reportId });
    await harness.settleRefundWorkflows();

    expect(summary.newByKind).toEqual({ paid_not_settled: 1, foreign_payment: 1 });
    const run = await getRun(harness, summary.runId);
    const item = (run.body.items as Array<{ kind: string; orderId: string | null }>).find(
      (candidate) => candidate.orderId === missing,
    );
    expect(item).toMatchObject({ kind: 'paid_not_settled', state: 'flagged' });
    expect(await orderRow(missing)).toMatchObject({ status: 'PAID', needs_attention: true });
  });
});

describe('a wallet portal file with amounts in rupees', () => {
  test('when a rupee amount is not exact paisa or the currency is not NPR, then that line is reported and the others are kept', async () => {
    harness = await startReconHarness();
    const search = new URLSearchParams({
      gateway: 'esewa',
      windowStart: harness.window.start.toISOString(),
      windowEnd: harness.window.end.toISOString(),
    }).toString();
    const csv = [
      RUPEE_HEADER,
      `payment,ref-1,,,succeeded,"1,000.50",NPR,${at(1)}`, // line 2: good, 100050 paisa
      `payment,ref-2,,,succeeded,10.005,NPR,${at(2)}`, // line 3: a tenth of a paisa
      `payment,ref-3,,,succeeded,1e3,NPR,${at(3)}`, // line 4: not a rupee amount
      `payment,ref-4,,,succeeded,10.50,USD,${at(4)}`, // line 5: rupees, but not NPR
    ].join('\n');

    const response = await http(harness.api.url, 'POST', `/admin/reconciliation/reports?${search}`, {
      body: csv,
      headers: { ...adminHeaders, 'content-type': 'text/csv' },
    });

    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ rowsTotal: 4, rowsAccepted: 1, rowsRejected: 3 });
    expect(response.body.errors.map((e: { lineNo: number; code: string }) => [e.lineNo, e.code])).toEqual([
      [3, 'malformed'],
      [4, 'malformed'],
      [5, 'malformed'],
    ]);
    expect(response.body.errors[2].message).toMatch(/NPR only/);
    const stored = await harness.pool.query<{ amount_minor: number }>(
      'SELECT amount_minor FROM reconciliation_report_rows WHERE report_id = $1 AND line_no = 2',
      [response.body.reportId],
    );
    expect(stored.rows).toEqual([{ amount_minor: 100_050 }]);

    const both = await http(harness.api.url, 'POST', `/admin/reconciliation/reports?${search}`, {
      body: `${RUPEE_HEADER},amount_minor\n`,
      headers: { ...adminHeaders, 'content-type': 'text/csv' },
    });
    expect(both.status).toBe(400);
    expect(both.body.error.code).toBe('invalid_report');
  });
});
