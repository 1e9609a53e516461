// POST /webhooks/:gateway as a story (and, through recordAndDeliverPaymentEvent, the browser callbacks too): check the signature, store the event durably, then hand it to the
// order's workflow. The gateway gets a 2xx only once the event is stored, and a 503 whenever a retry could
// still change the outcome, so a redelivery finishes what this delivery could not. The workflow ignores an
// event ID it has seen, so delivering twice is harmless; skipping a delivery is what must never happen.
import type { Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { Logger } from '../config/logger';
import { orderWorkflowId, paymentEventSignal, type GatewayName, type PaymentEvent } from '../contracts/order.contract';
import type { VerifiedWebhook, WebhookVerifier } from '../gateways/gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../gateways/gateway-errors';
import type { Pool } from '../db/pool';
import {
  FINAL_WEBHOOK_OUTCOMES,
  recordWebhookDeliveryFailure,
  recordWebhookOutcome,
  storeWebhookEvent,
  type StoredWebhookEvent,
} from '../db/webhook-events.repo';
import { ORDER_ID_PATTERN } from './checkout.schema';
import { describeError } from './error-handler';
import { databaseUnavailable, invalidPayload, invalidSignature, temporalUnavailable, unknownGateway } from './errors';
import { TEMPORAL_SIGNAL_TIMEOUT_MS, withTemporalDeadline } from './temporal-calls';
import { isTemporalUnavailableError, isWorkflowNotFoundError } from './temporal-errors';

/** Headers never stored in full whatever the gateway: they authenticate someone. */
const ALWAYS_SENSITIVE_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];
const FINGERPRINT_HEX_CHARS = 12;

export interface WebhookDeps {
  pool: Pool;
  temporal: Client;
  webhookVerifiers: Partial<Record<GatewayName, WebhookVerifier>>;
  logger: Logger;
}

