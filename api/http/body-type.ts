// The one content-type rule for request bodies: a body of another type is refused before anything reads it.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { unsupportedMediaType } from './errors';

/** Refuses a body that is not `mediaType`; an empty request passes unless a body is required. */
export function requireBodyType(mediaType: string, { bodyRequired }: { bodyRequired: boolean }): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if ((bodyRequired || hasBody(req)) && !req.is(mediaType)) {
      next(unsupportedMediaType(mediaType));
      return;
    }
    next();
  };
}

function hasBody(req: Request): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}
