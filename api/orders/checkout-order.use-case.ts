// POST /orders as a story: replay what was already answered, refuse a different request under a used key or
// order ID, answer an order already recorded from its row, then start the order's workflow (or join the running
// one) and wait a bounded time for its checkout. The database is only read before the workflow starts, so a failure here never leaves a
// half-created order: the workflow writes the order row itself.
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import type { Logger } from '../../config/logger';
import {
  ORDER_ERROR_TYPES,
  ORDER_WORKFLOW_TYPE,
  checkoutUpdate,
  orderSearchAttributes,
  orderWorkflowId,
  type CheckoutResult,
  type GatewayName,
  type OrderPolicy,
  type OrderWorkflowInput,
} from '../../contracts/order.contract';
import { findIdempotencyRecord, saveIdempotencyRecord, type IdempotencyRecord } from '../../db/orders/idempotency.repo';
import { findOrderSummary, type OrderSummary } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import type { CheckoutBody } from './checkout.schema';
import { describeError, errorBody } from '../http/error-handler';
import { ApiError, checkoutPending, idempotencyConflict, orderClosed, temporalUnavailable } from '../http/errors';
import { requestHash } from '../http/request-hash';
import type { CheckoutResponseBody } from '../http/responses.schema';
import { probeOrderWorkflow, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowAlreadyStartedError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

export const CHECKOUT_SCOPE = 'POST /orders';
/** The workflow type; a wire name, like the contract's message names. */
const CHECKOUT_PENDING_RETRY_AFTER_SECONDS = 2;

export interface CheckoutDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export interface CheckoutCommand {
  order: CheckoutBody;
  idempotencyKey: string;
}

export interface CheckoutResponse {
  status: number;
  body: unknown;
  /** True when this answer was given before (the Idempotent-Replayed header). */
  replayed: boolean;
}

export async function checkoutOrder(
  deps: CheckoutDeps,
  { order, idempotencyKey }: CheckoutCommand,
): Promise<CheckoutResponse> {
  const hash = requestHash(order);

  const stored = await findIdempotencyRecord(deps.pool, CHECKOUT_SCOPE, idempotencyKey);
  if (stored) return replayStoredResponse(stored, hash);

  const existing = await findOrderSummary(deps.pool, order.orderId);
  if (existing && existing.requestHash !== hash) throw idempotencyConflict();
  if (existing) {
    // Recorded before: the database answers, whether or not Temporal still keeps the workflow's run. Starting one
    // now would run a closed (or long-deleted) order again, at the gateway too. Nothing is stored for the key, so a
    // repeat reads the order as it is then.
    deps.logger.info({ orderId: order.orderId, status: existing.status }, 'checkout of a recorded order');
    return answerRecordedOrder(deps, existing, hash);
  }

  const checkout = await startOrJoinCheckout(deps, order, hash);
  if (checkout === 'workflow_finished') return answerFromOrderRow(deps.pool, order.orderId, hash);

  // An order that was already recorded is not created by this request, whichever key it came with.
  const response = respondToCheckout(order, checkout, { alreadyRecorded: existing !== undefined });
  deps.logger.info({ orderId: order.orderId, status: checkout.status }, 'checkout settled');
  await rememberResponse(deps, { idempotencyKey, hash, orderId: order.orderId, response });
  return response;
}

function replayStoredResponse(stored: IdempotencyRecord, hash: string): CheckoutResponse {
  if (stored.requestHash !== hash) throw idempotencyConflict();
  // A created order replays as 200: the resource was not created by this request.
  const status = stored.responseStatus === 201 ? 200 : stored.responseStatus;
  return { status, body: stored.responseBody, replayed: true };
}

/**
 * Update-with-start: starts the workflow unless it is already running (then the update joins it), and returns
 * once the workflow has created the payment intent or given up. Resolves 'workflow_finished' when the order
 * ran before and has closed; the ID reuse policy never runs an order twice.
 */
async function startOrJoinCheckout(
  { config, temporal }: CheckoutDeps,
  order: CheckoutBody,
  hash: string,
): Promise<CheckoutResult | 'workflow_finished'> {
  const input: OrderWorkflowInput = {
    orderId: order.orderId,
    amountMinor: order.amount,
    currency: order.currency,
    gateway: order.gateway,
    description: order.description,
    customer: order.customer,
    returnUrl: order.returnUrl,
    requestHash: hash,
    policy: orderPolicy(config, order.gateway),
  };
  const startWorkflowOperation = new WithStartWorkflowOperation(ORDER_WORKFLOW_TYPE, {
    workflowId: orderWorkflowId(order.orderId),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: orderSearchAttributes.orderStatus, value: 'PENDING' },
      { key: orderSearchAttributes.gateway, value: order.gateway },
      { key: orderSearchAttributes.orderId, value: order.orderId },
      { key: orderSearchAttributes.amountMinor, value: order.amount },
      { key: orderSearchAttributes.currency, value: order.currency },
    ],
    ...operatorView(order),
  });
  try {
    return await withTemporalDeadline(temporal, config.CHECKOUT_TIMEOUT, () =>
      // No fixed update ID: the server would answer a reused one from a closed run's history (a stale
      // AWAITING_PAYMENT) instead of refusing the start, and a repeated checkout update is harmless.
      temporal.workflow.executeUpdateWithStart(checkoutUpdate, {
        args: [{ requestHash: hash }],
        startWorkflowOperation,
      }),
    );
  } catch (error) {
    if (isWorkflowAlreadyStartedError(error)) return 'workflow_finished';
    const failureType = applicationFailureType(error);
    if (
      failureType === ORDER_ERROR_TYPES.idempotencyConflict ||
      failureType === ORDER_ERROR_TYPES.orderRecordConflict
    ) {
      throw idempotencyConflict();
    }
    // The workflow closed while the update waited on it.
    if (isWorkflowNotFoundError(error)) return 'workflow_finished';
    if (isTemporalUnavailableError(error)) return explainTimeout(temporal, order.orderId, error);
    throw error;
  }
}

