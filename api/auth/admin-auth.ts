// The door of /admin: an API key with the `admin` scope (or ADMIN_API_TOKEN, the bootstrap admin credential), else
// 401/403. Refunds are also open to keys with `refunds:write`, so a merchant's server can refund without being an
// operator. The operator names themself in X-Admin-Actor, which goes into the admin audit log with every action;
// without it the key's name is the actor.
import type { NextFunction, Request, Response } from 'express';
import type { ApiKeyScope } from './api-key';
import { requireScope, type Authenticate } from './api-key-auth';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Who is acting, for the admin audit log; set by requireAdminAccess. */
      adminActor?: string;
    }
  }
}

const ACTOR_PATTERN = /^[A-Za-z0-9._@:+-]{1,64}$/;
const REFUND_ROUTE = /^\/admin\/orders\/[^/]+\/refunds\/?$/;

function scopesFor(req: Request): readonly ApiKeyScope[] {
  return req.method === 'POST' && REFUND_ROUTE.test(req.originalUrl.split('?', 1)[0] ?? '')
    ? ['admin', 'refunds:write']
    : ['admin'];
}

export function requireAdminAccess(authenticate: Authenticate) {
  const checkScope = requireScope(authenticate, scopesFor);
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    await checkScope(req, res, () => {
      const actor = req.get('x-admin-actor');
      res.locals.adminActor = actor && ACTOR_PATTERN.test(actor) ? actor : (res.locals.principal?.name ?? 'unknown');
      next();
    });
  };
}
