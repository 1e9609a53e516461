// JSON request bodies: one parser configuration and one content-type rule for every route that takes a body.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { unsupportedMediaType } from './errors';

/** Request bodies here are a few hundred bytes; anything near this limit is not a request of ours. */
const JSON_BODY_LIMIT = '16kb';

export function jsonBody({ bodyRequired }: { bodyRequired: boolean }): RequestHandler[] {
  return [
    requireJson({ bodyRequired }),
    express.json({ limit: JSON_BODY_LIMIT, strict: true, type: 'application/json' }),
  ];
}

/** JSON bodies only: a form post or text body is refused before anything reads it. */
function requireJson({ bodyRequired }: { bodyRequired: boolean }) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if ((bodyRequired || hasBody(req)) && !req.is('application/json')) {
      next(unsupportedMediaType('application/json'));
      return;
    }
    next();
  };
}

function hasBody(req: Request): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}
