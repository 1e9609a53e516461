// The merchant event activities as the delivery and sweep workflows see them (workflows import these as types only).
import type { MerchantEventSweepInput } from '../../contracts/merchant-events.contract';

export interface ListPendingDeliveriesInput {
  endpointId: string;
  orderId: string;
}
export interface ListPendingDeliveriesResult {
  endpointEnabled: boolean;
  /** In sequence order. */
  eventIds: string[];
}

export interface DeliverMerchantEventInput {
  eventId: string;
  endpointId: string;
}
/**
 * - delivered: this attempt got a 2xx.
 * - not_pending: already delivered, failed or cancelled (a retry after a crash, or an operator's change): not sent.
 * - endpoint_disabled: the endpoint is disabled (by an operator, or just now because it answered 410).
 */
export type DeliverMerchantEventResult = { outcome: 'delivered' | 'not_pending' | 'endpoint_disabled' };

export interface GiveUpDeliveryInput {
  eventId: string;
  endpointId: string;
  reason: string;
}

export interface SweepResult {
  started: number;
  alreadyRunning: number;
}

export interface MerchantEventActivities {
  listPendingMerchantDeliveries(input: ListPendingDeliveriesInput): Promise<ListPendingDeliveriesResult>;
  deliverMerchantEvent(input: DeliverMerchantEventInput): Promise<DeliverMerchantEventResult>;
  giveUpMerchantDelivery(input: GiveUpDeliveryInput): Promise<void>;
  sweepMerchantDeliveries(input: MerchantEventSweepInput): Promise<SweepResult>;
}
