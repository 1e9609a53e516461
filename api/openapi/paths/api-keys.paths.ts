import type { ZodOpenApiPathsObject } from 'zod-openapi';
import {
  apiKeyListSchema,
  apiKeyPathSchema,
  createApiKeyRequestSchema,
  createdApiKeySchema,
  revokedApiKeySchema,
} from '../../auth/api-keys.schema';
import { adminErrors, error, json } from '../responses';

const admin = { tags: ['admin'], security: [{ adminBearer: [] }] };

export const apiKeysPaths: ZodOpenApiPathsObject = {
  '/admin/api-keys': {
    get: {
      ...admin,
      summary: 'List API keys (never the keys themselves), newest first',
      responses: { ...adminErrors, '200': json('API keys', apiKeyListSchema) },
    },
    post: {
      ...admin,
      summary: 'Create an API key; the key is in this answer only',
      description:
        'Several keys may be active at once: create the new key, deploy it, then revoke the old one. Recorded in ' +
        'the admin audit log (without the key).',
      requestBody: { required: true, content: { 'application/json': { schema: createApiKeyRequestSchema } } },
      responses: {
        ...adminErrors,
        '201': json('The new key, shown once', createdApiKeySchema),
        '415': error('`unsupported_media_type`'),
      },
    },
  },
  '/admin/api-keys/{id}/revoke': {
    post: {
      ...admin,
      summary:
        'Revoke an API key: 401 from its next request on this API process, on the others within API_KEY_CACHE_TTL (idempotent)',
      requestParams: { path: apiKeyPathSchema },
      responses: {
        ...adminErrors,
        '200': json('The revoked key', revokedApiKeySchema),
        '404': error('`api_key_not_found`'),
      },
    },
  },
};
