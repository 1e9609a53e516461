// Merchant endpoints through the admin API: add one (its first secret is made here and shown once), change its URL,
// event types or personal-data choice, disable or enable it, and rotate its secret with an overlap in which old and
// new secrets both sign. Secrets are sealed (config/secret-sealing.ts) before they reach the database.
import type { CodecKey } from '../../config/payload-codec';
import { generateWebhookSecret, sealSecret } from '../../config/secret-sealing';
import { notifyEndpointEnabled } from '../../db/merchant-events/merchant-deliveries.repo';
import {
  findEndpoint,
  insertAdminEndpoint,
  replaceSecrets,
  updateEndpoint,
  type EndpointChanges,
  type MerchantEndpoint,
} from '../../db/merchant-events/merchant-endpoints.repo';
import type { Pool } from '../../db/pool';
import { ApiError } from '../http/errors';
import type { MerchantEndpointBody } from './merchant-events.schema';
import type { MerchantEventType } from '../../contracts/merchant-events.contract';

export interface EndpointDeps {
  pool: Pool;
  codecKeys: readonly CodecKey[] | undefined;
  clock?: () => Date;
}

export const endpointNotFound = (endpointId: string) =>
  new ApiError(404, 'endpoint_not_found', `no merchant endpoint ${endpointId}`);

/** The endpoint as the API shows it: never a secret, only when each one stops signing. */
export function endpointBody(endpoint: MerchantEndpoint): MerchantEndpointBody {
  const { secrets, ...rest } = endpoint;
  return { ...rest, secrets: secrets.map((secret) => ({ expiresAt: secret.expiresAt })) };
}

export async function createEndpoint(
  deps: EndpointDeps,
  request: { endpointId: string; url: string; eventTypes?: MerchantEventType[] | null; includeCustomer: boolean },
): Promise<{ endpoint: MerchantEndpointBody; secret: string }> {
  const secret = generateWebhookSecret();
  const created = await insertAdminEndpoint(deps.pool, {
    endpointId: request.endpointId,
    url: request.url,
    eventTypes: request.eventTypes ?? null,
    includeCustomer: request.includeCustomer,
    secrets: [{ sealed: sealSecret(deps.codecKeys, secret, request.endpointId), expiresAt: null }],
  });
  if (!created) {
    throw new ApiError(409, 'endpoint_exists', `merchant endpoint ${request.endpointId} already exists`);
  }
  const endpoint = await findEndpoint(deps.pool, request.endpointId);
  if (!endpoint) throw endpointNotFound(request.endpointId);
  return { endpoint: endpointBody(endpoint), secret };
}

export async function changeEndpoint(
  deps: EndpointDeps,
  endpointId: string,
  changes: EndpointChanges,
): Promise<MerchantEndpointBody> {
  const before = await findEndpoint(deps.pool, endpointId);
  if (!before) throw endpointNotFound(endpointId);
  if (before.source === 'config' && changes.url !== undefined) {
    throw new ApiError(409, 'endpoint_configured', 'this endpoint’s URL is MERCHANT_WEBHOOK_URL: change it there');
  }
  const after = await updateEndpoint(deps.pool, endpointId, changes, 'disabled');
  if (!after) throw endpointNotFound(endpointId);
  // Deliveries that waited while it was disabled go now.
  if (!before.enabled && after.enabled) await notifyEndpointEnabled(deps.pool, endpointId);
  return endpointBody(after);
}

export async function rotateSecret(
  deps: EndpointDeps,
  endpointId: string,
  keepPreviousForMs: number,
): Promise<{ endpoint: MerchantEndpointBody; secret: string }> {
  const endpoint = await findEndpoint(deps.pool, endpointId);
  if (!endpoint) throw endpointNotFound(endpointId);
  if (endpoint.source === 'config') {
    throw new ApiError(
      409,
      'endpoint_configured',
      'this endpoint signs with MERCHANT_WEBHOOK_SECRET: add the new secret there (comma-separated) and restart',
    );
  }
  const now = (deps.clock ?? (() => new Date()))();
  const until = new Date(now.getTime() + keepPreviousForMs).toISOString();
  const kept = endpoint.secrets
    .filter((stored) => stored.expiresAt === null || Date.parse(stored.expiresAt) > now.getTime())
    .map((stored) => ({
      sealed: stored.sealed,
      expiresAt: stored.expiresAt !== null && stored.expiresAt < until ? stored.expiresAt : until,
    }))
    .filter(() => keepPreviousForMs > 0);
  const secret = generateWebhookSecret();
  const secrets = [{ sealed: sealSecret(deps.codecKeys, secret, endpointId), expiresAt: null }, ...kept];
  if (!(await replaceSecrets(deps.pool, endpointId, secrets))) throw endpointNotFound(endpointId);
  const rotated = await findEndpoint(deps.pool, endpointId);
  if (!rotated) throw endpointNotFound(endpointId);
  return { endpoint: endpointBody(rotated), secret };
}
