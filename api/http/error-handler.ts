// The one error middleware, registered last, plus the two fallbacks that feed it (unknown route, wrong method).
// A caller only ever sees a stable code: known failures map to their ApiError, dependency outages to 503,
// and everything else to 500 with the request ID so the log line can be found.
import type { NextFunction, Request, Response } from 'express';
import {
  ApiError,
  badRequest,
  databaseUnavailable,
  malformedJson,
  methodNotAllowed,
  payloadTooLarge,
  routeNotFound,
  temporalUnavailable,
  unsupportedMediaType,
} from './errors';
import { isDatabaseUnavailableError } from './database-errors';
import { isTemporalUnavailableError } from '../temporal/temporal-errors';
import { describeError } from '../../config/logger';

export function notFoundHandler(_req: Request, _res: Response, next: NextFunction): void {
  next(routeNotFound());
}

/** For `router.route(path).all(...)` after the real methods: OPTIONS lists them, anything else is a 405. */
export function rejectOtherMethods(allowed: readonly string[]) {
  const allow = [...allowed, 'OPTIONS'];
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method === 'OPTIONS') {
      res.setHeader('Allow', allow.join(', '));
      res.status(204).end();
      return;
    }
    next(methodNotAllowed(allow));
  };
}

export function errorHandler(error: unknown, req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    // Too late for a clean answer; Express closes the connection.
    next(error);
    return;
  }
  const apiError = toApiError(error);
  const logger = res.locals.logger;
  if (apiError) {
    if (apiError.status >= 500) {
      // The outage behind the 503 (its cause, or the raw driver error it was mapped from), for operators only.
      const cause = apiError === error ? apiError.cause : error;
      logger?.warn({ code: apiError.code, ...(cause ? { cause: describeError(cause) } : {}) }, 'dependency failure');
    }
    res.locals.errorCode = apiError.code;
    for (const [name, value] of Object.entries(apiError.headers)) res.setHeader(name, value);
    res.status(apiError.status).json(errorBody(apiError));
    return;
  }
  logger?.error({ err: describeError(error), method: req.method }, 'unexpected error');
  res.locals.errorCode = 'internal_error';
  res.status(500).json({
    error: {
      code: 'internal_error',
      message: 'an unexpected error occurred',
      details: { requestId: res.locals.requestId },
    },
  });
}

/** The one error shape on the wire: `{"error":{"code","message","details"?}}`. */
export function errorBody(apiError: ApiError) {
  return {
    error: {
      code: apiError.code,
      message: apiError.message,
      ...(apiError.details === undefined ? {} : { details: apiError.details }),
    },
  };
}

/** The ApiError a failure is answered with; undefined for an unexpected error (a 500). */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  const httpError = asHttpError(error);
  if (httpError) return fromHttpError(httpError);
  if (isDatabaseUnavailableError(error)) return databaseUnavailable();
  if (isTemporalUnavailableError(error)) return temporalUnavailable();
  return undefined;
}

interface HttpError {
  status: number;
  type?: string;
}

/** body-parser and the router throw http-errors with a 4xx `status` and, for body problems, a `type`. */
function asHttpError(error: unknown): HttpError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode, type } = error as { status?: unknown; statusCode?: unknown; type?: unknown };
  const code = typeof status === 'number' ? status : statusCode;
  if (typeof code !== 'number' || code < 400 || code >= 500) return undefined;
  return { status: code, type: typeof type === 'string' ? type : undefined };
}

function fromHttpError({ status, type }: HttpError): ApiError {
  switch (type) {
    case 'entity.parse.failed':
      return malformedJson();
    case 'entity.too.large':
      return payloadTooLarge();
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return unsupportedMediaType('uncompressed UTF-8');
    default:
      return status === 413 ? payloadTooLarge() : badRequest();
  }
}
