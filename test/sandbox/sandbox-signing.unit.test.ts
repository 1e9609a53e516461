// The sandbox's own implementation of the gateways' protocols, held to what the gateways publish and never to the
// adapters (gateways/**): eSewa's form and success-redirect examples, Stripe's signature scheme as the official SDK
// writes it, and the settlement CSV header docs/reconciliation.md documents. The adapters face the same vectors in
// test/gateways/published-vectors.unit.test.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import {
  ESEWA_SUCCESS_SIGNED_FIELD_NAMES,
  ESEWA_UAT_PRODUCT_CODE,
  ESEWA_UAT_SECRET_KEY,
  encodeEsewaSuccessData,
  esewaSignature,
  esewaSignatureMatches,
} from '../../sandbox/esewa.protocol';
import { KHALTI_MIN_AMOUNT_PAISA, KHALTI_STATUSES } from '../../sandbox/khalti.protocol';
import { SETTLEMENT_REPORT_HEADER } from '../../sandbox/sandbox.store';
import type { RunningSandbox } from '../../sandbox/server';
import { signStripePayload } from '../../sandbox/webhook.signer';
import { ESEWA_PUBLISHED, KHALTI_PUBLISHED, STRIPE_EXAMPLE_EVENT } from '../support/published-vectors';
import { startTestSandbox } from '../support/sandbox';
import { SETTLEMENT_CSV_COLUMNS } from '../../gateways/settlement-csv';

const { form, successFields, uatSecretKey } = ESEWA_PUBLISHED;

describe('the sandbox against eSewa ePay v2 as published', () => {
  it("when the sandbox signs the page's form demo with the UAT secret, then it gets the page's signature", () => {
    expect(esewaSignature(form, form.signed_field_names, uatSecretKey)).toBe(form.signature);
    expect(esewaSignatureMatches(form, form.signed_field_names, form.signature, uatSecretKey)).toBe(true);
  });

  it('when one signed value, the secret or the signature differs, or a signed field is missing, then it does not match', () => {
    const names = form.signed_field_names;
    expect(esewaSignatureMatches({ ...form, total_amount: '110.0' }, names, form.signature, uatSecretKey)).toBe(false);
    expect(esewaSignatureMatches({ ...form, transaction_uuid: '241029' }, names, form.signature, uatSecretKey)).toBe(
      false,
    );
    expect(esewaSignatureMatches(form, names, form.signature, 'another-secret')).toBe(false);
    expect(esewaSignatureMatches(form, names, `${form.signature} `, uatSecretKey)).toBe(false);
    const { product_code: _missing, ...withoutProductCode } = form;
    expect(esewaSignatureMatches(withoutProductCode, names, form.signature, uatSecretKey)).toBe(false);
    expect(() => esewaSignature(withoutProductCode, names, uatSecretKey)).toThrow(RangeError);
  });

  it("when the sandbox signs and encodes the page's success response, then it writes the page's signature and Base64", () => {
    const { signature, ...unsigned } = successFields;
    expect(unsigned.signed_field_names).toBe(ESEWA_SUCCESS_SIGNED_FIELD_NAMES);
    expect(esewaSignature(unsigned, ESEWA_SUCCESS_SIGNED_FIELD_NAMES, uatSecretKey)).toBe(signature);
    expect(encodeEsewaSuccessData({ ...unsigned, signature })).toBe(ESEWA_PUBLISHED.successData);
  });

  it("when nothing overrides the merchant, then the sandbox's eSewa mode is eSewa's published UAT merchant", () => {
    expect({ productCode: ESEWA_UAT_PRODUCT_CODE, secretKey: ESEWA_UAT_SECRET_KEY }).toEqual({
      productCode: ESEWA_PUBLISHED.uatProductCode,
      secretKey: uatSecretKey,
    });
  });

  describe('over HTTP', () => {
    let sandbox: RunningSandbox;
    beforeEach(async () => {
      sandbox = await startTestSandbox();
    });
    afterEach(async () => {
      await sandbox?.stop();
    });

    const post = (fields: Record<string, string>) =>
      fetch(`${sandbox.url}/api/epay/main/v2/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
        redirect: 'manual',
      });

    it("when a browser posts the page's form demo unchanged, then the sandbox takes it to its payment page", async () => {
      const response = await post(form);
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe(`${sandbox.publicUrl}/esewa/pay/${form.transaction_uuid}`);
    });

    it('when the form demo arrives with its total changed after signing, then the sandbox refuses it', async () => {
      const response = await post({ ...form, amount: '101', total_amount: '111' });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('The signature is not valid.');
    });
  });
});

describe('the sandbox against Stripe webhook signatures', () => {
  it.each([
    ['a whole-second timestamp', 1_767_225_600],
    // The dispatcher signs with Date.now() / 1000; Stripe's header carries whole seconds.
    ['a fractional timestamp', 1_767_225_600.875],
  ])(
    "when the sandbox signs an event (%s), then its header is the official SDK's byte for byte",
    (_name, timestamp) => {
      const secret = 'whsec_published_vector_secret';
      expect(signStripePayload(STRIPE_EXAMPLE_EVENT, secret, timestamp)).toBe(
        Stripe.webhooks.generateTestHeaderString({ payload: STRIPE_EXAMPLE_EVENT, secret, timestamp }),
      );
    },
  );
});

describe('the sandbox against the other documented formats', () => {
  it('when the sandbox plays Khalti, then its minimum amount and status words are the ones KPG-2 documents', () => {
    expect(KHALTI_MIN_AMOUNT_PAISA).toBe(KHALTI_PUBLISHED.minimumAmountPaisa);
    expect([...KHALTI_STATUSES].sort()).toEqual([...KHALTI_PUBLISHED.lookupStatuses].sort());
  });

  it('when the sandbox writes a settlement report, then its header is the documented one, which the adapter reads', async () => {
    const manual = readFileSync(path.join(__dirname, '../../docs/reconciliation.md'), 'utf8');
    const documented = manual.split('\n').filter((line) => /^kind,.*,amount_minor,/.test(line));
    expect(documented).toEqual([SETTLEMENT_REPORT_HEADER]);
    expect(SETTLEMENT_CSV_COLUMNS.join(',')).toBe(documented[0]);
    const sandbox = await startTestSandbox();
    try {
      const report = await fetch(
        `${sandbox.url}/_sandbox/settlement-report?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
      );
      expect((await report.text()).split('\n')[0]).toBe(documented[0]);
    } finally {
      await sandbox.stop();
    }
  });
});
