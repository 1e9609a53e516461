// Encrypts every payload Temporal stores for orderpay (workflow inputs and results, activity arguments, signals,
// updates, queries, memos) with AES-256-GCM, so that the Temporal server, its database and anyone reading histories
// without a key see no customer data, amounts or gateway references.
//
// Format of an encrypted payload: metadata `encoding: binary/encrypted`, `encryption-key-id: <id>`,
// `encryption-cipher: AES-256-GCM`; data = 12-byte nonce ‖ ciphertext ‖ 16-byte tag of the original Payload's
// protobuf encoding (so its own metadata, e.g. `encoding: json/plain`, comes back intact). The key ID is bound into
// the tag as additional authenticated data, so relabelling a payload with another key's ID fails to decrypt.
import { type DataConverter, METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
export const METADATA_CIPHER = 'encryption-cipher';
const CIPHER_NAME = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const CODEC_KEY_BYTES = 32;
/** Key IDs travel in every payload's metadata and in config: short, printable, no separators of the key list. */
export const CODEC_KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface CodecKey {
  id: string;
  /** 32 random bytes. */
  key: Buffer;
}

/** A payload that cannot be decoded: unknown key, or failed authentication (tampered, or a wrong key). */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Encrypts with the first key and decrypts with any listed key, so keys rotate by putting a new key first and
 * dropping an old one only once no retained history needs it. Payloads without the encrypted encoding (histories
 * written before encryption was turned on) pass through decode unchanged.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly current: CodecKey;

  constructor(keys: readonly CodecKey[]) {
    const [first] = keys;
    if (!first) throw new Error('the payload codec needs at least one key');
    const byId = new Map<string, Buffer>();
    for (const { id, key } of keys) {
      if (!CODEC_KEY_ID_PATTERN.test(id)) throw new Error(`codec key ID "${id}" must match ${CODEC_KEY_ID_PATTERN}`);
      if (key.length !== CODEC_KEY_BYTES) throw new Error(`codec key "${id}" must be ${CODEC_KEY_BYTES} bytes`);
      if (byId.has(id)) throw new Error(`codec key ID "${id}" is listed twice`);
      byId.set(id, key);
    }
    this.keys = byId;
    this.current = first;
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  // async: a payload that fails to decrypt rejects the promise rather than throwing at the call.
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.current;
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [METADATA_KEY_ID]: utf8(id),
        [METADATA_CIPHER]: utf8(CIPHER_NAME),
      },
      data: new Uint8Array(data),
    };
  }

  private decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[METADATA_KEY_ID]);
    if (id === undefined) throw new PayloadDecryptionError('encrypted payload carries no encryption-key-id');
    const key = this.keys.get(id);
    if (!key) {
      throw new PayloadDecryptionError(
        `payload is encrypted with codec key "${id}", which is not in TEMPORAL_CODEC_KEYS (known: ${this.keyIds.join(', ')})`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(`encrypted payload (key "${id}") is too short to be valid`);
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(`encrypted payload (key "${id}") failed authentication: tampered or wrong key`);
    }
    const original = temporal.api.common.v1.Payload.decode(plain);
    return { metadata: original.metadata, data: original.data };
  }
}

/**
 * Parses `TEMPORAL_CODEC_KEYS`: `<id>:<base64 of 32 bytes>`, comma-separated, the encrypting key first.
 * Throws with a message that names the offending key ID (never the key material).
 */
export function parseCodecKeys(value: string): CodecKey[] {
  const keys: CodecKey[] = [];
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  for (const [index, item] of items.entries()) {
    const separator = item.indexOf(':');
    const id = separator > 0 ? item.slice(0, separator) : '';
    if (!CODEC_KEY_ID_PATTERN.test(id)) {
      throw new Error(`entry ${index + 1} must be <id>:<base64 key> with an ID of letters, digits, ".", "_" or "-"`);
    }
    const material = item.slice(separator + 1);
    const key = Buffer.from(material, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(material) || key.length !== CODEC_KEY_BYTES) {
      throw new Error(`key "${id}" must be ${CODEC_KEY_BYTES} bytes in base64 (openssl rand -base64 32)`);
    }
    if (keys.some((existing) => existing.id === id)) throw new Error(`key ID "${id}" is listed twice`);
    keys.push({ id, key });
  }
  if (keys.length === 0) throw new Error('at least one key is required');
  return keys;
}

/** A new key entry for TEMPORAL_CODEC_KEYS. */
export function generateCodecKey(id: string): string {
  return `${id}:${randomBytes(CODEC_KEY_BYTES).toString('base64')}`;
}

/** The data converter every Temporal client and worker of orderpay uses; no keys means no encryption (development). */
export function orderpayDataConverter(keys: readonly CodecKey[] | undefined): DataConverter {
  return keys && keys.length > 0 ? { payloadCodecs: [new EncryptionCodec(keys)] } : {};
}
