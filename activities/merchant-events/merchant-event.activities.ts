// Delivering merchant events: one signed HTTP POST per attempt, logged per attempt, idempotent by event ID (a retry
// after a crash finds a delivered row and sends nothing; one that crashed mid-request sends the same event ID again,
// which receivers de-duplicate). Temporal retries a rejected attempt with the workflow's backoff.
import { ApplicationFailure } from '@temporalio/common';
import { Webhook } from 'standardwebhooks';
import type { Logger } from '../../config/logger';
import type { MerchantEventMetrics } from '../../config/metrics';
import type { CodecKey } from '../../config/payload-codec';
import { openSecret } from '../../config/secret-sealing';
import { CONFIGURED_MERCHANT_ENDPOINT_ID, MERCHANT_EVENT_ERROR_TYPES } from '../../contracts/merchant-events.contract';
import {
  findDeliveryToMake,
  listPendingEventIds,
  markDeliveryFailed,
  recordAttempt,
  type AttemptOutcome,
  type DeliveryToMake,
} from '../../db/merchant-events/merchant-deliveries.repo';
import {
  disableGoneEndpoint,
  findEndpoint,
  type MerchantEndpoint,
} from '../../db/merchant-events/merchant-endpoints.repo';
import type { Pool } from '../../db/pool';
import { temporalBindings } from '../activity-context';
import type { MerchantEventDispatcher } from './merchant-event-dispatcher';
import type { MerchantEventActivities } from './merchant-event-activity.types';

export interface MerchantEventActivityDeps {
  pool: Pool;
  logger: Logger;
  metrics: MerchantEventMetrics;
  /** MERCHANT_WEBHOOK_SECRET: the configured endpoint's secrets (every one signs, for rotation). */
  configuredSecrets: readonly string[];
  /** TEMPORAL_CODEC_KEYS: open the sealed secrets of endpoints added through the admin API. */
  codecKeys: readonly CodecKey[] | undefined;
  /** A 2xx must come within this long (MERCHANT_WEBHOOK_TIMEOUT). */
  requestTimeoutMs: number;
  dispatcher: MerchantEventDispatcher;
  clock?: () => Date;
}

/** The body a merchant receives. Built the same way on every attempt, so its signature input only differs by time. */
export function merchantEventBody(delivery: DeliveryToMake): string {
  const { event } = delivery;
  const data = delivery.customer === undefined ? event.data : { ...event.data, customer: delivery.customer };
  return JSON.stringify({
    id: event.eventId,
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    sequence: event.sequence,
    data,
  });
}

/** Standard Webhooks headers, signed with every active secret (space-separated `v1,` signatures). */
export function signedHeaders(
  secrets: readonly string[],
  eventId: string,
  at: Date,
  body: string,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(eventId, at, body)).join(' '),
  };
}

/** The secrets an endpoint signs with now: the configured ones, or its sealed ones that have not expired. */
function activeSecrets(deps: MerchantEventActivityDeps, endpoint: MerchantEndpoint, now: Date): string[] {
  if (endpoint.source === 'config' && endpoint.endpointId === CONFIGURED_MERCHANT_ENDPOINT_ID) {
    return [...deps.configuredSecrets];
  }
  return endpoint.secrets
    .filter((secret) => secret.expiresAt === null || Date.parse(secret.expiresAt) > now.getTime())
    .map((secret) => openSecret(deps.codecKeys, secret.sealed, endpoint.endpointId));
}

interface Answer {
  outcome: AttemptOutcome;
  statusCode: number | null;
  error: string | null;
}

