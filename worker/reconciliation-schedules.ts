// The reconciliation schedules: one per gateway with a settlement API, created when the worker starts, or updated
// to the current configuration when it already exists, so a restart with a new cadence changes the schedule.
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Logger } from '../config/logger';
import type { GatewayName } from '../contracts/order.contract';
import {
  reconciliationScheduleId,
  SCHEDULED_RECONCILIATION_WORKFLOW_TYPE,
  type ReconciliationTimeouts,
  type ScheduledReconciliationInput,
} from '../contracts/reconciliation.contract';
import type { scheduledReconciliationWorkflow } from '../workflows/reconciliation.workflow';

export interface ReconciliationScheduleOptions {
  gateways: readonly GatewayName[];
  taskQueue: string;
  intervalMs: number;
  overlapMs: number;
  /** The runs' activity timeouts (the workflow's defaults when absent). */
  timeouts?: ReconciliationTimeouts;
}

export type ScheduleOutcome = { gateway: GatewayName; scheduleId: string; outcome: 'created' | 'updated' };

export async function ensureReconciliationSchedules(
  client: Client,
  options: ReconciliationScheduleOptions,
  logger: Logger,
): Promise<ScheduleOutcome[]> {
  const outcomes: ScheduleOutcome[] = [];
  for (const gateway of options.gateways) {
    const scheduleId = reconciliationScheduleId(gateway);
    const input: ScheduledReconciliationInput = {
      gateway,
      windowMs: options.intervalMs,
      overlapMs: options.overlapMs,
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    };
    const action: ScheduleOptionsStartWorkflowAction<typeof scheduledReconciliationWorkflow> = {
      type: 'startWorkflow',
      workflowType: SCHEDULED_RECONCILIATION_WORKFLOW_TYPE,
      taskQueue: options.taskQueue,
      // Temporal appends the scheduled time; the run itself gets an ID from gateway and window.
      workflowId: `recon-scheduled-${gateway}`,
      args: [input],
    };
    // Every interval is aligned to the epoch, so a daily schedule fires at 00:00 UTC over the previous day.
    const spec = { intervals: [{ every: options.intervalMs }] };
    // Buffer rather than skip: a backfill or a slow run delays the next window, it never drops it.
    const policies = { overlap: ScheduleOverlapPolicy.BUFFER_ALL, catchupWindow: options.intervalMs };
    try {
      await client.schedule.create({ scheduleId, spec, action, policies });
      outcomes.push({ gateway, scheduleId, outcome: 'created' });
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
      outcomes.push({ gateway, scheduleId, outcome: 'updated' });
    }
    logger.info(
      { scheduleId, intervalMs: options.intervalMs, overlapMs: options.overlapMs },
      'reconciliation schedule',
    );
  }
  return outcomes;
}
