// Merchant API keys: their format, scopes and digest. A key is `op_live_…` (ORDERPAY_ENV=production) or `op_test_…`
// followed by 32 random bytes in base64url, so it is recognisable in a leaked file or log (and masked by the logger)
// and cannot be guessed. Only its SHA-256 digest is stored: with 256 random bits there is nothing for a slow,
// salted hash (bcrypt, scrypt) to protect against, and a fast digest lets every request find its key in one
// indexed lookup instead of a deliberately slow comparison per request.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

export const API_KEY_SCOPES = ['orders:write', 'orders:read', 'refunds:write', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];
/** What a merchant's server needs; `admin` is only ever given on purpose. */
export const MERCHANT_SCOPES: readonly ApiKeyScope[] = ['orders:write', 'orders:read', 'refunds:write'];

/** Any key orderpay issues or accepts as a bootstrap key: the prefix, then at least 24 URL-safe characters. */
export const API_KEY_PATTERN = /^op_(?:live|test)_[A-Za-z0-9_-]{24,200}$/;
/** Enough of a key for a person to tell keys apart; far too little to use it. */
const VISIBLE_PREFIX_LENGTH = 12;

export const apiKeyNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9._@:+-]{1,64}$/, 'letters, digits and . _ @ : + - (at most 64)');
export const apiKeyScopesSchema = z
  .array(z.enum(API_KEY_SCOPES))
  .min(1, 'at least one scope is required')
  .transform((scopes) => [...new Set(scopes)]);
export const apiKeyIdSchema = z.string().regex(/^key_[a-z0-9]{16}$/, 'an API key ID like key_0123456789abcdef');

export type ApiKeyEnvironment = 'live' | 'test';

export const keyEnvironment = (orderpayEnv: string): ApiKeyEnvironment =>
  orderpayEnv === 'production' ? 'live' : 'test';

export function generateApiKey(environment: ApiKeyEnvironment): string {
  return `op_${environment}_${randomBytes(32).toString('base64url')}`;
}

export function newApiKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

export function apiKeyDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function visiblePrefix(key: string): string {
  return key.slice(0, VISIBLE_PREFIX_LENGTH);
}