async function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Answer> {
  try {
    // Redirects are not followed: the signature was made for this URL's owner, and a 3xx is not a 2xx.
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The body is not kept: it is the merchant's, and may be large. Reading it frees the connection.
    await response.arrayBuffer().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) {
      return { outcome: 'delivered', statusCode: response.status, error: null };
    }
    if (response.status === 410) return { outcome: 'gone', statusCode: 410, error: 'endpoint answered 410 Gone' };
    return { outcome: 'rejected', statusCode: response.status, error: `endpoint answered ${response.status}` };
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      return { outcome: 'timeout', statusCode: null, error: `no answer within ${timeoutMs} ms` };
    }
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const code = (cause as { code?: unknown }).code;
    return {
      outcome: 'error',
      statusCode: null,
      error: typeof code === 'string' ? `connection failed: ${code}` : 'connection failed',
    };
  }
}

export function createMerchantEventActivities(deps: MerchantEventActivityDeps): MerchantEventActivities {
  const { pool, metrics } = deps;
  const clock = deps.clock ?? (() => new Date());

  return {
    async listPendingMerchantDeliveries({ endpointId, orderId }) {
      const endpoint = await findEndpoint(pool, endpointId);
      if (!endpoint?.enabled) return { endpointEnabled: false, eventIds: [] };
      return { endpointEnabled: true, eventIds: await listPendingEventIds(pool, endpointId, orderId) };
    },

    async deliverMerchantEvent({ eventId, endpointId }) {
      const log = deps.logger.child({ activity: 'deliverMerchantEvent', eventId, endpointId, ...temporalBindings() });
      const endpoint = await findEndpoint(pool, endpointId);
      if (!endpoint?.enabled) return { outcome: 'endpoint_disabled' };
      const delivery = await findDeliveryToMake(pool, eventId, endpointId, endpoint.includeCustomer);
      if (!delivery) throw new Error(`delivery of ${eventId} to ${endpointId} is not recorded`);
      if (delivery.state !== 'pending') return { outcome: 'not_pending' };
      const at = clock();
      const secrets = activeSecrets(deps, endpoint, at);
      if (secrets.length === 0) {
        throw ApplicationFailure.create({
          type: MERCHANT_EVENT_ERROR_TYPES.endpointMisconfigured,
          message: `merchant endpoint ${endpointId} has no active signing secret`,
          nonRetryable: true,
        });
      }
      const body = merchantEventBody(delivery);
      const started = performance.now();
      const answer = await post(endpoint.url, signedHeaders(secrets, eventId, at, body), body, deps.requestTimeoutMs);
      const latencyMs = Math.round(performance.now() - started);
      const delivered = await recordAttempt(pool, { eventId, endpointId, attemptedAt: at, latencyMs, ...answer });
      metrics.attempted(answer.outcome, latencyMs / 1000);
      if (answer.outcome === 'delivered') {
        if (delivered) metrics.delivered((clock().getTime() - delivery.event.createdAt.getTime()) / 1000);
        log.info({ orderId: delivery.event.orderId, type: delivery.event.type, latencyMs }, 'merchant event delivered');
        return { outcome: 'delivered' };
      }
      if (answer.outcome === 'gone') {
        await disableGoneEndpoint(pool, endpointId);
        // The URL is not logged: merchants put tokens in them.
        log.warn('merchant endpoint answered 410 Gone: disabled');
        return { outcome: 'endpoint_disabled' };
      }
      log.info({ outcome: answer.outcome, statusCode: answer.statusCode, latencyMs }, 'merchant event not accepted');
      throw ApplicationFailure.create({
        type: MERCHANT_EVENT_ERROR_TYPES.deliveryRejected,
        message: `delivery of ${eventId} to ${endpointId}: ${answer.error ?? answer.outcome}`,
        nonRetryable: false,
      });
    },

    async giveUpMerchantDelivery({ eventId, endpointId, reason }) {
      await markDeliveryFailed(pool, eventId, endpointId, reason);
      metrics.gaveUp();
      deps.logger.warn({ eventId, endpointId, reason }, 'merchant event delivery given up');
    },

    async sweepMerchantDeliveries(input) {
      return deps.dispatcher.sweep(input);
    },
  };
}
