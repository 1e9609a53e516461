// POST /webhooks/:gateway as a story: check the signature, store the event durably, then hand it to the
// order's workflow. The gateway gets a 2xx only once the event is stored, and a 503 whenever a retry could
// still change the outcome, so a redelivery finishes what this delivery could not. Concurrent deliveries of one
// event are serialised by a claim on its row (deliver-webhook-event.ts), and the workflow ignores an event ID it has
// seen, so delivering twice is harmless; skipping a delivery is what must never happen.
import type { Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { Logger } from '../config/logger';
import type { GatewayName } from '../contracts/order.contract';
import type { VerifiedWebhook, WebhookVerifier } from '../gateways/gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../gateways/gateway-errors';
import type { Pool } from '../db/pool';
import {
  FINAL_WEBHOOK_OUTCOMES,
  recordWebhookOutcome,
  storeWebhookEvent,
  type StoredWebhookEvent,
} from '../db/webhook-events.repo';
import { ORDER_ID_PATTERN } from './checkout.schema';
import { deliverStoredPaymentEvent } from './deliver-webhook-event';
import {
  databaseUnavailable,
  invalidPayload,
  invalidSignature,
  unknownGateway,
  webhookDeliveryInProgress,
} from './errors';

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
  const logger = deps.logger.child({ gateway: incoming.gateway, eventId: webhook.eventId, orderId: webhook.orderId });
  const stored = await storeDurably(deps.pool, verifier, incoming, webhook);
  if (FINAL_WEBHOOK_OUTCOMES.includes(stored.outcome)) {
    logger.info({ outcome: stored.outcome }, 'duplicate webhook acknowledged');
    return { received: true, duplicate: true };
  }

  if (!webhook.paymentEvent) {
    await recordWebhookOutcome(deps.pool, stored.id, 'ignored', { attemptedDelivery: false });
    logger.info({ eventType: webhook.eventType }, 'webhook ignored: it does not move orders');
    return { received: true };
  }
  if (!webhook.orderId || !ORDER_ID_PATTERN.test(webhook.orderId)) {
    await recordWebhookOutcome(deps.pool, stored.id, 'order_not_found', { attemptedDelivery: false });
    logger.warn('webhook names no order of ours; left to reconciliation');
    return { received: true };
  }

  const delivery = await deliverStoredPaymentEvent(
    deps,
    { id: stored.id, orderId: webhook.orderId, paymentEvent: webhook.paymentEvent },
    logger,
  );
  if (delivery.result === 'already_processed') return { received: true, duplicate: true };
  // A concurrent delivery holds the event; its outcome is unknown yet, so the gateway must come back.
  if (delivery.result === 'in_progress') throw webhookDeliveryInProgress();
  return { received: true };
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
async function storeDurably(
  pool: Pool,
  verifier: WebhookVerifier,
  incoming: IncomingWebhook,
  webhook: VerifiedWebhook,
): Promise<StoredWebhookEvent> {
  try {
    return await storeWebhookEvent(pool, {
      gateway: incoming.gateway,
      eventId: webhook.eventId,
      eventType: webhook.eventType,
      orderId: webhook.orderId ?? null,
      rawBody: incoming.rawBody.toString('utf8'),
      headers: storableHeaders(incoming.headers, verifier.sensitiveHeaders),
      paymentEvent: webhook.paymentEvent ?? null,
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
