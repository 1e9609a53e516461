// The adapters against what the gateways publish, with no sandbox in between: eSewa's form demo and its success
// response (both the Base64 `data` and the decoded body as printed), Stripe headers written by the official SDK, and
// Khalti's documented minimum and status words. The sandbox faces the same vectors in
// test/sandbox/sandbox-signing.unit.test.ts.
import Stripe from 'stripe';
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import { ESEWA_UAT_PRODUCT_CODE, ESEWA_UAT_SECRET_KEY } from '../../gateways/esewa/esewa.protocol';
import { signEsewaFields, verifyEsewaSignature } from '../../gateways/esewa/esewa.signature';
import { WebhookSignatureError } from '../../gateways/gateway-errors';
import { KHALTI_MIN_AMOUNT_PAISA, KHALTI_STATUSES } from '../../gateways/khalti/khalti.schemas';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import { ESEWA_PUBLISHED, KHALTI_PUBLISHED, STRIPE_EXAMPLE_EVENT } from '../support/published-vectors';

const { form, successFields, uatSecretKey } = ESEWA_PUBLISHED;

describe('the eSewa adapter against ePay v2 as published', () => {
  const handler = createEsewaCallbackHandler({
    productCode: ESEWA_PUBLISHED.uatProductCode,
    secretKey: uatSecretKey,
    now: () => new Date('2026-01-01T00:00:00Z'),
  });
  const success = (data: string) => handler.parse({ path: ['success'], query: { data } });
  /** The page's success response (the Base64 example and the decoded body name the same payment). */
  const publishedCapture = {
    orderId: '250610.62413', // the transaction_uuid read back through orderpay's escapes ("-1" is ".")
    payerOutcome: 'paid',
    paymentEvent: {
      kind: 'captured',
      verified: true,
      intentId: '250610-162413',
      paymentReference: '000AWEO',
      amountMinor: 1000_00,
      currency: 'NPR',
    },
  };

  it("when the adapter signs the page's form demo with the UAT secret, then it gets the page's signature", () => {
    expect(signEsewaFields(form, form.signed_field_names, uatSecretKey)).toBe(form.signature);
    expect(verifyEsewaSignature(form, form.signed_field_names, form.signature, uatSecretKey)).toBe(true);
    expect(
      verifyEsewaSignature({ ...form, total_amount: '111' }, form.signed_field_names, form.signature, uatSecretKey),
    ).toBe(false);
  });

  it("when the page's Base64 success data arrives, then the adapter verifies it as a capture of Rs 1000", () => {
    expect(success(ESEWA_PUBLISHED.successData)).toMatchObject(publishedCapture);
  });

  it('when the decoded body arrives as printed (total_amount the JSON number 1000.0), then it verifies too', () => {
    const data = Buffer.from(ESEWA_PUBLISHED.successBodyAsPrinted, 'utf8').toString('base64');
    expect(success(data)).toMatchObject(publishedCapture);
  });

  it('when a signed value of the published response is changed, then the adapter refuses it', () => {
    for (const change of [{ total_amount: '10000.0' }, { status: 'PENDING' }, { transaction_code: '000AWEP' }]) {
      const data = Buffer.from(JSON.stringify({ ...successFields, ...change }), 'utf8').toString('base64');
      expect(() => success(data)).toThrow(WebhookSignatureError);
    }
  });

  it("when nothing overrides the merchant, then the adapter's UAT defaults are eSewa's published ones", () => {
    expect({ productCode: ESEWA_UAT_PRODUCT_CODE, secretKey: ESEWA_UAT_SECRET_KEY }).toEqual({
      productCode: ESEWA_PUBLISHED.uatProductCode,
      secretKey: uatSecretKey,
    });
  });
});

describe('the Stripe adapter against headers the official SDK writes', () => {
  const secret = 'whsec_published_vector_secret';
  const verifier = createStripeWebhookVerifier({ secrets: [secret], toleranceSeconds: 300 });
  const sdkHeader = (payload: string) =>
    Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(Date.now() / 1000) });

  it('when the SDK signs an event, then the adapter verifies it', () => {
    const headers = { 'stripe-signature': sdkHeader(STRIPE_EXAMPLE_EVENT) };
    expect(verifier.verify(Buffer.from(STRIPE_EXAMPLE_EVENT, 'utf8'), headers)).toEqual({
      eventId: 'evt_published_1',
      eventType: 'customer.created',
    });
  });

  it('when the body differs from what the SDK signed by one character, then the adapter refuses it', () => {
    const headers = { 'stripe-signature': sdkHeader(STRIPE_EXAMPLE_EVENT) };
    const changed = STRIPE_EXAMPLE_EVENT.replace('cus_1', 'cus_2');
    expect(() => verifier.verify(Buffer.from(changed, 'utf8'), headers)).toThrow(WebhookSignatureError);
  });
});

describe('the Khalti adapter against KPG-2 as documented', () => {
  it('when the adapter reads Khalti, then its minimum amount and status words are the documented ones', () => {
    expect(KHALTI_MIN_AMOUNT_PAISA).toBe(KHALTI_PUBLISHED.minimumAmountPaisa);
    expect([...KHALTI_STATUSES].sort()).toEqual([...KHALTI_PUBLISHED.lookupStatuses].sort());
  });
});
