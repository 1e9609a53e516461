// JSON request bodies: one parser configuration and one content-type rule for every route that takes a body.
import express, { type RequestHandler } from 'express';
import { requireBodyType } from './body-type';

/** Request bodies here are a few hundred bytes; anything near this limit is not a request of ours. */
const JSON_BODY_LIMIT = '16kb';

/** JSON bodies only: a form post or text body is refused before anything reads it. */
export function jsonBody({ bodyRequired }: { bodyRequired: boolean }): RequestHandler[] {
  return [
    requireBodyType('application/json', { bodyRequired }),
    express.json({ limit: JSON_BODY_LIMIT, strict: true, type: 'application/json' }),
  ];
}
