// Gives every request an ID (the caller's X-Request-Id when it is sane, else a new one) and a child logger
// that carries it, and writes one access log line per response. Logs name methods, paths and IDs only:
// bodies, query strings and headers can hold customer data or signatures.
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../config/logger';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      requestId: string;
      logger: Logger;
      /** The code of the error the response carries, set by the error handler (metrics label outcomes by it). */
      errorCode?: string;
    }
  }
}

/** Anything else from the caller (spaces, control characters, huge values) is replaced, so logs stay clean. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_LOGGED_PATH = 200;

export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const offered = req.get('x-request-id');
    const requestId = offered && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.locals.requestId = requestId;
    res.locals.logger = logger.child({ requestId });
    res.setHeader('X-Request-Id', requestId);

    const startedAt = process.hrtime.bigint();
    res.on('finish', () => {
      const durationMs = Number((process.hrtime.bigint() - startedAt) / 1_000_000n);
      const fields = { method: req.method, path: loggablePath(req), status: res.statusCode, durationMs };
      if (res.statusCode >= 500) res.locals.logger.warn(fields, 'request failed');
      else res.locals.logger.info(fields, 'request completed');
    });
    next();
  };
}

/** The path without its query; the logger's scrubber decodes it and masks card numbers, emails and phones. */
function loggablePath(req: Request): string {
  const path = req.originalUrl.split('?', 1)[0] ?? '';
  return path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path;
}
