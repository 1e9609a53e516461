// The payload codec on its own: what it writes is unreadable without the key, what it reads back is the original
// payload, rotation keeps old payloads readable, and anything it cannot authenticate fails loudly, never silently.
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  generateCodecKey,
  METADATA_KEY_ID,
  parseCodecKeys,
  PayloadDecryptionError,
} from '../../config/payload-codec';

const keyA = { id: 'a', key: randomBytes(32) };
const keyB = { id: 'b', key: randomBytes(32) };
const order = { orderId: 'codec-1', amount: 2500, customer: { email: 'payer@example.com' } };
const plain = (): Payload => defaultPayloadConverter.toPayload(order);
const metadataText = (payload: Payload, key: string) => Buffer.from(payload.metadata?.[key] ?? []).toString('utf8');

describe('payload codec', () => {
  it('when a payload is encoded and decoded, then it comes back identical and the stored form shows no plain text', async () => {
    const codec = new EncryptionCodec([keyA]);
    const [encoded] = await codec.encode([plain()]);
    expect(metadataText(encoded!, METADATA_ENCODING_KEY)).toBe(ENCRYPTED_ENCODING);
    expect(metadataText(encoded!, METADATA_KEY_ID)).toBe('a');
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('payer@example.com');
    expect(JSON.stringify(encoded)).not.toContain('json/plain');

    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(order);
    expect(metadataText(decoded!, METADATA_ENCODING_KEY)).toBe('json/plain');
  });

  it('when the same payload is encoded twice, then the ciphertexts differ (a fresh nonce each time)', async () => {
    const codec = new EncryptionCodec([keyA]);
    const [first, second] = await codec.encode([plain(), plain()]);
    expect(Buffer.from(first!.data!).equals(Buffer.from(second!.data!))).toBe(false);
  });

  it('when keys are rotated, then new payloads use the first key and old payloads still decrypt', async () => {
    const [old] = await new EncryptionCodec([keyA]).encode([plain()]);
    const rotated = new EncryptionCodec([keyB, keyA]);
    const [fresh] = await rotated.encode([plain()]);
    expect(metadataText(fresh!, METADATA_KEY_ID)).toBe('b');
    const decoded = await rotated.decode([old!, fresh!]);
    expect(decoded.map((payload) => defaultPayloadConverter.fromPayload(payload))).toEqual([order, order]);
  });

  it('when a payload names a key the codec does not have, then decoding fails naming that key ID', async () => {
    const [encoded] = await new EncryptionCodec([keyA]).encode([plain()]);
    const promise = new EncryptionCodec([keyB]).decode([encoded!]);
    await expect(promise).rejects.toThrow(PayloadDecryptionError);
    await expect(promise).rejects.toThrow(/codec key "a", which is not in TEMPORAL_CODEC_KEYS \(known: b\)/);
  });

  it('when the ciphertext is tampered with, then decoding fails authentication', async () => {
    const codec = new EncryptionCodec([keyA]);
    const [encoded] = await codec.encode([plain()]);
    const data = Buffer.from(encoded!.data!);
    data[20] = data[20]! ^ 0x01;
    await expect(codec.decode([{ ...encoded!, data: new Uint8Array(data) }])).rejects.toThrow(
      /failed authentication: tampered or wrong key/,
    );
  });

  it('when a payload is relabelled with another key ID, then decoding fails (the key ID is authenticated)', async () => {
    const sameKeyTwoIds = new EncryptionCodec([keyA, { id: 'alias', key: keyA.key }]);
    const [encoded] = await sameKeyTwoIds.encode([plain()]);
    const relabelled = { ...encoded!, metadata: { ...encoded!.metadata, [METADATA_KEY_ID]: Buffer.from('alias') } };
    await expect(sameKeyTwoIds.decode([relabelled])).rejects.toThrow(/failed authentication/);
  });

  it('when a payload was never encrypted, then decode passes it through unchanged', async () => {
    const unencrypted = plain();
    const binary: Payload = { metadata: { [METADATA_ENCODING_KEY]: Buffer.from('binary/null') } };
    const [first, second] = await new EncryptionCodec([keyA]).decode([unencrypted, binary]);
    expect(first).toBe(unencrypted);
    expect(second).toBe(binary);
  });
});

describe('TEMPORAL_CODEC_KEYS', () => {
  it('when keys are listed, then they are parsed in order, the first one encrypting', () => {
    const first = generateCodecKey('2026-12');
    const second = generateCodecKey('2026-06');
    const keys = parseCodecKeys(` ${first} , ${second},`);
    expect(keys.map((key) => key.id)).toEqual(['2026-12', '2026-06']);
    expect(keys[0]!.key).toHaveLength(32);
  });

  it.each([
    ['no ID', ':' + randomBytes(32).toString('base64'), /entry 1 must be <id>:<base64 key>/],
    ['a short key', 'k1:' + randomBytes(16).toString('base64'), /key "k1" must be 32 bytes in base64/],
    ['not base64', 'k1:' + 'x'.repeat(43) + '!', /key "k1" must be 32 bytes/],
    ['a duplicate ID', `${generateCodecKey('k1')},${generateCodecKey('k1')}`, /key ID "k1" is listed twice/],
    ['nothing', ' , ', /at least one key is required/],
  ])('when the list has %s, then parsing fails without echoing key material', (_what, value, message) => {
    expect(() => parseCodecKeys(value)).toThrow(message);
    try {
      parseCodecKeys(value);
    } catch (error) {
      const material = value.split(':')[1]?.split(',')[0];
      if (material) expect((error as Error).message).not.toContain(material);
    }
  });
});
