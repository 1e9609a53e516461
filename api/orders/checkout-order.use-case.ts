// POST /orders as a story: refuse a different request under a used order ID, answer an order already recorded from
// its row, then start the order's workflow (or join the running one) and wait a bounded time for its checkout. The
// database is only read before the workflow starts, so a failure here never leaves a half-created order: the
// workflow writes the order row itself. The answer is the order's checkout view; the route makes it HTTP.
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
  type OrderStatus,
  type OrderWorkflowInput,
} from '../../contracts/order.contract';
import { findOrderSummary, type OrderSummary } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import type { CheckoutBody } from './checkout.schema';
import { checkoutPending, idempotencyConflict, orderClosed, temporalUnavailable } from '../http/errors';
import { sameRequestOrConflict } from '../http/idempotency';
import { requestHash } from '../http/request-hash';
import { probeOrderWorkflow, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowAlreadyStartedError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

const CHECKOUT_PENDING_RETRY_AFTER_SECONDS = 2;

export interface CheckoutDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

/**
 * What makes two checkouts the same request: the whole body. Canonical JSON drops absent fields, so a body without
 * `gateways` hashes exactly as it did before the field existed and a retry of an older order still matches its row.
 */
export const checkoutRequestHash = (order: CheckoutBody): string => requestHash(order);

export interface CheckoutView {
  orderId: string;
  status: OrderStatus;
  paymentUrl: string | null;
  expiresAt: string;
  amount: number;
  currency: string;
  gateway: GatewayName;
}

export type CheckoutOutcome = {
  /** False when the order was recorded before this request: the answer repeats it and creates nothing. */
  createdByThisRequest: boolean;
} & (
  | { kind: 'payable'; order: CheckoutView }
  | { kind: 'gateway_rejected'; orderId: string; status: OrderStatus; failureReason: string | null }
);

/** `existing`: the order's row as the caller read it just before (with the idempotency record), if there is one. */
export async function checkoutOrder(
  deps: CheckoutDeps,
  order: CheckoutBody,
  existing: OrderSummary | undefined,
): Promise<CheckoutOutcome> {
  const hash = checkoutRequestHash(order);
  if (existing) {
    sameRequestOrConflict(existing.requestHash, hash);
    // Recorded before: the database answers, whether or not Temporal still keeps the workflow's run. Starting one
    // now would run a closed (or long-deleted) order again, at the gateway too.
    deps.logger.info({ orderId: order.orderId, status: existing.status }, 'checkout of a recorded order');
    return answerRecordedOrder(deps, existing, hash);
  }

  const checkout = await startOrJoinCheckout(deps, order, hash);
  if (checkout === 'workflow_finished') return answerFromOrderRow(deps.pool, order.orderId, hash);
  deps.logger.info({ orderId: order.orderId, status: checkout.status }, 'checkout settled');
  return outcomeOf(order, checkout, { createdByThisRequest: true });
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
    // Only when asked for: an input without the field is one an older worker reads exactly as before.
    ...(order.gateways ? { gateways: order.gateways } : {}),
    ...(order.fulfilment ? { fulfilment: { mode: order.fulfilment.mode, timeoutMs: order.fulfilment.timeout } } : {}),
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
 * The order's timing, fixed at checkout (the workflow input). GATEWAY_POLL_CADENCE may poll one gateway less (one
 * with reliable signed webhooks needs fewer polls). eSewa asks merchants to use its status API only when no answer
 * came within five minutes, so eSewa orders poll first after ESEWA_FIRST_STATUS_CHECK whatever the cadence says.
 */
export function orderPolicy(config: ApiConfig, gateway: GatewayName): OrderPolicy {
  const cadence = config.GATEWAY_POLL_CADENCE[gateway];
  const poll = {
    initialIntervalMs: cadence?.initialIntervalMs ?? config.POLL_INITIAL_INTERVAL,
    backoffCoefficient: config.POLL_BACKOFF_COEFFICIENT,
    maxIntervalMs: cadence?.maxIntervalMs ?? config.POLL_MAX_INTERVAL,
  };
  if (gateway === 'esewa') {
    poll.initialIntervalMs = config.ESEWA_FIRST_STATUS_CHECK;
    poll.maxIntervalMs = Math.max(poll.maxIntervalMs, config.ESEWA_FIRST_STATUS_CHECK);
  }
  return {
    ttlMs: config.ORDER_TTL,
    graceMs: config.ORDER_GRACE_PERIOD,
    poll,
    gracePollIntervalMs: cadence?.gracePollIntervalMs ?? config.GRACE_POLL_INTERVAL,
    historyEventLimit: config.ORDER_HISTORY_LIMIT,
    maxAttempts: config.ORDER_MAX_ATTEMPTS,
  };
}

function outcomeOf(
  order: Pick<CheckoutBody, 'amount' | 'currency' | 'gateway'>,
  result: CheckoutResult,
  { createdByThisRequest }: { createdByThisRequest: boolean },
): CheckoutOutcome {
  if (result.status === 'FAILED') {
    const { orderId, status, failureReason } = result;
    return { kind: 'gateway_rejected', orderId, status, failureReason: failureReason ?? null, createdByThisRequest };
  }
  return {
    kind: 'payable',
    order: {
      orderId: result.orderId,
      status: result.status,
      paymentUrl: result.paymentUrl,
      expiresAt: result.expiresAt,
      amount: order.amount,
      currency: order.currency,
      gateway: order.gateway,
    },
    createdByThisRequest,
  };
}

/**
 * A recorded order still PENDING has its workflow creating the intent right now: join it (never start one) for the
 * payment URL. Any other status is final enough for the row to answer.
 */
async function answerRecordedOrder(deps: CheckoutDeps, row: OrderSummary, hash: string): Promise<CheckoutOutcome> {
  if (row.status !== 'PENDING') return { kind: 'payable', order: checkoutViewOf(row), createdByThisRequest: false };
  try {
    const result = await withTemporalDeadline(deps.temporal, deps.config.CHECKOUT_TIMEOUT, () =>
      deps.temporal.workflow
        .getHandle(orderWorkflowId(row.orderId))
        .executeUpdate(checkoutUpdate, { args: [{ requestHash: hash }] }),
    );
    return outcomeOf({ amount: row.amountMinor, currency: row.currency, gateway: row.gateway }, result, {
      createdByThisRequest: false,
    });
  } catch (error) {
    if (isWorkflowNotFoundError(error)) return answerFromOrderRow(deps.pool, row.orderId, hash);
    if (isTemporalUnavailableError(error)) throw checkoutPending(row.orderId, CHECKOUT_PENDING_RETRY_AFTER_SECONDS);
    throw error;
  }
}

async function answerFromOrderRow(pool: Pool, orderId: string, hash: string): Promise<CheckoutOutcome> {
  const row = await findOrderSummary(pool, orderId);
  if (!row) throw orderClosed(orderId);
  sameRequestOrConflict(row.requestHash, hash);
  return { kind: 'payable', order: checkoutViewOf(row), createdByThisRequest: false };
}

function checkoutViewOf(row: OrderSummary): CheckoutView {
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
