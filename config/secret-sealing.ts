// Seals merchant webhook signing secrets for storage. They must be usable for signing, so they cannot be hashed like
// API keys; they are encrypted with AES-256-GCM under a key derived (HKDF) from each TEMPORAL_CODEC_KEYS key, so the
// database alone never reveals them and the payload codec's own keys are never used for anything but payloads.
// Rotating the codec keys keeps old secrets readable while the old key stays listed (as for payloads).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { CodecKey } from './payload-codec';

const PURPOSE = 'orderpay merchant webhook secrets v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Standard Webhooks secrets are 24 to 64 random bytes; orderpay makes 32. */
const SECRET_BYTES = 32;

export class SecretSealingError extends Error {
  override readonly name = 'SecretSealingError';
}

/** A new Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

function derivedKey(key: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), PURPOSE, 32));
}

/**
 * `v1:<keyId>:<base64 nonce‖ciphertext‖tag>`, bound to `context` (the endpoint ID) so a sealed secret copied to
 * another endpoint's row does not open. Without keys (development without TEMPORAL_CODEC_KEYS; production refuses to
 * start so) the secret is stored as `plain:<secret>`.
 */
export function sealSecret(keys: readonly CodecKey[] | undefined, secret: string, context: string): string {
  const first = keys?.[0];
  if (!first) return `plain:${secret}`;
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', derivedKey(first.key), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(`${first.id}:${context}`, 'utf8'));
  const sealed = Buffer.concat([nonce, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `v1:${first.id}:${sealed.toString('base64')}`;
}

export function openSecret(keys: readonly CodecKey[] | undefined, sealed: string, context: string): string {
  if (sealed.startsWith('plain:')) return sealed.slice('plain:'.length);
  const [version, keyId, data] = sealed.split(':');
  if (version !== 'v1' || keyId === undefined || data === undefined) {
    throw new SecretSealingError('sealed secret has an unknown format');
  }
  const key = keys?.find((candidate) => candidate.id === keyId);
  if (!key) throw new SecretSealingError(`sealed secret needs codec key "${keyId}", which is not configured`);
  const bytes = Buffer.from(data, 'base64');
  const nonce = bytes.subarray(0, NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', derivedKey(key.key), nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(`${keyId}:${context}`, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([
      decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new SecretSealingError('sealed secret failed authentication (wrong key or tampered)');
  }
}
