// A payer's browser asks how its order stands, holding only the order's client secret. A wrong secret and a missing
// order get the same 404, so the answer says nothing about which order IDs exist.
import { findPublicOrderStatus } from '../../db/orders/order-status.repo';
import type { Pool } from '../../db/pool';
import type { ClientSecrets } from '../auth/client-secret';
import { ApiError } from '../http/errors';
import type { PublicOrderStatusBody } from './order-status.schema';

export const orderStatusNotFound = () =>
  new ApiError(404, 'order_not_found', 'no order with this ID and client secret');

export async function getOrderStatus(
  deps: { pool: Pool; clientSecrets: ClientSecrets },
  request: { orderId: string; clientSecret: string | undefined },
): Promise<PublicOrderStatusBody> {
  // Checked before the database is asked, so both failures take the same path.
  if (request.clientSecret === undefined || !deps.clientSecrets.verify(request.orderId, request.clientSecret)) {
    throw orderStatusNotFound();
  }
  const order = await findPublicOrderStatus(deps.pool, request.orderId);
  if (!order) throw orderStatusNotFound();
  return {
    orderId: order.orderId,
    status: order.status as PublicOrderStatusBody['status'],
    amount: order.amountMinor,
    currency: order.currency,
    expiresAt: order.expiresAt,
  };
}
