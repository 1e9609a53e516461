// The reconciliation schedule: registered once when the worker starts, updated (not duplicated) when the cadence
// changes, and a backfill through it runs the window's reconciliation under the window's own workflow ID.
import { randomInt } from 'node:crypto';
import { reconciliationRunWorkflowId, reconciliationScheduleId } from '../../contracts/reconciliation.contract';
import { ensureReconciliationSchedules } from '../../worker/reconciliation-schedules';
import { apiTestLogger } from '../support/api-harness';
import { startReconHarness, type ReconHarness } from '../support/reconciliation-harness';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/sandbox';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
let harness: ReconHarness;

async function deleteSchedule(): Promise<void> {
  await harness.temporal.schedule
    .getHandle(reconciliationScheduleId('stripe'))
    .delete()
    .catch(() => undefined);
}

afterEach(async () => {
  await deleteSchedule();
  await harness.stop();
});

test('when the worker starts twice with a new cadence, then the schedule exists once and carries the new cadence', async () => {
  harness = await startReconHarness();
  await deleteSchedule();
  const options = { gateways: ['stripe'] as const, taskQueue: harness.worker.taskQueue, overlapMs: HOUR };

  const first = await ensureReconciliationSchedules(
    harness.temporal,
    { ...options, intervalMs: 24 * HOUR },
    apiTestLogger,
  );
  const second = await ensureReconciliationSchedules(
    harness.temporal,
    { ...options, intervalMs: 12 * HOUR },
    apiTestLogger,
  );

  expect(first.map((o) => o.outcome)).toEqual(['created']);
  expect(second.map((o) => o.outcome)).toEqual(['updated']);
  const description = await harness.temporal.schedule.getHandle(reconciliationScheduleId('stripe')).describe();
  expect(description.spec.intervals?.[0]?.every).toBe(12 * HOUR);
  expect(description.action.type).toBe('startWorkflow');
  expect(description.action.type === 'startWorkflow' && description.action.args).toEqual([
    { gateway: 'stripe', windowMs: 12 * HOUR, overlapMs: HOUR },
  ]);
  expect(description.policies.overlap).toBe('BUFFER_ALL');
  const schedules = [];
  for await (const schedule of harness.temporal.schedule.list()) {
    if (schedule.scheduleId === reconciliationScheduleId('stripe')) schedules.push(schedule);
  }
  expect(schedules.length).toBeLessThanOrEqual(1);
});

test('when the schedule is backfilled over a day, then that window is reconciled under its own run workflow ID', async () => {
  // Backfills run only for past times; a day decades ago, with a payment at the gateway and no orders of ours, so
  // no other suite's listing of old orders can meet anything this test leaves.
  harness = await startReconHarness({
    windowStart: new Date(Date.UTC(1990, 0, 1) + randomInt(0, 3_000) * 86_400_000),
  });
  await harness.gatewayPayment(`sched-ghost-${Date.now().toString(36)}`, 800);
  await ensureReconciliationSchedules(
    harness.temporal,
    { gateways: ['stripe'], taskQueue: harness.worker.taskQueue, intervalMs: 24 * HOUR, overlapMs: 0 },
    apiTestLogger,
  );
  const handle = harness.temporal.schedule.getHandle(reconciliationScheduleId('stripe'));
  // Only the backfill may start runs in this test: a real midnight must not reconcile today's shared database.
  await handle.pause('test');

  await handle.backfill({
    start: new Date(harness.window.end.getTime() - 60_000),
    end: new Date(harness.window.end.getTime() + 60_000),
    overlap: 'BUFFER_ALL',
  });

  const runId = reconciliationRunWorkflowId(
    'stripe',
    harness.window.start.toISOString(),
    harness.window.end.toISOString(),
  );
  const run = await eventually(() => harness.temporal.workflow.getHandle(runId).describe(), 30_000, 200);
  const summary = await harness.temporal.workflow.getHandle(runId, run.runId).result();
  expect(summary).toMatchObject({ newByKind: { unknown_payment: 1 }, windowEnd: harness.window.end.toISOString() });
  const parent = run.raw.workflowExecutionInfo?.parentExecution;
  expect(parent?.workflowId).toMatch(/^recon-scheduled-stripe-/);
  await harness.temporal.workflow.getHandle(parent?.workflowId ?? '').result();
  await recordHistoryIfAsked(harness.temporal.workflow.getHandle(parent?.workflowId ?? ''), 'reconciliation-scheduled');
});
