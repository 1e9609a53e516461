// POST /admin/webhooks/:id/retry: redeliver one event from the dead-letter queue. The event's signature was
// checked when it was stored and cannot be checked again (it has expired, and only its fingerprint is kept), so
// the retry delivers the payment event derived then, through the same claimed delivery as the webhook intake.
import type { Logger } from '../../config/logger';
import {
  FINAL_WEBHOOK_OUTCOMES,
  findWebhookDelivery,
  findWebhookEventSummary,
} from '../../db/webhooks/webhook-events.repo';
import type { WebhookRetryResponseBody } from './admin.schema';
import { deliverStoredPaymentEvent, type WebhookDeliveryDeps } from '../webhooks/deliver-webhook-event';
import {
  webhookAlreadyProcessed,
  webhookEventNotFound,
  webhookNotRetryable,
  webhookRetryInProgress,
} from '../http/errors';

export async function retryWebhookEvent(
  deps: WebhookDeliveryDeps & { logger: Logger },
  id: number,
): Promise<WebhookRetryResponseBody> {
  const event = await findWebhookDelivery(deps.pool, id);
  if (!event) throw webhookEventNotFound(id);
  if (FINAL_WEBHOOK_OUTCOMES.includes(event.outcome)) throw webhookAlreadyProcessed(id, event.outcome);
  if (!event.paymentEvent || !event.orderId) throw webhookNotRetryable(id);

  const logger = deps.logger.child({ gateway: event.gateway, eventId: event.eventId, orderId: event.orderId });
  const delivery = await deliverStoredPaymentEvent(
    deps,
    { id, orderId: event.orderId, paymentEvent: event.paymentEvent },
    logger,
  );
  if (delivery.result === 'already_processed') throw webhookAlreadyProcessed(id, delivery.outcome);
  if (delivery.result === 'in_progress') throw webhookRetryInProgress(id);

  const updated = await findWebhookEventSummary(deps.pool, id);
  if (!updated) throw webhookEventNotFound(id);
  return { result: delivery.result, event: updated };
}
