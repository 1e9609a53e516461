// Uploaded settlement reports (how eSewa and Khalti merchants reconcile): a CSV with malformed, duplicate and
// out-of-window lines is stored whole, every bad line is reported by number, and a run over the report uses only
// the good ones. Also: a late payment whose order's workflow has closed is refunded exactly once even when the run
// dies halfway through the repair and Temporal retries it.
import type { Client } from '@temporalio/client';
import { reconciliationRefundWorkflowId } from '../../contracts/reconciliation.contract';
import { http } from '../support/api-harness';
import { recordHistoryIfAsked } from '../support/histories';
import { adminHeaders, getRun, startReconHarness, type ReconHarness } from '../support/reconciliation-harness';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let harness: ReconHarness;

afterEach(async () => {
  await harness?.stop();
});

function uploadCsv(csv: string, query: Record<string, string>, contentType = 'text/csv') {
  const search = new URLSearchParams(query).toString();
  return http(harness.api.url, 'POST', `/admin/reconciliation/reports?${search}`, {
    body: csv,
    headers: { ...adminHeaders, 'content-type': contentType },
  });
}

describe('uploading a settlement report', () => {
  test('when the file has malformed, duplicate and out-of-window lines, then each is reported by line and nothing is lost', async () => {
    harness = await startReconHarness({
      policy: { lateSuccess: 'refund', unknownPayment: 'record', foreignPayment: 'flag' },
    });
    const at = (minutes: number) => new Date(harness.window.start.getTime() + minutes * 60_000).toISOString();
    const agreed = uniqueId('csv-agreed');
    const mismatch = uniqueId('csv-mismatch');
    await harness.seedOrder({
      orderId: agreed,
      status: 'PAID',
      amountMinor: 1_000,
      capturedAmountMinor: 1_000,
      intentId: `cs_${agreed}`,
      paymentReference: `pay_${agreed}`,
    });
    await harness.seedOrder({
      orderId: mismatch,
      status: 'PAID',
      amountMinor: 2_000,
      capturedAmountMinor: 2_000,
      intentId: `cs_${mismatch}`,
      paymentReference: `pay_${mismatch}`,
    });
    const csv = [
      'kind,transaction_id,payment_id,order_id,status,amount_minor,currency,occurred_at',
      `payment,pay_${agreed},,${agreed},succeeded,1000,USD,${at(5)}`, // line 2: good
      `payment,pay_${agreed},,${agreed},succeeded,1000,USD,${at(6)}`, // line 3: duplicate of line 2
      `payment,pay_${mismatch},,${mismatch},succeeded,1999,usd,${at(7)}`, // line 4: good, amount differs
      `payment,pay_x1,,,succeeded,12.5,USD,${at(8)}`, // line 5: malformed amount
      `payment,pay_x2,,succeeded,100,USD`, // line 6: too few fields
      `payment,pay_late,,,succeeded,100,USD,2031-01-01T00:00:00Z`, // line 7: out of window
      `payment,pay_ghost,,,succeeded,300,USD,${at(9)}`, // line 8: good, no order of ours
      `refund,re_x,,,succeeded,100,USD,${at(10)}`, // line 9: malformed, a refund names its payment
    ].join('\n');

    const upload = await uploadCsv(csv, {
      gateway: 'stripe',
      windowStart: harness.window.start.toISOString(),
      windowEnd: harness.window.end.toISOString(),
    });

    expect(upload.status).toBe(201);
    expect(upload.body).toMatchObject({ rowsTotal: 8, rowsAccepted: 3, rowsRejected: 5, source: 'upload' });
    expect(upload.body.errors.map((e: { lineNo: number; code: string }) => [e.lineNo, e.code])).toEqual([
      [3, 'duplicate'],
      [5, 'malformed'],
      [6, 'malformed'],
      [7, 'out_of_window'],
      [9, 'malformed'],
    ]);
    expect(upload.body.errors[1].message).toMatch(/amount_minor/);
    // Nothing lost: every data line is a row, the unparseable ones with their raw text.
    const stored = await harness.pool.query<{ line_no: number; raw: string | null }>(
      'SELECT line_no, raw FROM reconciliation_report_rows WHERE report_id = $1 ORDER BY line_no',
      [upload.body.reportId],
    );
    expect(stored.rows.map((row) => row.line_no)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(stored.rows.find((row) => row.line_no === 6)?.raw).toBe('payment,pay_x2,,succeeded,100,USD');

    const { summary } = await harness.reconcile({ gateway: 'stripe', reportId: upload.body.reportId });
    expect(summary.settlementRows).toBe(3);
    expect(summary.matched).toBe(1);
    expect(summary.newByKind).toEqual({ amount_mismatch: 1, foreign_payment: 1 });

    const report = await http(harness.api.url, 'GET', `/admin/reconciliation/reports/${upload.body.reportId}`, {
      headers: adminHeaders,
    });
    expect(report.status).toBe(200);
    expect(report.body.errors).toHaveLength(5);
  });

  test('when the header does not name the documented columns, then 400 invalid_report and no report is stored', async () => {
    harness = await startReconHarness();
    const upload = await uploadCsv('kind,txn,amount\npayment,p1,100\n', {
      gateway: 'stripe',
      windowStart: harness.window.start.toISOString(),
      windowEnd: harness.window.end.toISOString(),
    });
    expect(upload.status).toBe(400);
    expect(upload.body.error.code).toBe('invalid_report');
    expect(upload.body.error.message).toMatch(/missing: transaction_id/);
    // Reports of this test's window only: other suites upload theirs into the same database at the same time.
    const stored = await harness.pool.query(
      'SELECT count(*)::int AS n FROM reconciliation_reports WHERE window_start = $1',
      [harness.window.start],
    );
    expect(stored.rows[0].n).toBe(0);

    const wrongType = await uploadCsv('{}', { gateway: 'stripe' }, 'application/json');
    expect(wrongType.status).toBe(415);
    const badWindow = await uploadCsv('kind\n', { gateway: 'stripe', windowStart: 'yesterday', windowEnd: 'x' });
    expect(badWindow.status).toBe(400);
    expect(badWindow.body.error.code).toBe('validation_failed');
  });

  test('when the sandbox settlement report is uploaded, then it reconciles like the API: the late payment is refunded', async () => {
    harness = await startReconHarness();
    const late = uniqueId('portal-late');
    const pay = await harness.gatewayPayment(late, 1_300);
    await harness.seedOrder({ orderId: late, status: 'FAILED', amountMinor: 1_300, intentId: pay.intentId });
    const search = new URLSearchParams({
      from: harness.window.start.toISOString(),
      to: harness.window.end.toISOString(),
    });
    const csv = await (await fetch(`${harness.sandbox.url}/_sandbox/settlement-report?${search}`)).text();

    const upload = await uploadCsv(csv, {
      gateway: 'stripe',
      windowStart: harness.window.start.toISOString(),
      windowEnd: harness.window.end.toISOString(),
    });
    expect(upload.body).toMatchObject({ rowsTotal: 1, rowsRejected: 0 });
    const { summary } = await harness.reconcile({ gateway: 'stripe', reportId: upload.body.reportId });
    await harness.settleRefundWorkflows();

    expect(summary.newByKind).toEqual({ late_success: 1 });
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(1);
  });
});

describe('a run that dies halfway', () => {
  test('when the repair step fails after starting the refund and is retried, then the late payment is refunded exactly once', async () => {
    let failedOnce = false;
    // The worker "dies" right after the refund workflow was started, before the item recorded it: the activity
    // fails, Temporal retries it, and the retry must not refund again.
    const flakyTemporal = (client: Client): Client =>
      ({
        workflow: {
          getHandle: client.workflow.getHandle.bind(client.workflow),
          start: async (...args: Parameters<Client['workflow']['start']>) => {
            const handle = await client.workflow.start(...args);
            if (!failedOnce) {
              failedOnce = true;
              throw new Error('worker lost after starting the refund workflow');
            }
            return handle;
          },
        },
      }) as unknown as Client;
    harness = await startReconHarness({ activityTemporal: flakyTemporal });
    const late = uniqueId('killed');
    const pay = await harness.gatewayPayment(late, 2_200);
    await harness.seedOrder({ orderId: late, status: 'EXPIRED', amountMinor: 2_200, intentId: pay.intentId });

    const { summary } = await harness.reconcile();
    await harness.settleRefundWorkflows();

    expect(failedOnce).toBe(true);
    expect(summary.newByKind).toEqual({ late_success: 1 });
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(1);
    const refunds = await harness.pool.query('SELECT refund_id, state FROM refunds WHERE order_id = $1', [late]);
    expect(refunds.rows).toEqual([{ refund_id: `refund-${late}-recon`, state: 'succeeded' }]);
    const run = await getRun(harness, summary.runId);
    expect(run.body.items[0]).toMatchObject({ kind: 'late_success', state: 'done', outcome: 'refunded' });
    const refundWorkflow = await harness.temporal.workflow
      .getHandle(reconciliationRefundWorkflowId('stripe', pay.paymentReference ?? ''))
      .describe();
    expect(refundWorkflow.status.name).toBe('COMPLETED');
    await recordHistoryIfAsked(
      harness.temporal.workflow.getHandle(reconciliationRefundWorkflowId('stripe', pay.paymentReference ?? '')),
      'reconciliation-refund-late-payment',
    );

    // And again, for good measure: the window is reconciled, nothing more is refunded.
    const rerun = await harness.reconcile();
    expect(rerun.summary.alreadyReconciled).toBe(1);
    expect(harness.sandbox.sandbox.stats().refundsCreated).toBe(1);
  });
});
