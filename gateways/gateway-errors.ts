// Errors adapters throw, so activities can tell a business refusal (never retried) from a transient fault.

/** The gateway refused the request for a reason retrying cannot fix (bad request, unknown intent, auth). */
export class GatewayRejectedError extends Error {
  override readonly name = 'GatewayRejectedError';
  constructor(
    message: string,
    readonly code: string,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

/** Network failure, timeout, 5xx or 429: safe to retry, after retryAfterMs when the gateway said so. */
export class GatewayUnavailableError extends Error {
  override readonly name = 'GatewayUnavailableError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

/** A webhook whose signature is missing, forged or too old. */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
}

/** A correctly signed webhook whose payload does not have the shape we expect. */
export class WebhookPayloadError extends Error {
  override readonly name = 'WebhookPayloadError';
}
