// Proves how Stripe SDK errors become retryable (GatewayUnavailableError) or final (GatewayRejectedError).
import Stripe from 'stripe';
import { z } from 'zod';
import { retryAfterMs } from '../../gateways/gateway-errors';
import { toGatewayError } from '../../gateways/stripe/stripe.errors';
import { GatewayRejectedError, GatewayUnavailableError } from '../../gateways/gateway-errors';

const { errors } = Stripe;

describe('Stripe error mapping', () => {
  test.each([
    ['a connection failure', new errors.StripeConnectionError({ message: 'ECONNREFUSED' }), undefined],
    ['a 500', new errors.StripeAPIError({ statusCode: 500, type: 'api_error', message: 'boom' }), 500],
    ['a 503', new errors.StripeAPIError({ statusCode: 503, type: 'api_error', message: 'down' }), 503],
    [
      'a 409 lock conflict',
      new errors.StripeAPIError({ statusCode: 409, type: 'idempotency_error', message: 'busy' }),
      409,
    ],
    [
      'a 429',
      new errors.StripeRateLimitError({ statusCode: 429, type: 'invalid_request_error', message: 'slow' }),
      429,
    ],
  ])('when Stripe fails with %s, then the call is retryable', (_name, error, status) => {
    const mapped = toGatewayError(error, 'createIntent');
    expect(mapped).toBeInstanceOf(GatewayUnavailableError);
    expect((mapped as GatewayUnavailableError).httpStatus).toBe(status);
  });

  test('when a 429 carries Retry-After in seconds, then the delay is passed on', () => {
    const error = new errors.StripeRateLimitError({
      statusCode: 429,
      type: 'invalid_request_error',
      message: 'slow down',
      headers: { 'retry-after': '3' },
    });
    expect((toGatewayError(error, 'refund') as GatewayUnavailableError).retryAfterMs).toBe(3_000);
  });

  test('when Retry-After is an HTTP date, then the delay is the time until it', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs('whenever', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  test.each([
    [
      'an invalid request',
      new errors.StripeInvalidRequestError({
        statusCode: 400,
        type: 'invalid_request_error',
        code: 'parameter_invalid',
        message: 'bad',
      }),
      'parameter_invalid',
      400,
    ],
    [
      'an unknown object',
      new errors.StripeInvalidRequestError({
        statusCode: 404,
        type: 'invalid_request_error',
        code: 'resource_missing',
        message: 'No such checkout.session',
      }),
      'resource_missing',
      404,
    ],
    [
      'a reused idempotency key',
      new errors.StripeIdempotencyError({ statusCode: 400, type: 'idempotency_error', message: 'Keys for…' }),
      'idempotency_error',
      400,
    ],
    [
      'a bad API key',
      new errors.StripeAuthenticationError({
        statusCode: 401,
        type: 'invalid_request_error',
        message: 'Invalid API Key',
      }),
      'invalid_request_error',
      401,
    ],
    [
      'a missing permission',
      new errors.StripePermissionError({ statusCode: 403, type: 'invalid_request_error', message: 'nope' }),
      'invalid_request_error',
      403,
    ],
  ])('when Stripe refuses with %s, then the call is rejected with its code', (_name, error, code, status) => {
    const mapped = toGatewayError(error, 'createIntent');
    expect(mapped).toBeInstanceOf(GatewayRejectedError);
    expect(mapped).toMatchObject({ code, httpStatus: status });
  });

  test('when the response does not match our schema, then the call is retryable', () => {
    const parsed = z.object({ id: z.string() }).safeParse({ id: 1 });
    if (parsed.success) throw new Error('schema unexpectedly accepted');
    const mapped = toGatewayError(parsed.error, 'fetchPaymentStatus');
    expect(mapped).toBeInstanceOf(GatewayUnavailableError);
    expect(mapped.message).toContain('id');
  });

  test('when the error is already a gateway error or a programming error, then it passes through unchanged', () => {
    const rejected = new GatewayRejectedError('no', 'x');
    const bug = new TypeError('undefined is not a function');
    expect(toGatewayError(rejected, 'refund')).toBe(rejected);
    expect(toGatewayError(bug, 'refund')).toBe(bug);
  });
});
