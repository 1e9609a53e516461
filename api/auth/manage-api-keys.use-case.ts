// Creating, listing and revoking merchant API keys: one story for the admin API, the CLI and the bootstrap key.
// The key is returned once, at creation; only its digest is stored.
import {
  insertApiKey,
  insertApiKeyIfUnknown,
  listApiKeys,
  revokeApiKey,
  type StoredApiKey,
} from '../../db/auth/api-keys.repo';
import type { Pool } from '../../db/pool';
import {
  apiKeyDigest,
  generateApiKey,
  MERCHANT_SCOPES,
  newApiKeyId,
  visiblePrefix,
  type ApiKeyEnvironment,
  type ApiKeyScope,
} from './api-key';
import { ApiError } from '../http/errors';

export const apiKeyNotFound = (id: string) => new ApiError(404, 'api_key_not_found', 'no API key with this ID', { id });

/** The stored key plus the key itself, which exists nowhere else from now on. */
export interface CreatedApiKey extends StoredApiKey {
  key: string;
}

export async function createApiKey(
  pool: Pool,
  request: { name: string; scopes: readonly ApiKeyScope[]; environment: ApiKeyEnvironment },
): Promise<CreatedApiKey> {
  const key = generateApiKey(request.environment);
  const stored = await insertApiKey(pool, {
    id: newApiKeyId(),
    name: request.name,
    prefix: visiblePrefix(key),
    keyHash: apiKeyDigest(key),
    scopes: request.scopes,
  });
  return { ...stored, key };
}

/** The bootstrap name; several processes starting at once register the key once between them. */
export const BOOTSTRAP_KEY_NAME = 'bootstrap';

/** Registers ORDERPAY_BOOTSTRAP_API_KEY with every merchant scope unless it is known (a revoked one stays revoked). */
export async function registerBootstrapApiKey(pool: Pool, key: string): Promise<StoredApiKey | undefined> {
  return insertApiKeyIfUnknown(pool, {
    id: newApiKeyId(),
    name: BOOTSTRAP_KEY_NAME,
    prefix: visiblePrefix(key),
    keyHash: apiKeyDigest(key),
    scopes: MERCHANT_SCOPES,
  });
}

export const listKeys = (pool: Pool): Promise<StoredApiKey[]> => listApiKeys(pool);

export async function revokeKey(pool: Pool, id: string): Promise<{ key: StoredApiKey; changed: boolean }> {
  const revoked = await revokeApiKey(pool, id);
  if (!revoked) throw apiKeyNotFound(id);
  return revoked;
}
