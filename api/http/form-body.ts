// HTML form bodies (application/x-www-form-urlencoded) for the few payer pages that post back: one parser
// configuration and one content-type rule, like json-body.ts for the API.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { unsupportedMediaType } from './errors';

/** A payer's form has a field or two; anything near these limits is not one of ours. */
const FORM_BODY_LIMIT = '4kb';
const FORM_PARAMETER_LIMIT = 10;

/** An empty post (a form without fields) is allowed; a body of any other type is refused before anything reads it. */
export function formBody(): RequestHandler[] {
  return [
    requireForm,
    express.urlencoded({
      limit: FORM_BODY_LIMIT,
      // Flat name=value pairs only (Node's querystring): no nested objects for a schema to be surprised by.
      extended: false,
      parameterLimit: FORM_PARAMETER_LIMIT,
      type: 'application/x-www-form-urlencoded',
    }),
  ];
}

function requireForm(req: Request, _res: Response, next: NextFunction): void {
  if (hasBody(req) && !req.is('application/x-www-form-urlencoded')) {
    next(unsupportedMediaType('application/x-www-form-urlencoded'));
    return;
  }
  next();
}

function hasBody(req: Request): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}