/** A deadline means either a slow checkout (the order carries on) or an unreachable server. */
async function explainTimeout(temporal: Client, orderId: string, cause: unknown): Promise<'workflow_finished'> {
  const workflow = await probeOrderWorkflow(temporal, orderId);
  if (workflow === 'running') throw checkoutPending(orderId, CHECKOUT_PENDING_RETRY_AFTER_SECONDS);
  if (workflow === 'closed') return 'workflow_finished';
  throw Object.assign(temporalUnavailable(), { cause });
}

/**
 * What the Web UI and `temporal workflow describe` show next to the search attributes: a one-line summary, details
 * and a memo. Only IDs, amounts and the gateway: description and customer can carry personal data, so never here.
 */
function operatorView(order: CheckoutBody) {
  const amount = `${order.amount} ${order.currency} (minor units)`;
  return {
    staticSummary: `Order ${order.orderId}: ${amount} via ${order.gateway}`,
    staticDetails: [
      `**Order** \`${order.orderId}\``,
      `**Amount** ${amount}`,
      `**Gateway** ${order.gateway}`,
      '',
      `Status, timeline and refunds: \`GET /orders/${order.orderId}\`, or the \`orderStateQuery\` query.`,
    ].join('\n'),
    memo: { orderId: order.orderId, gateway: order.gateway, amountMinor: order.amount, currency: order.currency },
  };
}

/**
 * The order's timing, fixed at checkout (the workflow input). eSewa asks merchants to use its status API only when
 * no answer came within five minutes, so eSewa orders poll first after ESEWA_FIRST_STATUS_CHECK.
 */
function orderPolicy(config: ApiConfig, gateway: GatewayName): OrderPolicy {
  const poll = {
    initialIntervalMs: config.POLL_INITIAL_INTERVAL,
    backoffCoefficient: config.POLL_BACKOFF_COEFFICIENT,
    maxIntervalMs: config.POLL_MAX_INTERVAL,
  };
  if (gateway === 'esewa') {
    poll.initialIntervalMs = config.ESEWA_FIRST_STATUS_CHECK;
    poll.maxIntervalMs = Math.max(config.POLL_MAX_INTERVAL, config.ESEWA_FIRST_STATUS_CHECK);
  }
  return {
    ttlMs: config.ORDER_TTL,
    graceMs: config.ORDER_GRACE_PERIOD,
    poll,
    gracePollIntervalMs: config.GRACE_POLL_INTERVAL,
    historyEventLimit: config.ORDER_HISTORY_LIMIT,
  };
}

