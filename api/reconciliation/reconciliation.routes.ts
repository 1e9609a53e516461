// /admin/reconciliation: operators start runs (one window, a backfill over a date range, or an uploaded report),
// upload settlement reports as CSV, and read runs with their discrepancies. Mounted behind the admin token by
// admin.routes.ts; every action is written to admin_actions.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { type Response, Router } from 'express';
import type { ApiConfig } from '../../config/env';
import type { GatewayName } from '../../contracts/order.contract';
import {
  RECONCILIATION_WORKFLOW_TYPE,
  reconciliationRunWorkflowId,
  type ReconciliationInput,
} from '../../contracts/reconciliation.contract';
import { recordAdminAction } from '../../db/admin/admin-actions.repo';
import type { Pool } from '../../db/pool';
import { findRun, listRuns } from '../../db/reconciliation/reconciliation.repo';
import { findReport, ingestSettlementReport, listReportErrors } from '../../db/reconciliation/settlement-reports.repo';
import { parseSettlementCsv, SettlementCsvHeaderError } from '../../gateways/settlement-csv';
import { ADMIN_TOKEN_PRINCIPAL } from '../auth/api-key-auth';
import { parseOrThrow } from '../http/parse';
import {
  BACKFILL_WINDOW_MS,
  idParam,
  itemLimitSchema,
  listRunsQuerySchema,
  reportQuerySchema,
  startRunsSchema,
} from './reconciliation.schema';
import { rejectOtherMethods } from '../http/error-handler';
import { ApiError, temporalUnavailable, unsupportedMediaType } from '../http/errors';
import { jsonBody } from '../http/json-body';
import { TEMPORAL_SIGNAL_TIMEOUT_MS, withTemporalDeadline } from '../temporal/temporal-calls';
import { isTemporalUnavailableError, isWorkflowAlreadyStartedError } from '../temporal/temporal-errors';

export interface ReconciliationRouteDeps {
  config: Pick<ApiConfig, 'TEMPORAL_TASK_QUEUE'>;
  pool: Pool;
  temporal: Client;
}

const REPORT_ERRORS_IN_RESPONSE = 100;

const reportNotFound = (reportId: string) =>
  new ApiError(404, 'report_not_found', 'no settlement report with this ID', { reportId });
const runNotFound = (runId: string) =>
  new ApiError(404, 'run_not_found', 'no reconciliation run with this ID', { runId });
const invalidReport = (message: string) => new ApiError(400, 'invalid_report', message);

