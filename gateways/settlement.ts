// Settlement data: what a gateway says was paid and refunded in a time window. Gateways with an API for it
// implement SettlementSource; the others (eSewa, Khalti) are reconciled from the merchant's uploaded CSV report,
// whose lines become the same rows.
import type { GatewayName } from '../contracts/order.contract';

export const SETTLEMENT_ROW_KINDS = ['payment', 'refund'] as const;
export const SETTLEMENT_ROW_STATUSES = ['succeeded', 'failed', 'pending', 'cancelled'] as const;

export interface SettlementRow {
  kind: (typeof SETTLEMENT_ROW_KINDS)[number];
  /** The gateway's ID of this payment or refund: unique per kind within a report. */
  transactionId: string;
  /** The payment (what a refund is made against); for a payment, its own reference. */
  paymentId: string;
  /** Our order ID, when the gateway carries it (merchant reference / metadata). */
  orderId?: string;
  status: (typeof SETTLEMENT_ROW_STATUSES)[number];
  amountMinor: number;
  currency: string;
  occurredAt: Date;
}

export interface SettlementWindow {
  start: Date;
  end: Date;
}

export interface SettlementSource {
  readonly gateway: GatewayName;
  /** Every payment and refund created in [start, end), streamed page by page. */
  listSettlement(window: SettlementWindow): AsyncIterable<SettlementRow>;
}
