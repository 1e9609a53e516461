// HTML form bodies (application/x-www-form-urlencoded) for the few payer pages that post back: one parser
// configuration and one content-type rule, like json-body.ts for the API.
import express, { type RequestHandler } from 'express';
import { requireBodyType } from './body-type';

/** A payer's form has a field or two; anything near these limits is not one of ours. */
const FORM_BODY_LIMIT = '4kb';
const FORM_PARAMETER_LIMIT = 10;
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** An empty post (a form without fields) is allowed; a body of any other type is refused before anything reads it. */
export function formBody(): RequestHandler[] {
  return [
    requireBodyType(FORM_TYPE, { bodyRequired: false }),
    express.urlencoded({
      limit: FORM_BODY_LIMIT,
      // Flat name=value pairs only (Node's querystring): no nested objects for a schema to be surprised by.
      extended: false,
      parameterLimit: FORM_PARAMETER_LIMIT,
      type: FORM_TYPE,
    }),
  ];
}
