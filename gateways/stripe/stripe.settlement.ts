// Stripe's settlement data through the official SDK's list endpoints (payment intents and refunds created in the
// window), walked with the SDK's auto-pagination, so a window of any size streams page by page.
import type { SettlementRow, SettlementSource, SettlementWindow } from '../settlement';
import { toGatewayError } from './stripe.errors';
import { stripePaymentIntentSchema, stripeRefundSchema } from './stripe.schemas';
import { createStripeClient, type StripeGatewayOptions } from './stripe.gateway';

const PAGE_SIZE = 100;

export function createStripeSettlementSource(
  options: Pick<StripeGatewayOptions, 'apiBase' | 'secretKey' | 'timeoutMs'>,
): SettlementSource {
  const stripe = createStripeClient(options.apiBase, options.secretKey, options.timeoutMs);

  async function* listSettlement(window: SettlementWindow): AsyncIterable<SettlementRow> {
    const created = { gte: Math.floor(window.start.getTime() / 1000), lt: Math.floor(window.end.getTime() / 1000) };
    try {
      for await (const raw of stripe.paymentIntents.list({ created, limit: PAGE_SIZE })) {
        const intent = stripePaymentIntentSchema.parse(raw);
        yield {
          kind: 'payment',
          transactionId: intent.id,
          paymentId: intent.id,
          ...(intent.metadata.orderId ? { orderId: intent.metadata.orderId } : {}),
          status: paymentStatusOf(intent.status, Boolean(intent.last_payment_error)),
          amountMinor: intent.status === 'succeeded' ? intent.amount_received : intent.amount,
          currency: intent.currency.toUpperCase(),
          occurredAt: createdAt(raw),
        };
      }
      for await (const raw of stripe.refunds.list({ created, limit: PAGE_SIZE })) {
        const refund = stripeRefundSchema.parse(raw);
        if (!refund.payment_intent) continue;
        yield {
          kind: 'refund',
          transactionId: refund.id,
          paymentId: refund.payment_intent,
          ...(refund.metadata.orderId ? { orderId: refund.metadata.orderId } : {}),
          status: refundStatusOf(refund.status),
          amountMinor: refund.amount,
          currency: refund.currency.toUpperCase(),
          occurredAt: createdAt(raw),
        };
      }
    } catch (error) {
      throw toGatewayError(error, 'listSettlement');
    }
  }

  return { gateway: 'stripe', listSettlement };
}

function createdAt(raw: { created?: number }): Date {
  return new Date((raw.created ?? 0) * 1000);
}

function paymentStatusOf(status: string, declined: boolean): SettlementRow['status'] {
  if (status === 'succeeded') return 'succeeded';
  if (status === 'canceled') return 'cancelled';
  return declined ? 'failed' : 'pending';
}

function refundStatusOf(status: string | null | undefined): SettlementRow['status'] {
  if (status === 'succeeded') return 'succeeded';
  if (status === 'failed' || status === 'canceled') return 'failed';
  return 'pending';
}