function respondToCheckout(
  order: Pick<CheckoutBody, 'amount' | 'currency' | 'gateway'>,
  result: CheckoutResult,
  { alreadyRecorded }: { alreadyRecorded: boolean },
): CheckoutResponse {
  if (result.status === 'FAILED') {
    const rejected = new ApiError(502, 'gateway_rejected', 'the payment gateway did not create the payment', {
      orderId: result.orderId,
      status: result.status,
      failureReason: result.failureReason,
    });
    return { status: rejected.status, body: errorBody(rejected), replayed: alreadyRecorded };
  }
  return {
    status: alreadyRecorded ? 200 : 201,
    body: {
      orderId: result.orderId,
      status: result.status,
      paymentUrl: result.paymentUrl,
      expiresAt: result.expiresAt,
      amount: order.amount,
      currency: order.currency,
      gateway: order.gateway,
    } satisfies CheckoutResponseBody,
    replayed: alreadyRecorded,
  };
}

/**
 * A recorded order still PENDING has its workflow creating the intent right now: join it (never start one) for the
 * payment URL. Any other status is final enough for the row to answer.
 */
async function answerRecordedOrder(deps: CheckoutDeps, row: OrderSummary, hash: string): Promise<CheckoutResponse> {
  if (row.status !== 'PENDING') return { status: 200, body: orderSummaryBody(row), replayed: true };
  try {
    const result = await withTemporalDeadline(deps.temporal, deps.config.CHECKOUT_TIMEOUT, () =>
      deps.temporal.workflow
        .getHandle(orderWorkflowId(row.orderId))
        .executeUpdate(checkoutUpdate, { args: [{ requestHash: hash }] }),
    );
    return respondToCheckout({ amount: row.amountMinor, currency: row.currency, gateway: row.gateway }, result, {
      alreadyRecorded: true,
    });
  } catch (error) {
    if (isWorkflowNotFoundError(error)) return answerFromOrderRow(deps.pool, row.orderId, hash);
    if (isTemporalUnavailableError(error)) throw checkoutPending(row.orderId, CHECKOUT_PENDING_RETRY_AFTER_SECONDS);
    throw error;
  }
}

async function answerFromOrderRow(pool: Pool, orderId: string, hash: string): Promise<CheckoutResponse> {
  const row = await findOrderSummary(pool, orderId);
  if (!row) throw orderClosed(orderId);
  if (row.requestHash !== hash) throw idempotencyConflict();
  return { status: 200, body: orderSummaryBody(row), replayed: true };
}

function orderSummaryBody(row: OrderSummary): CheckoutResponseBody {
  return {
    orderId: row.orderId,
    status: row.status,
    paymentUrl: row.paymentUrl,
    expiresAt: row.expiresAt,
    amount: row.amountMinor,
    currency: row.currency,
    gateway: row.gateway,
  };
}

/**
 * Losing the record is harmless: the same request joins the same workflow and gets the same answer. So a
 * failed write is logged, and the caller still gets the order it asked for.
 */
async function rememberResponse(
  { pool, logger }: CheckoutDeps,
  entry: { idempotencyKey: string; hash: string; orderId: string; response: CheckoutResponse },
): Promise<void> {
  try {
    await saveIdempotencyRecord(pool, {
      scope: CHECKOUT_SCOPE,
      idempotencyKey: entry.idempotencyKey,
      requestHash: entry.hash,
      orderId: entry.orderId,
      responseStatus: entry.response.status,
      responseBody: entry.response.body,
    });
  } catch (error) {
    logger.warn({ orderId: entry.orderId, err: describeError(error) }, 'idempotency record not stored');
  }
}
