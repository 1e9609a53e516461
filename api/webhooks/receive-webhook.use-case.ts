// POST /webhooks/:gateway as a story: check the signature, store the event durably, then hand it to the order's
// workflow (recordAndDeliverPaymentEvent, which the wallets' browser callbacks share). The gateway gets a 2xx only once the event is stored, and a 503 whenever a retry could
// still change the outcome, so a redelivery finishes what this delivery could not. Concurrent deliveries of one
// event are serialised by a claim on its row (deliver-webhook-event.ts), and the workflow ignores an event ID it has
// seen, so delivering twice is harmless; skipping a delivery is what must never happen.
import type { Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { Logger } from '../../config/logger';
import type { ApiMetrics } from '../../config/metrics';
import { ORDER_ID_PATTERN, type GatewayName, type PaymentEvent } from '../../contracts/order.contract';
import type { VerifiedWebhook, WebhookVerifier } from '../../gateways/gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../../gateways/gateway-errors';
import { findUnstorableText, STORABLE_TEXT_MESSAGE } from '../../gateways/storable-text.schema';
import type { Pool } from '../../db/pool';
import {
  FINAL_WEBHOOK_OUTCOMES,
  recordWebhookOutcome,
  storeWebhookEvent,
  type StoredWebhookEvent,
} from '../../db/webhooks/webhook-events.repo';
import { deliverStoredPaymentEvent } from './deliver-webhook-event';
import {
  databaseUnavailable,
  invalidPayload,
  invalidSignature,
  unknownGateway,
  validationFailed,
  webhookDeliveryInProgress,
} from '../http/errors';

/** Headers never stored in full whatever the gateway: they authenticate someone. */
const ALWAYS_SENSITIVE_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];
const FINGERPRINT_HEX_CHARS = 12;

export interface WebhookDeps {
  pool: Pool;
  temporal: Client;
  webhookVerifiers: Partial<Record<GatewayName, WebhookVerifier>>;
  logger: Logger;
  metrics: Pick<ApiMetrics, 'webhookSignatureFailed' | 'webhookDuplicate'>;
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

  const webhook = verifyWebhook(verifier, incoming, deps.metrics);
  // Signed is not storable: a NUL in an event ID or a lone surrogate in metadata would fail the insert with a 503,
  // which the gateway retries for days. A 400 naming the field ends it.
  const unstorable = findUnstorableText(webhook);
  if (unstorable) throw validationFailed([{ field: unstorable.join('.'), message: STORABLE_TEXT_MESSAGE }]);
  const outcome = await recordAndDeliverPaymentEvent(deps, {
    gateway: incoming.gateway,
    eventId: webhook.eventId,
    eventType: webhook.eventType,
    orderId: webhook.orderId,
    rawBody: incoming.rawBody.toString('utf8'),
    headers: storableHeaders(incoming.headers, verifier.sensitiveHeaders),
    paymentEvent: webhook.paymentEvent,
  });
  // A concurrent delivery holds the event; its outcome is unknown yet, so the gateway must come back.
  if (outcome === 'in_progress') throw webhookDeliveryInProgress();
  return outcome === 'duplicate' ? { received: true, duplicate: true } : { received: true };
}

/** A gateway's report after its authenticity was checked as far as the gateway allows (signed, or a hint). */
export interface PaymentEventReport {
  gateway: GatewayName;
  eventId: string;
  eventType: string;
  /** Absent when the report names no order of ours (still stored, left to reconciliation). */
  orderId?: string;
  /** What the audit log keeps: the webhook body, or the query string of a browser callback. */
  rawBody: string;
  /** Already reduced by storableHeaders. */
  headers: Record<string, string | string[]>;
  /** Absent for reports that do not move an order. */
  paymentEvent?: PaymentEvent;
}

/** duplicate: stored and handled before; in_progress: another delivery of the same event holds its claim. */
export type PaymentEventOutcome = 'duplicate' | 'ignored' | 'order_not_found' | 'delivered' | 'in_progress';

/**
 * The one way a gateway's report reaches an order, for signed webhooks and wallets' browser callbacks alike: stored
 * in webhook_events first (unique on gateway + event ID, so a repeat is only acknowledged), then claimed and
 * signalled to the order's workflow (deliverStoredPaymentEvent). Throws databaseUnavailable when it could not be
 * stored and temporalUnavailable when it was stored but not delivered (the row stays `received`).
 */
export async function recordAndDeliverPaymentEvent(
  deps: Pick<WebhookDeps, 'pool' | 'temporal' | 'logger'> & { metrics: Pick<ApiMetrics, 'webhookDuplicate'> },
  report: PaymentEventReport,
): Promise<PaymentEventOutcome> {
  const logger = deps.logger.child({ gateway: report.gateway, eventId: report.eventId, orderId: report.orderId });
  const stored = await storeDurably(deps.pool, report);
  if (FINAL_WEBHOOK_OUTCOMES.includes(stored.outcome)) {
    deps.metrics.webhookDuplicate(report.gateway);
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

  const delivery = await deliverStoredPaymentEvent(
    deps,
    { id: stored.id, orderId: report.orderId, paymentEvent: report.paymentEvent },
    logger,
  );
  return delivery.result === 'already_processed' ? 'duplicate' : delivery.result;
}

function verifyWebhook(
  verifier: WebhookVerifier,
  { gateway, rawBody, headers }: IncomingWebhook,
  metrics: WebhookDeps['metrics'],
): VerifiedWebhook {
  try {
    return verifier.verify(rawBody, headers);
  } catch (error) {
    if (error instanceof WebhookSignatureError) {
      metrics.webhookSignatureFailed(gateway);
      throw invalidSignature();
    }
    if (error instanceof WebhookPayloadError) throw invalidPayload();
    throw error;
  }
}

/** Any storage failure is a 503: the sender keeps the event and tries again later. */
async function storeDurably(pool: Pool, report: PaymentEventReport): Promise<StoredWebhookEvent> {
  try {
    return await storeWebhookEvent(pool, {
      gateway: report.gateway,
      eventId: report.eventId,
      eventType: report.eventType,
      orderId: report.orderId ?? null,
      rawBody: report.rawBody,
      headers: report.headers,
      paymentEvent: report.paymentEvent ?? null,
    });
  } catch (error) {
    throw Object.assign(databaseUnavailable(), { cause: error });
  }
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
