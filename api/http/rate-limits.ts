// Rate limits on the public routes (webhooks, wallet callbacks, the pay page, the client-secret status route), per
// client IP and per order, counted in PostgreSQL (rate-limiter-flexible's RateLimiterPostgres) so the limits hold
// across API replicas. Over a limit: 429 rate_limited with Retry-After. When the counters cannot be read (the
// database is down) the request goes through: a payment event must never be lost to a limiter, and the route
// itself then answers 503 if it needs the database.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { ApiConfig } from '../../config/env';
import { ORDER_ID_PATTERN } from '../../contracts/order.contract';
import { describeError, type Logger } from '../../config/logger';
import type { Pool } from '../../db/pool';
import { ApiError } from './errors';

export type RateLimitConfig = Pick<
  ApiConfig,
  | 'RATE_LIMIT_WINDOW'
  | 'RATE_LIMIT_PER_IP'
  | 'RATE_LIMIT_PER_ORDER'
  | 'RATE_LIMIT_WEBHOOK_FAILURES_PER_IP'
  | 'RATE_LIMIT_ATTEMPTS_PER_ORDER'
  | 'RATE_LIMIT_ATTEMPTS_WINDOW'
>;

export const rateLimited = (retryAfterSeconds: number) =>
  new ApiError(
    429,
    'rate_limited',
    'too many requests; try again later',
    { retryAfterSeconds },
    { 'Retry-After': String(retryAfterSeconds) },
  );

export interface PublicRateLimits {
  /** Per client IP on callbacks, the pay page and the status route. */
  perIp: RequestHandler;
  /** Per order (path parameter `orderId`, or what `orderIdOf` finds). */
  perOrder(orderIdOf?: (req: Request) => string | undefined): RequestHandler;
  /**
   * New payment attempts per order (path parameter `orderId`), in their own window: each one can create an intent at
   * a gateway, so they are far scarcer than page views.
   */
  newAttemptsPerOrder: RequestHandler;
  /**
   * Webhooks are limited by their failures only, and only a webhook that failed verification asks: it counts the
   * failure against the sender's IP and answers the 429 once that IP is over RATE_LIMIT_WEBHOOK_FAILURES_PER_IP
   * (undefined: under it, or the counters could not be read). A webhook that verifies never gets here, so it is never
   * refused by, and never waits for, this limit.
   */
  webhookFailure(req: Request): Promise<ApiError | undefined>;
}

const TABLE = 'rate_limits';

export function publicRateLimits(deps: { pool: Pool; config: RateLimitConfig; logger: Logger }): PublicRateLimits {
  const limiterOptions = (keyPrefix: string, points: number, windowMs = deps.config.RATE_LIMIT_WINDOW) => ({
    storeClient: deps.pool,
    storeType: 'pool',
    tableName: TABLE,
    // Created by the migration; the limiter's own cleanup deletes expired rows hourly.
    tableCreated: true,
    keyPrefix,
    points,
    duration: Math.max(1, Math.ceil(windowMs / 1000)),
  });
  const limiter = (keyPrefix: string, points: number, windowMs?: number) =>
    new RateLimiterPostgres(limiterOptions(keyPrefix, points, windowMs));
  // Built on first use, so an app that never serves a public route never touches the store.
  let built:
    | {
        ip: RateLimiterPostgres;
        order: RateLimiterPostgres;
        newAttempts: RateLimiterPostgres;
        webhookFailures: RateLimiterPostgres;
      }
    | undefined;
  const limiters = () =>
    (built ??= {
      ip: limiter('ip', deps.config.RATE_LIMIT_PER_IP),
      order: limiter('order', deps.config.RATE_LIMIT_PER_ORDER),
      newAttempts: limiter(
        'order-attempts',
        deps.config.RATE_LIMIT_ATTEMPTS_PER_ORDER,
        deps.config.RATE_LIMIT_ATTEMPTS_WINDOW,
      ),
      webhookFailures: new RateLimiterPostgres({
        ...limiterOptions('webhook-fail', deps.config.RATE_LIMIT_WEBHOOK_FAILURES_PER_IP),
        // Once an IP is over its limit, this replica refuses its next failures without asking PostgreSQL until the
        // window ends: a forger's flood costs a body read and an HMAC each, never a database write.
        inMemoryBlockOnConsumed: deps.config.RATE_LIMIT_WEBHOOK_FAILURES_PER_IP + 1,
      }),
    });

  function consuming(
    which: 'ip' | 'order' | 'newAttempts',
    keyOf: (req: Request) => string | undefined,
    options: { returnedOnServerError?: boolean } = {},
  ): RequestHandler {
    return (req: Request, res: Response, next: NextFunction): void => {
      const key = keyOf(req);
      if (key === undefined) return next();
      // Any failure, even a synchronous one, ends in refusalOrPass: a 429, or the request goes through.
      Promise.resolve()
        .then(() => limiters()[which].consume(key))
        .then(
          () => {
            if (options.returnedOnServerError) returnPointOnServerError(which, key, res);
            next();
          },
          (error: unknown) => next(refusalOrPass(error, res.locals.logger ?? deps.logger)),
        );
    };
  }

  /** A request answered 5xx did nothing for its sender (a payer's Try again during an outage), so it costs nothing. */
  function returnPointOnServerError(which: 'ip' | 'order' | 'newAttempts', key: string, res: Response): void {
    res.once('finish', () => {
      if (res.statusCode < 500) return;
      const limiter = limiters()[which];
      limiter
        .reward(key, 1)
        .catch((error: unknown) =>
          (res.locals.logger ?? deps.logger).warn({ err: describeError(error) }, 'rate limit point not returned'),
        );
    });
  }

  /** A limiter answer is a 429; a store failure lets the request through (fail open) and is logged. */
  function refusalOrPass(error: unknown, logger: Logger): ApiError | undefined {
    if (error instanceof RateLimiterRes) return rateLimited(Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
    logger.warn({ err: describeError(error) }, 'rate limit store unavailable; not limiting');
    return undefined;
  }

  return {
    perIp: consuming('ip', clientIp),
    perOrder: (orderIdOf = orderIdParam) => consuming('order', (req) => orderIdKey(orderIdOf(req))),
    newAttemptsPerOrder: consuming('newAttempts', (req) => orderIdKey(orderIdParam(req)), {
      returnedOnServerError: true,
    }),
    async webhookFailure(req) {
      // One upsert counts the failure and reads the count: the failures up to the limit still get their 401.
      return Promise.resolve()
        .then(() => limiters().webhookFailures.consume(clientIp(req)))
        .then(
          () => undefined,
          (error: unknown) => refusalOrPass(error, deps.logger),
        );
    },
  };
}

/** Only what could be an order ID is a key; anything else is refused by the route's own validation. */
function orderIdKey(id: string | undefined): string | undefined {
  return id !== undefined && ORDER_ID_PATTERN.test(id) ? id : undefined;
}

function orderIdParam(req: Request): string | undefined {
  const id: unknown = req.params.orderId;
  return typeof id === 'string' ? id : undefined;
}

/** The socket's address: X-Forwarded-For is only trusted when Express is told to trust a proxy ('trust proxy'). */
function clientIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
