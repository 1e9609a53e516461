// What /admin/api-keys accepts and answers; parsed by api-keys.routes.ts, rendered by openapi/paths/api-keys.paths.ts.
import { z } from 'zod';
import { API_KEY_SCOPES, apiKeyIdSchema, apiKeyNameSchema, apiKeyScopesSchema } from './api-key';
import { timestamp } from '../http/responses.schema';

export const createApiKeyRequestSchema = z
  .strictObject({
    name: apiKeyNameSchema.meta({ description: 'What the key is for, e.g. the shop or server using it' }),
    scopes: apiKeyScopesSchema.meta({ description: `Any of ${API_KEY_SCOPES.join(', ')}` }),
  })
  .meta({ id: 'CreateApiKeyRequest' });

export const apiKeyPathSchema = z.strictObject({ id: apiKeyIdSchema });

export const apiKeySchema = z
  .object({
    id: z.string().meta({ example: 'key_0123456789abcdef' }),
    name: z.string(),
    prefix: z
      .string()
      .meta({ description: 'The first characters of the key, to recognise it', example: 'op_test_Xk3v' }),
    scopes: z.array(z.enum(API_KEY_SCOPES)),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable().meta({ description: 'Updated at most once a minute' }),
    revoked: z.boolean(),
    revokedAt: timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });

export const createdApiKeySchema = apiKeySchema
  .extend({
    key: z.string().meta({ description: 'The key itself: shown this once, stored only as a SHA-256 digest' }),
  })
  .meta({ id: 'CreatedApiKey' });

export const apiKeyListSchema = z.object({ apiKeys: z.array(apiKeySchema) }).meta({ id: 'ApiKeyList' });
export const revokedApiKeySchema = z.object({ apiKey: apiKeySchema }).meta({ id: 'RevokedApiKey' });
