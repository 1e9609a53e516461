import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { SETTLEMENT_CSV_COLUMNS, SETTLEMENT_CSV_MAJOR_AMOUNT } from '../../../gateways/settlement-csv';
import {
  idParam,
  itemLimitSchema,
  listRunsQuerySchema,
  reportQuerySchema,
  reportSchema,
  runDetailSchema,
  runListSchema,
  startedRunsSchema,
  startRunsSchema,
} from '../../reconciliation/reconciliation.schema';
import { adminErrors, error, json } from '../responses';

const admin = { tags: ['reconciliation'], security: [{ adminBearer: [] }] };

export const reconciliationPaths: ZodOpenApiPathsObject = {
  '/admin/reconciliation/runs': {
    post: {
      ...admin,
      summary: 'Reconcile a window, backfill a date range (one run per day), or reconcile an uploaded report',
      description:
        'Each window runs as the workflow `recon-<gateway>-<windowStart>-<windowEnd>`: a window being reconciled now ' +
        'answers `already_running` instead of starting twice.',
      requestBody: { required: true, content: { 'application/json': { schema: startRunsSchema } } },
      responses: {
        ...adminErrors,
        '202': json('The runs started (or already running)', startedRunsSchema),
        '404': error('`report_not_found`'),
        '415': error('`unsupported_media_type`'),
      },
    },
    get: {
      ...admin,
      summary: 'Reconciliation runs, newest first, with counts per case',
      requestParams: { query: listRunsQuerySchema },
      responses: { ...adminErrors, '200': json('Runs', runListSchema) },
    },
  },
  '/admin/reconciliation/runs/{runId}': {
    get: {
      ...admin,
      summary: 'One run: counts per case, each discrepancy it saw, the action taken and its outcome',
      requestParams: { path: z.object({ runId: idParam }), query: itemLimitSchema },
      responses: {
        ...adminErrors,
        '200': json('The run', runDetailSchema),
        '404': error('`run_not_found`'),
      },
    },
  },
  '/admin/reconciliation/reports': {
    post: {
      ...admin,
      summary: 'Upload a settlement report (CSV, streamed); every line is kept, rejected lines are reported',
      description:
        `Header naming the columns ${SETTLEMENT_CSV_COLUMNS.join(', ')} (any order); for NPR, ` +
        `\`${SETTLEMENT_CSV_MAJOR_AMOUNT}\` in rupees ("1,500.50") may replace amount_minor.`,
      requestParams: { query: reportQuerySchema },
      requestBody: { required: true, content: { 'text/csv': { schema: z.string() } } },
      responses: {
        ...adminErrors,
        '201': json('The stored report and its first 100 rejected lines', reportSchema),
        '400': error('`invalid_report` (the header) or `validation_failed` (the query)'),
        '415': error('`unsupported_media_type`: the body must be text/csv'),
      },
    },
  },
  '/admin/reconciliation/reports/{reportId}': {
    get: {
      ...admin,
      summary: 'A settlement report with its rejected lines',
      requestParams: { path: z.object({ reportId: idParam }), query: itemLimitSchema },
      responses: {
        ...adminErrors,
        '200': json('The report', reportSchema),
        '404': error('`report_not_found`'),
      },
    },
  },
};
