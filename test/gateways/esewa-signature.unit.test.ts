// eSewa ePay v2 signatures: the published vector, round trips through the success callback, tampering with each
// signed field, unsigned fields, and amounts written differently ("1000" vs "1000.0").
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import {
  ESEWA_UAT_PRODUCT_CODE,
  ESEWA_UAT_SECRET_KEY,
  buildEsewaForm,
  encodeEsewaCallbackData,
} from '../../gateways/esewa/esewa.protocol';
import { esewaSignatureMessage, signEsewaFields, verifyEsewaSignature } from '../../gateways/esewa/esewa.signature';
import { esewaTransactionUuid, orderIdOfEsewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import { WebhookPayloadError, WebhookSignatureError } from '../../gateways/gateway-errors';

const SECRET = ESEWA_UAT_SECRET_KEY;
const CALLBACK_SIGNED = 'transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names';

function signedCallback(overrides: Record<string, string> = {}, signedFieldNames = CALLBACK_SIGNED) {
  const fields: Record<string, string> = {
    transaction_code: '000AWEO',
    status: 'COMPLETE',
    total_amount: '1000.0',
    transaction_uuid: esewaTransactionUuid('order_1.a-b'),
    product_code: ESEWA_UAT_PRODUCT_CODE,
    signed_field_names: signedFieldNames,
    ...overrides,
  };
  return { ...fields, signature: signEsewaFields(fields, signedFieldNames, SECRET) };
}

const handler = createEsewaCallbackHandler({
  productCode: ESEWA_UAT_PRODUCT_CODE,
  secretKey: SECRET,
  now: () => new Date('2026-01-01T00:00:00Z'),
});
const success = (data: Record<string, string>) =>
  handler.parse({ path: ['success'], query: { data: encodeEsewaCallbackData(data) } });

describe('eSewa signature', () => {
  it('when the published vector is signed with the UAT secret, then the signature is the published one', () => {
    const fields = { total_amount: '110', transaction_uuid: '241028', product_code: 'EPAYTEST' };
    expect(esewaSignatureMessage(fields, 'total_amount,transaction_uuid,product_code')).toBe(
      'total_amount=110,transaction_uuid=241028,product_code=EPAYTEST',
    );
    expect(signEsewaFields(fields, 'total_amount,transaction_uuid,product_code', SECRET)).toBe(
      'i94zsd3oXF6ZsSr/kGqT4sSzYQzjj1W/waxjWyRwaME=',
    );
    expect(
      verifyEsewaSignature(
        fields,
        'total_amount,transaction_uuid,product_code',
        'i94zsd3oXF6ZsSr/kGqT4sSzYQzjj1W/waxjWyRwaME=',
        SECRET,
      ),
    ).toBe(true);
  });

  it('when the value is written "1000.0" but verified as "1000", then it does not verify', () => {
    const signature = signEsewaFields({ total_amount: '1000.0' }, 'total_amount', SECRET);
    expect(verifyEsewaSignature({ total_amount: '1000.0' }, 'total_amount', signature, SECRET)).toBe(true);
    expect(verifyEsewaSignature({ total_amount: '1000' }, 'total_amount', signature, SECRET)).toBe(false);
  });

  it('when the signature is garbage, a prefix or another secret signed it, then it does not verify', () => {
    const fields = { total_amount: '110' };
    const good = signEsewaFields(fields, 'total_amount', SECRET);
    for (const signature of [
      '',
      'x',
      good.slice(0, -2),
      `${good} `,
      signEsewaFields(fields, 'total_amount', 'other'),
    ]) {
      expect(verifyEsewaSignature(fields, 'total_amount', signature, SECRET)).toBe(false);
    }
    expect(verifyEsewaSignature({}, 'total_amount', good, SECRET)).toBe(false);
  });

  it('when orderpay builds the form, then total is the sum of the parts and the signature verifies', () => {
    const form = buildEsewaForm(
      { formUrl: 'https://x', productCode: 'EPAYTEST', secretKey: SECRET, publicBaseUrl: 'https://shop.example/' },
      { orderId: 'order_1.a', amountMinor: 1_000_50 },
    );
    expect(form).toMatchObject({
      amount: '1000.50',
      tax_amount: '0',
      product_service_charge: '0',
      product_delivery_charge: '0',
      total_amount: '1000.50',
      transaction_uuid: 'order-21-1a',
      product_code: 'EPAYTEST',
      success_url: 'https://shop.example/callbacks/esewa/success',
      failure_url: 'https://shop.example/callbacks/esewa/failure/order-21-1a',
      signed_field_names: 'total_amount,transaction_uuid,product_code',
    });
    expect(verifyEsewaSignature({ ...form }, form.signed_field_names, form.signature, SECRET)).toBe(true);
  });
});

describe('eSewa transaction UUIDs', () => {
  it('when order IDs use ".", "_" and "-", then the UUIDs hold only letters, digits and hyphens and map back', () => {
    const ids = ['a', 'a-b', 'a.b', 'a_b', 'a-0', 'a--', '._-', 'A9.z_Z-0', 'x'.repeat(64)];
    const uuids = ids.map((id) => esewaTransactionUuid(id));
    for (const uuid of uuids) expect(uuid).toMatch(/^[A-Za-z0-9-]+$/);
    expect(new Set(uuids).size).toBe(ids.length);
    expect(uuids.map(orderIdOfEsewaTransactionUuid)).toEqual(ids);
  });

  it('when a UUID was not made by orderpay, then it names no order', () => {
    for (const uuid of ['a-', 'a-3', '-', 'a b', 'a.b', ''])
      expect(orderIdOfEsewaTransactionUuid(uuid)).toBeUndefined();
  });
});

describe('eSewa success callback', () => {
  it('when a signed COMPLETE callback comes back, then it is a verified capture of the exact amount', () => {
    const parsed = success(signedCallback());
    expect(parsed).toMatchObject({
      orderId: 'order_1.a-b',
      payerOutcome: 'paid',
      paymentEvent: {
        kind: 'captured',
        verified: true,
        amountMinor: 100_000,
        currency: 'NPR',
        paymentReference: '000AWEO',
        intentId: 'order-21-1a-0b',
      },
    });
    // Loading the same redirect again is the same event.
    expect(success(signedCallback()).eventId).toBe(parsed.eventId);
  });

  it('when eSewa writes the amount as a JSON number 1000.0, then the signature over "1000.0" still verifies', () => {
    const signed = signedCallback({ total_amount: '1000.0' });
    const json = JSON.stringify(signed).replace('"total_amount":"1000.0"', '"total_amount":1000.0');
    const data = Buffer.from(json).toString('base64');
    expect(handler.parse({ path: ['success'], query: { data } }).paymentEvent.amountMinor).toBe(100_000);
  });

  it('when a "+" of the Base64 arrives as a space, then the callback still verifies', () => {
    // "~~~" encodes to "fn5+" at any alignment-preserving offset; one of three lengths puts it on a "+".
    const candidates = ['~~~', '~~~~', '~~~~~'].map((code) =>
      encodeEsewaCallbackData(signedCallback({ transaction_code: code })),
    );
    const data = candidates.find((candidate) => candidate.includes('+')) ?? '';
    expect(data).toContain('+');
    expect(handler.parse({ path: ['success'], query: { data: data.replaceAll('+', ' ') } }).payerOutcome).toBe('paid');
  });

  it.each(['transaction_code', 'status', 'total_amount', 'transaction_uuid', 'product_code', 'signed_field_names'])(
    'when %s is tampered with after signing, then the callback is refused',
    (field) => {
      const tampered: Record<string, string> = {
        ...signedCallback(),
        [field]: field === 'total_amount' ? '1.0' : `${field}X`,
      };
      if (field === 'status') tampered.status = 'PENDING';
      if (field === 'signed_field_names') tampered.signed_field_names = `${CALLBACK_SIGNED},extra`;
      expect(() => success(tampered)).toThrow(WebhookSignatureError);
    },
  );

  it('when the callback is unsigned or signed with another secret, then it is refused', () => {
    const { signature: _signature, ...unsigned } = signedCallback();
    expect(() => success(unsigned as Record<string, string>)).toThrow(WebhookSignatureError);
    expect(() => handler.parse({ path: ['success'], query: {} })).toThrow(WebhookSignatureError);
    expect(() => handler.parse({ path: ['success'], query: { data: 'not base64 json' } })).toThrow(
      WebhookSignatureError,
    );
    const forged = { ...signedCallback() };
    forged.signature = signEsewaFields(forged, CALLBACK_SIGNED, 'not-the-secret');
    expect(() => success(forged)).toThrow(WebhookSignatureError);
  });

  it('when status or amount are present but left out of signed_field_names, then the callback is refused', () => {
    expect(() => success(signedCallback({}, 'transaction_code,total_amount,transaction_uuid,product_code'))).toThrow(
      WebhookSignatureError,
    );
    expect(() => success(signedCallback({}, 'transaction_code,status,transaction_uuid,product_code'))).toThrow(
      WebhookSignatureError,
    );
  });

  it('when an extra unsigned field rides along, then it is ignored and the signed values decide', () => {
    const parsed = success({ ...signedCallback(), total: '1.0', note: 'hello' });
    expect(parsed.paymentEvent.amountMinor).toBe(100_000);
  });

  it('when a correctly signed callback is for another merchant or names no order, then it is refused', () => {
    expect(() => success(signedCallback({ product_code: 'OTHER' }))).toThrow(WebhookPayloadError);
    expect(() => success(signedCallback({ transaction_uuid: 'a-9' }))).toThrow(WebhookPayloadError);
    expect(() => success(signedCallback({ total_amount: '10.005' }))).toThrow(WebhookPayloadError);
  });

  it('when a signed callback is not COMPLETE, then it is only a hint', () => {
    expect(success(signedCallback({ status: 'PENDING' }))).toMatchObject({
      payerOutcome: 'processing',
      paymentEvent: { verified: false, kind: 'pending' },
    });
  });

  it('when the failure redirect comes back, then it is an unverified hint for the order in its path', () => {
    const parsed = handler.parse({ path: ['failure', esewaTransactionUuid('o.1')], query: { data: 'anything' } });
    expect(parsed).toMatchObject({ orderId: 'o.1', payerOutcome: 'failed', paymentEvent: { verified: false } });
    expect(() => handler.parse({ path: ['failure'], query: {} })).toThrow(WebhookPayloadError);
    expect(() => handler.parse({ path: ['elsewhere'], query: {} })).toThrow(WebhookPayloadError);
  });
});