export interface IncomingWebhook {
  gateway: GatewayName;
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

export type WebhookReceipt = { received: true; duplicate?: true };

export async function receiveWebhook(deps: WebhookDeps, incoming: IncomingWebhook): Promise<WebhookReceipt> {
  const verifier = deps.webhookVerifiers[incoming.gateway];
  if (!verifier) throw unknownGateway();

  const webhook = verifyWebhook(verifier, incoming);
  const outcome = await recordAndDeliverPaymentEvent(deps, {
    gateway: incoming.gateway,
    eventId: webhook.eventId,
    eventType: webhook.eventType,
    orderId: webhook.orderId,
    rawBody: incoming.rawBody.toString('utf8'),
    headers: storableHeaders(incoming.headers, verifier.sensitiveHeaders),
    paymentEvent: webhook.paymentEvent,
  });
  return outcome === 'duplicate' ? { received: true, duplicate: true } : { received: true };
}

/** A gateway's report after its authenticity was checked as far as the gateway allows (signed or a hint). */
export interface PaymentEventReport {
  gateway: GatewayName;
  eventId: string;
  eventType: string;
  /** Absent when the report names no order of ours (still stored, left to reconciliation). */
  orderId?: string;
  /** What is stored in the audit log: the body, or the query string of a redirect. */
  rawBody: string;
  /** Already reduced by storableHeaders. */
  headers: Record<string, string | string[]>;
  /** Absent for reports that do not move an order. */
  paymentEvent?: PaymentEvent;
}

export type PaymentEventOutcome = 'duplicate' | 'ignored' | 'order_not_found' | 'delivered';

/**
 * The one way a gateway's report reaches an order, for webhooks and browser callbacks alike: stored in
 * webhook_events first (unique on gateway + event ID, so a repeat is only acknowledged), then signalled to the
 * order's workflow. Throws databaseUnavailable when it could not be stored and temporalUnavailable when it was
 * stored but not delivered (the row stays `received`, so a repeat delivers it).
 */
export async function recordAndDeliverPaymentEvent(
  deps: Pick<WebhookDeps, 'pool' | 'temporal' | 'logger'>,
  report: PaymentEventReport,
): Promise<PaymentEventOutcome> {
  const logger = deps.logger.child({ gateway: report.gateway, eventId: report.eventId, orderId: report.orderId });
  const stored = await storeDurably(deps.pool, report);
  if (FINAL_WEBHOOK_OUTCOMES.includes(stored.outcome)) {
    logger.info({ outcome: stored.outcome }, 'duplicate payment event acknowledged');
    return 'duplicate';
  }

  if (!report.paymentEvent) {
    await recordWebhookOutcome(deps.pool, stored.id, 'ignored', { attemptedDelivery: false });
    logger.info({ eventType: report.eventType }, 'payment event ignored: it does not move orders');
    return 'ignored';
  }
  if (!report.orderId || !ORDER_ID_PATTERN.test(report.orderId)) {
    await recordWebhookOutcome(deps.pool, stored.id, 'order_not_found', { attemptedDelivery: false });
    logger.warn('payment event names no order of ours; left to reconciliation');
    return 'order_not_found';
  }

  return deliverToWorkflow(deps, stored, report.orderId, report.paymentEvent, logger);
}

function verifyWebhook(verifier: WebhookVerifier, { rawBody, headers }: IncomingWebhook): VerifiedWebhook {
  try {
    return verifier.verify(rawBody, headers);
  } catch (error) {
    if (error instanceof WebhookSignatureError) throw invalidSignature();
    if (error instanceof WebhookPayloadError) throw invalidPayload();
    throw error;
  }
}

/** Any storage failure is a 503: the gateway keeps the event and tries again later. */
async function storeDurably(pool: Pool, report: PaymentEventReport): Promise<StoredWebhookEvent> {
  try {
    return await storeWebhookEvent(pool, {
      gateway: report.gateway,
      eventId: report.eventId,
      eventType: report.eventType,
      orderId: report.orderId ?? null,
      rawBody: report.rawBody,
      headers: report.headers,
    });
  } catch (error) {
    throw Object.assign(databaseUnavailable(), { cause: error });
  }
}

async function deliverToWorkflow(
  { pool, temporal }: Pick<WebhookDeps, 'pool' | 'temporal'>,
  stored: StoredWebhookEvent,
  orderId: string,
  paymentEvent: PaymentEvent,
  logger: Logger,
): Promise<PaymentEventOutcome> {
  try {
    await withTemporalDeadline(temporal, TEMPORAL_SIGNAL_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(orderWorkflowId(orderId)).signal(paymentEventSignal, paymentEvent),
    );
  } catch (error) {
    if (isWorkflowNotFoundError(error)) {
      await recordWebhookOutcome(pool, stored.id, 'order_not_found', { attemptedDelivery: true });
      logger.warn('no open workflow for the payment event; left to reconciliation');
      return 'order_not_found';
    }
    if (isTemporalUnavailableError(error)) {
      await recordWebhookDeliveryFailure(pool, stored.id, { outcome: 'received', error: 'temporal_unavailable' });
      throw Object.assign(temporalUnavailable(), { cause: error });
    }
    await recordWebhookDeliveryFailure(pool, stored.id, { outcome: 'failed', error: 'signal_failed' }).catch(
      (recordError: unknown) => logger.error({ err: describeError(recordError) }, 'delivery failure not recorded'),
    );
    throw error;
  }
  await recordWebhookOutcome(pool, stored.id, 'delivered', { attemptedDelivery: true });
  logger.info({ kind: paymentEvent.kind, verified: paymentEvent.verified }, 'payment event delivered');
  return 'delivered';
}

/**
 * Headers as stored for the audit log: the gateway's signature headers and credentials are reduced to a
 * short SHA-256 fingerprint, enough to correlate two deliveries and useless for forging a third.
 */
export function storableHeaders(
  headers: Record<string, string | string[] | undefined>,
  sensitiveHeaders: readonly string[],
): Record<string, string | string[]> {
  const sensitive = new Set([...ALWAYS_SENSITIVE_HEADERS, ...sensitiveHeaders].map((name) => name.toLowerCase()));
  const stored: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    stored[key] = sensitive.has(key) ? fingerprint(Array.isArray(value) ? value.join(',') : value) : value;
  }
  return stored;
}

function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, FINGERPRINT_HEX_CHARS)}`;
}