export function reconciliationRoutes(deps: ReconciliationRouteDeps): Router {
  const router = Router();

  router
    .route('/admin/reconciliation/runs')
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const body = parseOrThrow(startRunsSchema, req.body);
      let windows: ReconciliationInput[];
      if ('reportId' in body) {
        const report = await findReport(deps.pool, body.reportId);
        if (!report || report.gateway !== body.gateway) throw reportNotFound(body.reportId);
        windows = [
          {
            gateway: body.gateway,
            windowStart: report.windowStart,
            windowEnd: report.windowEnd,
            reportId: report.reportId,
          },
        ];
      } else {
        windows = backfillWindows(body.gateway, body.from, body.to);
      }
      const runs = [];
      for (const input of windows) runs.push(await startRun(deps, input));
      await audit(res, deps.pool, 'reconciliation.start', windows[0]?.gateway, 'succeeded', {
        body: 'reportId' in body ? body : { ...body, from: body.from.toISOString(), to: body.to.toISOString() },
        runs: runs.map((r) => ({ workflowId: r.workflowId, status: r.status })),
      });
      res.status(202).json({ runs });
    })
    .get(async (req, res) => {
      const query = parseOrThrow(listRunsQuerySchema, req.query);
      res.status(200).json({ runs: await listRuns(deps.pool, query) });
    })
    .all(rejectOtherMethods(['GET', 'HEAD', 'POST']));

  router
    .route('/admin/reconciliation/runs/:runId')
    .get(async (req, res) => {
      const runId = parseOrThrow(idParam, req.params.runId, 'runId');
      const { limit } = parseOrThrow(itemLimitSchema, req.query);
      const run = await findRun(deps.pool, runId, limit);
      if (!run) throw runNotFound(runId);
      res.status(200).json(run);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/admin/reconciliation/reports')
    .post(async (req, res) => {
      // The body is streamed through the parser into COPY, never read whole: no body parser on this route.
      if (!req.is('text/csv')) throw unsupportedMediaType('text/csv');
      const query = parseOrThrow(reportQuerySchema, req.query);
      const reportId = `rpt-${randomUUID()}`;
      let summary;
      try {
        summary = await ingestSettlementReport(
          deps.pool,
          {
            reportId,
            gateway: query.gateway,
            source: 'upload',
            windowStart: query.windowStart,
            windowEnd: query.windowEnd,
          },
          parseSettlementCsv(req),
        );
      } catch (error) {
        if (error instanceof SettlementCsvHeaderError) {
          await audit(res, deps.pool, 'reconciliation.report_upload', reportId, 'invalid_report');
          throw invalidReport(error.message);
        }
        throw error;
      }
      const errors = await listReportErrors(deps.pool, reportId, REPORT_ERRORS_IN_RESPONSE);
      await audit(res, deps.pool, 'reconciliation.report_upload', reportId, 'succeeded', {
        gateway: query.gateway,
        rowsTotal: summary.rowsTotal,
        rowsRejected: summary.rowsRejected,
      });
      res.status(201).json({ ...summary, errors });
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/admin/reconciliation/reports/:reportId')
    .get(async (req, res) => {
      const reportId = parseOrThrow(idParam, req.params.reportId, 'reportId');
      const { limit } = parseOrThrow(itemLimitSchema, req.query);
      const report = await findReport(deps.pool, reportId);
      if (!report) throw reportNotFound(reportId);
      res.status(200).json({ ...report, errors: await listReportErrors(deps.pool, reportId, limit) });
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  return router;
}

/** Consecutive one-day windows covering [from, to); the last one may be shorter. */
function backfillWindows(gatewayName: GatewayName, from: Date, to: Date): ReconciliationInput[] {
  const windows: ReconciliationInput[] = [];
  for (let start = from.getTime(); start < to.getTime(); start += BACKFILL_WINDOW_MS) {
    const end = Math.min(start + BACKFILL_WINDOW_MS, to.getTime());
    windows.push({
      gateway: gatewayName,
      windowStart: new Date(start).toISOString(),
      windowEnd: new Date(end).toISOString(),
    });
  }
  return windows;
}

async function startRun(deps: ReconciliationRouteDeps, input: ReconciliationInput) {
  const workflowId = reconciliationRunWorkflowId(input.gateway, input.windowStart, input.windowEnd);
  const view = { workflowId, windowStart: input.windowStart, windowEnd: input.windowEnd };
  try {
    const handle = await withTemporalDeadline(deps.temporal, TEMPORAL_SIGNAL_TIMEOUT_MS, () =>
      deps.temporal.workflow.start(RECONCILIATION_WORKFLOW_TYPE, {
        taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
        workflowId,
        args: [input],
        // The same window never runs twice at once; once finished it may run again (and changes nothing).
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      }),
    );
    return { ...view, runId: handle.firstExecutionRunId, status: 'started' as const };
  } catch (error) {
    if (isWorkflowAlreadyStartedError(error)) return { ...view, runId: null, status: 'already_running' as const };
    if (isTemporalUnavailableError(error)) throw temporalUnavailable();
    throw error;
  }
}

async function audit(
  res: Response,
  pool: Pool,
  action: string,
  target: string | undefined,
  outcome: string,
  details?: Record<string, unknown>,
): Promise<void> {
  await recordAdminAction(pool, {
    actor: res.locals.adminActor ?? ADMIN_TOKEN_PRINCIPAL.name,
    action,
    ...(target === undefined ? {} : { target }),
    requestId: res.locals.requestId,
    ...(details ? { details } : {}),
    outcome,
  });
}
