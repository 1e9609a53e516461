// Who is calling: every merchant and admin route sits behind `Authorization: Bearer <key>`. A key is found by its
// SHA-256 digest and compared again in constant time; revoked and unknown keys are the same 401. ADMIN_API_TOKEN,
// when set, is accepted as a key with the `admin` scope only (the bootstrap admin credential). Each route names
// the scope it needs: no key → 401 unauthenticated (with a Bearer challenge), a key without the scope → 403.
// With a cache (api-key-cache.ts), a key that checked out lately is not looked up again until its entry expires.
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiConfig } from '../../config/env';
import { describeError, type Logger } from '../../config/logger';
import { findApiKeyByDigest, touchApiKey } from '../../db/auth/api-keys.repo';
import type { Pool } from '../../db/pool';
import { apiKeyDigest, type ApiKeyScope } from './api-key';
import type { ApiKeyCache } from './api-key-cache';
import { ApiError } from '../http/errors';

/** The caller behind a request, once its key checked out. */
export interface Principal {
  keyId: string;
  name: string;
  scopes: readonly ApiKeyScope[];
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The authenticated caller; set by the API key middleware. */
      principal?: Principal;
    }
  }
}

/** The principal ADMIN_API_TOKEN stands for; also the audit actor when the operator does not name themself. */
export const ADMIN_TOKEN_PRINCIPAL: Principal = { keyId: 'admin-token', name: 'admin-token', scopes: ['admin'] };

/** last_used_at is for people ("is this key still used?"): once a minute is precise enough and costs no write per request. */
const TOUCH_INTERVAL_MS = 60_000;

export const unauthenticated = () =>
  new ApiError(401, 'unauthenticated', 'a valid API key is required: Authorization: Bearer <key>', undefined, {
    'WWW-Authenticate': 'Bearer realm="orderpay"',
  });

export const forbidden = (required: readonly ApiKeyScope[]) =>
  new ApiError(403, 'forbidden', 'this API key does not have the scope this request needs', {
    requiredScope: required.join(' or '),
  });

export type Authenticate = (offered: string) => Promise<Principal | undefined>;

export function createApiKeyAuthenticator(deps: {
  config: Pick<ApiConfig, 'ADMIN_API_TOKEN'>;
  pool: Pool;
  logger: Logger;
  /** Shared by every route of an API process, so a revocation through its admin API forgets the key everywhere. */
  apiKeyCache?: ApiKeyCache;
}): Authenticate {
  const adminTokenDigest = deps.config.ADMIN_API_TOKEN ? apiKeyDigest(deps.config.ADMIN_API_TOKEN) : undefined;
  const lastTouched = new Map<string, number>();

  const touch = (keyId: string) => {
    const now = Date.now();
    if (now - (lastTouched.get(keyId) ?? 0) < TOUCH_INTERVAL_MS) return;
    lastTouched.set(keyId, now);
    touchApiKey(deps.pool, keyId).catch((error: unknown) => {
      lastTouched.delete(keyId);
      deps.logger.warn({ err: describeError(error), keyId }, 'could not record API key use');
    });
  };

  return async (offered) => {
    const digest = apiKeyDigest(offered);
    // Digests have equal lengths, so the comparison takes the same time whatever the caller sent.
    if (adminTokenDigest && timingSafeEqual(digest, adminTokenDigest)) return ADMIN_TOKEN_PRINCIPAL;
    const cached = deps.apiKeyCache?.get(digest);
    if (cached) {
      touch(cached.keyId);
      return cached;
    }
    const stored = await findApiKeyByDigest(deps.pool, digest);
    if (!stored || stored.revoked || !timingSafeEqual(stored.keyHash, digest)) return undefined;
    touch(stored.id);
    const principal: Principal = { keyId: stored.id, name: stored.name, scopes: stored.scopes };
    deps.apiKeyCache?.remember(digest, principal);
    return principal;
  };
}

/**
 * Lets the request through when its key has one of the scopes `required(req)` names. The scope check runs before
 * the body is read, so a caller without a key learns nothing about the request's validity and changes nothing.
 */
export function requireScope(
  authenticate: Authenticate,
  required: readonly ApiKeyScope[] | ((req: Request) => readonly ApiKeyScope[]),
) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const offered = bearerToken(req.get('authorization'));
    const principal = offered === undefined ? undefined : await authenticate(offered);
    if (!principal) throw unauthenticated();
    const scopes = typeof required === 'function' ? required(req) : required;
    if (!scopes.some((scope) => principal.scopes.includes(scope))) throw forbidden(scopes);
    res.locals.principal = principal;
    next();
  };
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer[ ]+([^\s]+)\s*$/i.exec(header) : null;
  return match?.[1];
}
