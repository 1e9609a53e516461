// eSewa payment attempts in the adapter: each attempt gets its own transaction UUID, the lookup asks about the
// intentId it is given (never one recomputed from the order), the callbacks name the order of an attempt-numbered
// UUID, the form carries the open attempt's UUID, and a CANCELED lookup carries eSewa's status word as the failure.
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import { createEsewaGateway } from '../../gateways/esewa/esewa.gateway';
import {
  ESEWA_UAT_PRODUCT_CODE,
  ESEWA_UAT_SECRET_KEY,
  buildEsewaForm,
  encodeEsewaCallbackData,
} from '../../gateways/esewa/esewa.protocol';
import { signEsewaFields } from '../../gateways/esewa/esewa.signature';
import { esewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';

const ORDER_ID = 'shop_42.b';
const merchant = {
  formUrl: 'https://esewa.example/form',
  productCode: ESEWA_UAT_PRODUCT_CODE,
  secretKey: ESEWA_UAT_SECRET_KEY,
  publicBaseUrl: 'https://orderpay.example',
};

function gatewayAnswering(status: string) {
  const asked: URL[] = [];
  const gateway = createEsewaGateway({
    statusUrl: 'https://esewa.example/api/epay/transaction/status/',
    productCode: ESEWA_UAT_PRODUCT_CODE,
    publicBaseUrl: 'https://orderpay.example/',
    timeoutMs: 1_000,
    fetch: (async (input: string | URL) => {
      const url = new URL(String(input));
      asked.push(url);
      const body = {
        product_code: ESEWA_UAT_PRODUCT_CODE,
        transaction_uuid: url.searchParams.get('transaction_uuid'),
        total_amount: 100,
        status,
        ref_id: status === 'COMPLETE' ? '000AZ01' : null,
      };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch,
  });
  return { gateway, asked };
}

const createRequest = (attemptNumber?: number) => ({
  orderId: ORDER_ID,
  amountMinor: 100_00,
  currency: 'NPR',
  expiresAt: new Date('2026-12-07T12:00:00Z'),
  idempotencyKey: attemptNumber === undefined ? ORDER_ID : `${ORDER_ID}:attempt-${attemptNumber}`,
  ...(attemptNumber === undefined ? {} : { attemptNumber }),
});

describe('eSewa attempts', () => {
  it('when attempts 1, 2 and 3 are created, then each has its own transaction UUID and the same pay page', async () => {
    const { gateway } = gatewayAnswering('PENDING');
    const created = await Promise.all([
      gateway.createIntent(createRequest()),
      gateway.createIntent(createRequest(2)),
      gateway.createIntent(createRequest(3)),
    ]);
    expect(created.map((intent) => intent.intentId)).toEqual([
      esewaTransactionUuid(ORDER_ID),
      esewaTransactionUuid(ORDER_ID, 2),
      esewaTransactionUuid(ORDER_ID, 3),
    ]);
    for (const intent of created) expect(intent.paymentUrl).toBe('https://orderpay.example/pay/shop_42.b');
  });

  it('when a later attempt is looked up or cancelled, then eSewa is asked about that attempt UUID', async () => {
    const { gateway, asked } = gatewayAnswering('PENDING');
    const intentId = esewaTransactionUuid(ORDER_ID, 2);
    await gateway.fetchPaymentStatus({ orderId: ORDER_ID, intentId, amountMinor: 100_00, currency: 'NPR' });
    await gateway.cancelIntent({ orderId: ORDER_ID, intentId, amountMinor: 100_00, currency: 'NPR' });
    expect(asked.map((url) => url.searchParams.get('transaction_uuid'))).toEqual([intentId, intentId]);
  });

  it('when eSewa says CANCELED, then the attempt is cancelled with CANCELED as its failure code', async () => {
    const { gateway } = gatewayAnswering('CANCELED');
    const status = await gateway.fetchPaymentStatus({
      orderId: ORDER_ID,
      intentId: esewaTransactionUuid(ORDER_ID, 2),
      amountMinor: 100_00,
      currency: 'NPR',
    });
    expect(status).toEqual({ state: 'cancelled', gatewayStatus: 'CANCELED', failure: { code: 'CANCELED' } });
  });

  it('when the form is built for a later attempt, then it carries that UUID in the signed fields and the failure URL', () => {
    const uuid = esewaTransactionUuid(ORDER_ID, 4);
    const form = buildEsewaForm(merchant, { orderId: ORDER_ID, amountMinor: 100_00, transactionUuid: uuid });
    expect(form.transaction_uuid).toBe(uuid);
    expect(form.failure_url).toBe(`https://orderpay.example/callbacks/esewa/failure/${uuid}`);
    expect(form.signature).toBe(signEsewaFields({ ...form }, form.signed_field_names, ESEWA_UAT_SECRET_KEY));
    expect(buildEsewaForm(merchant, { orderId: ORDER_ID, amountMinor: 100_00 }).transaction_uuid).toBe(
      esewaTransactionUuid(ORDER_ID),
    );
    expect(() =>
      buildEsewaForm(merchant, {
        orderId: ORDER_ID,
        amountMinor: 100_00,
        transactionUuid: esewaTransactionUuid('another', 2),
      }),
    ).toThrow(/not one of order/);
  });

  it('when the callbacks come back for a later attempt, then they name the order and the attempt UUID', () => {
    const handler = createEsewaCallbackHandler({
      productCode: ESEWA_UAT_PRODUCT_CODE,
      secretKey: ESEWA_UAT_SECRET_KEY,
      now: () => new Date('2026-12-07T10:00:00Z'),
    });
    const uuid = esewaTransactionUuid(ORDER_ID, 3);
    const failed = handler.parse({ path: ['failure', uuid], query: {} });
    expect(failed).toMatchObject({ orderId: ORDER_ID, paymentEvent: { kind: 'failed', intentId: uuid } });

    const signedFieldNames = 'transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names';
    const fields = {
      transaction_code: '000AZ02',
      status: 'COMPLETE',
      total_amount: '100.0',
      transaction_uuid: uuid,
      product_code: ESEWA_UAT_PRODUCT_CODE,
      signed_field_names: signedFieldNames,
    };
    const data = encodeEsewaCallbackData({
      ...fields,
      signature: signEsewaFields(fields, signedFieldNames, ESEWA_UAT_SECRET_KEY),
    });
    expect(handler.parse({ path: ['success'], query: { data } })).toMatchObject({
      orderId: ORDER_ID,
      payerOutcome: 'paid',
      paymentEvent: { kind: 'captured', verified: true, intentId: uuid, amountMinor: 100_00 },
    });
  });
});
