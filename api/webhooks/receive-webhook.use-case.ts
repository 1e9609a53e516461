// POST /webhooks/:gateway as a story: check the signature, store the event durably, answer, then hand it to the
// order's workflow. The gateway gets a 2xx as soon as the event is stored (a transactional outbox: the row is the
// promise to deliver) and a 503 only when it could not be stored, since then nothing but the gateway's retry can
// bring it back. Delivery runs after the answer on the API's bounded delivery queue (webhook-delivery-queue.ts), and
// whatever that does not finish (a full queue, Temporal down, the process killed) the sweeper of any API replica
// delivers later (webhook-sweeper.ts). Every delivery claims the row first (deliver-webhook-event.ts), and the
// workflow ignores an event ID it has seen, so delivering twice is harmless; skipping a delivery is what must never
// happen.
import { createHash } from 'node:crypto';
import type { Logger } from '../../config/logger';
import type { ApiMetrics } from '../../config/metrics';
import type { GatewayName, PaymentEvent } from '../../contracts/order.contract';
import type { VerifiedWebhook, WebhookVerifier } from '../../gateways/gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../../gateways/gateway-errors';
import { findUnstorableText, STORABLE_TEXT_MESSAGE } from '../../gateways/storable-text.schema';
import type { Pool } from '../../db/pool';
import {
  FINAL_WEBHOOK_OUTCOMES,
  storeWebhookEvent,
  type StoredWebhookEvent,
} from '../../db/webhooks/webhook-events.repo';
import {
  deliverStoredPaymentEvent,
  planStoredEvent,
  type StoredPaymentEvent,
  type WebhookDeliveryDeps,
} from './deliver-webhook-event';
import type { WebhookDeliveryQueue } from './webhook-delivery-queue';
import {
  databaseUnavailable,
  invalidPayload,
  invalidSignature,
  unknownGateway,
  validationFailed,
} from '../http/errors';

/** Headers never stored in full whatever the gateway: they authenticate someone. */
const ALWAYS_SENSITIVE_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];
const FINGERPRINT_HEX_CHARS = 12;

export interface WebhookDeps {
  pool: Pool;
  webhookVerifiers: Partial<Record<GatewayName, WebhookVerifier>>;
  logger: Logger;
  metrics: Pick<ApiMetrics, 'webhookSignatureFailed' | 'webhookDuplicate'>;
  webhookDeliveries: Pick<WebhookDeliveryQueue, 'offer' | 'noteIntake'>;
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
  // Counted once signed, so forged requests cannot hold the deliveries back.
  deps.webhookDeliveries.noteIntake();
  // Signed is not storable: a NUL in an event ID or a lone surrogate in metadata would fail the insert with a 503,
  // which the gateway retries for days. A 400 naming the field ends it.
  const unstorable = findUnstorableText(webhook);
  if (unstorable) throw validationFailed([{ field: unstorable.join('.'), message: STORABLE_TEXT_MESSAGE }]);
  const recorded = await recordPaymentEvent(deps, {
    gateway: incoming.gateway,
    eventId: webhook.eventId,
    eventType: webhook.eventType,
    orderId: webhook.orderId,
    rawBody: incoming.rawBody.toString('utf8'),
    headers: storableHeaders(incoming.headers, verifier.sensitiveHeaders),
    paymentEvent: webhook.paymentEvent,
  });
  if (recorded.outcome === 'duplicate') return { received: true, duplicate: true };
  // Stored, so the 2xx is honest whatever happens next: a full queue leaves the row to the sweeper.
  if (recorded.outcome === 'to_deliver') {
    const logger = deps.logger.child({ gateway: incoming.gateway, eventId: webhook.eventId, orderId: webhook.orderId });
    deps.webhookDeliveries.offer({ ...recorded.event, gateway: incoming.gateway, logger });
  }
  return { received: true };
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

/** What storing a report left to do: nothing (a duplicate, or closed at once), or a delivery. */
export type RecordedPaymentEvent =
  { outcome: 'duplicate' | 'ignored' | 'order_not_found' } | { outcome: 'to_deliver'; event: StoredPaymentEvent };

/**
 * Stores a gateway's report in webhook_events (unique on gateway + event ID, so a repeat of a finished event is only
 * acknowledged) and closes it at once when it moves no order or names none of ours. A stored event that is still
 * waiting (new, a redelivery of one not yet delivered, or one in the dead-letter queue) is to be delivered. Throws
 * databaseUnavailable when it could not be stored.
 */
export async function recordPaymentEvent(
  deps: Pick<WebhookDeps, 'pool' | 'logger'> & { metrics: Pick<ApiMetrics, 'webhookDuplicate'> },
  report: PaymentEventReport,
): Promise<RecordedPaymentEvent> {
  const logger = deps.logger.child({ gateway: report.gateway, eventId: report.eventId, orderId: report.orderId });
  const stored = await storeDurably(deps.pool, report);
  if (FINAL_WEBHOOK_OUTCOMES.includes(stored.outcome)) {
    deps.metrics.webhookDuplicate(report.gateway);
    logger.info({ outcome: stored.outcome }, 'duplicate payment event acknowledged');
    return { outcome: 'duplicate' };
  }
  const plan = await planStoredEvent(deps.pool, { ...report, id: stored.id }, logger);
  return plan.outcome === 'deliver' ? { outcome: 'to_deliver', event: plan.event } : plan;
}

/**
 * Stores and delivers while the caller waits: the wallets' browser callbacks, whose payer is shown the outcome. Throws
 * databaseUnavailable when the report could not be stored and temporalUnavailable when it was stored but not
 * delivered (the row stays `received`, and the sweeper delivers it).
 */
export async function recordAndDeliverPaymentEvent(
  deps: WebhookDeliveryDeps & Pick<WebhookDeps, 'logger'> & { metrics: Pick<ApiMetrics, 'webhookDuplicate'> },
  report: PaymentEventReport,
): Promise<PaymentEventOutcome> {
  const recorded = await recordPaymentEvent(deps, report);
  if (recorded.outcome !== 'to_deliver') return recorded.outcome;
  const logger = deps.logger.child({ gateway: report.gateway, eventId: report.eventId, orderId: report.orderId });
  const delivery = await deliverStoredPaymentEvent(deps, recorded.event, logger);
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
