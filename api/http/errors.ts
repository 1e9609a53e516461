// Every error the API answers with, by stable code. The error middleware turns an ApiError into
// `{"error":{"code","message","details"?}}`; anything that is not an ApiError becomes a 500 that names
// only the request ID, so internal messages never reach a caller.

export interface FieldProblem {
  /** Dotted path into the body (`customer.email`), a header name, or a path parameter. */
  field: string;
  message: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, such as Retry-After on a 503. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const validationFailed = (details: FieldProblem[]) =>
  new ApiError(400, 'validation_failed', 'the request is invalid', details);

export const malformedJson = () => new ApiError(400, 'malformed_json', 'the request body is not valid JSON');

export const unsupportedMediaType = (expected: string) =>
  new ApiError(415, 'unsupported_media_type', `the request body must be ${expected}`);

export const payloadTooLarge = () => new ApiError(413, 'payload_too_large', 'the request body is too large');

export const badRequest = () => new ApiError(400, 'bad_request', 'the request could not be understood');

export const routeNotFound = () => new ApiError(404, 'not_found', 'no such resource');

export const methodNotAllowed = (allowed: readonly string[]) =>
  new ApiError(
    405,
    'method_not_allowed',
    'this method is not allowed on this resource',
    { allowed },
    {
      Allow: allowed.join(', '),
    },
  );

export const orderNotFound = (orderId: string) =>
  new ApiError(404, 'order_not_found', 'no order with this ID', { orderId });

export const idempotencyConflict = () =>
  new ApiError(
    409,
    'idempotency_conflict',
    'this idempotency key or order ID was already used with a different request',
  );

export const gatewayRejected = (details: { orderId: string; status: string; failureReason: string | null }) =>
  new ApiError(502, 'gateway_rejected', 'the payment gateway did not create the payment', details);

export const orderClosed = (orderId: string) =>
  new ApiError(409, 'order_closed', 'the order is closed and accepts no more requests', { orderId });

export const invalidTransition = (orderId: string, status?: string) =>
  new ApiError(409, 'invalid_transition', 'the order cannot do this in its current status', {
    orderId,
    ...(status ? { status } : {}),
  });

/** The merchant answered a fulfilment differently before, or its timeout passed (and the payment is being refunded). */
export const fulfilmentConflict = (orderId: string, fulfilment: string) =>
  new ApiError(409, 'fulfilment_conflict', `the order's fulfilment is already ${fulfilment}; it cannot change`, {
    orderId,
    fulfilment,
  });

export const fulfilmentNotRequested = (orderId: string) =>
  new ApiError(409, 'fulfilment_not_requested', 'the order did not ask for fulfilment confirmation', { orderId });

/** The answer reached the order and is being recorded; the same request later returns its result. */
export const fulfilmentPending = (orderId: string, retryAfterSeconds: number) =>
  new ApiError(
    503,
    'fulfilment_pending',
    'the fulfilment answer is still being recorded; repeat the same request to get the result',
    { orderId },
    { 'Retry-After': String(retryAfterSeconds) },
  );

/** The payer chose a gateway the order does not offer (POST /orders `gateways`). */
export const gatewayNotAllowed = (orderId: string) =>
  new ApiError(400, 'gateway_not_allowed', 'the order cannot be paid with this gateway', { orderId });

export const unknownGateway = () => new ApiError(404, 'unknown_gateway', 'no such payment gateway');

export const invalidSignature = () => new ApiError(401, 'invalid_signature', 'the webhook signature is not valid');

/** A wallet callback that fails verification or does not match its order's gateway and current intent. */
export const callbackRefused = () =>
  new ApiError(400, 'callback_refused', 'the payment callback could not be verified; nothing was changed');

export const invalidPayload = () => new ApiError(400, 'invalid_payload', 'the webhook payload is not understood');

export const temporalUnavailable = () =>
  new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; try again later', undefined, {
    'Retry-After': '5',
  });

export const databaseUnavailable = () =>
  new ApiError(503, 'database_unavailable', 'the database is unavailable; try again later', undefined, {
    'Retry-After': '5',
  });

/** The order exists and carries on; the same request later returns its result. */
export const checkoutPending = (orderId: string, retryAfterSeconds: number) =>
  new ApiError(
    503,
    'checkout_pending',
    'the payment is still being prepared; repeat the same request to get the result',
    { orderId },
    { 'Retry-After': String(retryAfterSeconds) },
  );

export const cancelPending = (orderId: string, retryAfterSeconds: number) =>
  new ApiError(
    503,
    'cancel_pending',
    'the cancellation is still in progress; repeat the request or read the order',
    { orderId },
    { 'Retry-After': String(retryAfterSeconds) },
  );

export const notReady = (checks: Record<string, string>) =>
  new ApiError(503, 'not_ready', 'a dependency is unavailable', { checks });

export const refundExceedsRefundable = (orderId: string, refundableAmount: number) =>
  new ApiError(422, 'refund_exceeds_refundable', 'the refund is larger than what is left to refund on this order', {
    orderId,
    refundableAmount,
  });

/** The gateway declined the refund; the order is flagged for attention. */
export const refundFailed = (orderId: string, refundId: string) =>
  new ApiError(502, 'refund_failed', 'the payment gateway declined the refund; the order needs attention', {
    orderId,
    refundId,
  });

/** The refund is accepted and carries on; the same request (same Idempotency-Key) later returns its result. */
export const refundPending = (orderId: string, retryAfterSeconds: number) =>
  new ApiError(
    503,
    'refund_pending',
    'the refund is still in progress; repeat the same request to get the result',
    { orderId },
    { 'Retry-After': String(retryAfterSeconds) },
  );

export const webhookEventNotFound = (id: number) =>
  new ApiError(404, 'webhook_event_not_found', 'no stored webhook event with this ID', { id });

export const webhookAlreadyProcessed = (id: number, outcome: string) =>
  new ApiError(409, 'webhook_already_processed', 'this webhook event needs no retry: it was already processed', {
    id,
    outcome,
  });

export const webhookRetryInProgress = (id: number) =>
  new ApiError(409, 'webhook_retry_in_progress', 'another delivery of this webhook event is in progress', { id });

/** Stored without the payment event it carries (it does not move an order, or predates the dead-letter queue). */
export const webhookNotRetryable = (id: number) =>
  new ApiError(409, 'webhook_not_retryable', 'this webhook event carries no payment event to deliver', { id });
