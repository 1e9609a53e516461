// Bearer-token guard for /admin. Without ADMIN_API_TOKEN the admin API does not exist (404 admin_disabled);
// with it, a request needs `Authorization: Bearer <token>` (401 otherwise). The operator names themself in
// X-Admin-Actor, which goes into the admin audit log with every action.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './errors';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Who is acting, for the admin audit log; set by requireAdminToken. */
      adminActor?: string;
    }
  }
}

const ACTOR_PATTERN = /^[A-Za-z0-9._@:+-]{1,64}$/;
/** Used when the operator did not name themself: the token is shared, so this is all that is known. */
export const ANONYMOUS_ADMIN_ACTOR = 'admin-token';

const adminDisabled = () =>
  new ApiError(404, 'admin_disabled', 'the admin API is disabled; set ADMIN_API_TOKEN to enable it');

const adminUnauthorized = () =>
  new ApiError(401, 'unauthorized', 'a valid admin bearer token is required', undefined, {
    'WWW-Authenticate': 'Bearer realm="orderpay-admin"',
  });

export function requireAdminToken(token: string | undefined) {
  // Digests have equal lengths, so the comparison takes the same time whatever the caller sent.
  const expected = token ? digest(token) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) {
      next(adminDisabled());
      return;
    }
    const offered = bearerToken(req.get('authorization'));
    if (offered === undefined || !timingSafeEqual(digest(offered), expected)) {
      next(adminUnauthorized());
      return;
    }
    const actor = req.get('x-admin-actor');
    res.locals.adminActor = actor && ACTOR_PATTERN.test(actor) ? actor : ANONYMOUS_ADMIN_ACTOR;
    next();
  };
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer[ ]+([^\s]+)\s*$/i.exec(header) : null;
  return match?.[1];
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
