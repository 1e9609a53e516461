// The gateways' own published examples, copied from their documentation and nowhere else, so that the adapters
// (gateways/**) and the sandbox (sandbox/**) are each held to what the gateway publishes instead of to each other.

/** eSewa ePay v2: https://developer.esewa.com.np/pages/Epay ("HMAC/SHA256", "Integration", "After Successful Payment"). */
export const ESEWA_PUBLISHED = {
  uatProductCode: 'EPAYTEST',
  uatSecretKey: '8gBm/:&EnhH.1/q',
  /** The page's form demo ("form-data"), signature included. */
  form: {
    amount: '100',
    tax_amount: '10',
    total_amount: '110',
    transaction_uuid: '241028',
    product_code: 'EPAYTEST',
    product_service_charge: '0',
    product_delivery_charge: '0',
    success_url: 'https://developer.esewa.com.np/success',
    failure_url: 'https://developer.esewa.com.np/failure',
    signed_field_names: 'total_amount,transaction_uuid,product_code',
    signature: 'i94zsd3oXF6ZsSr/kGqT4sSzYQzjj1W/waxjWyRwaME=',
  },
  /** "Example (Decoded Response Body)" of the success redirect, as printed: total_amount is a JSON number there. */
  successBodyAsPrinted:
    '{"transaction_code":"000AWEO","status":"COMPLETE","total_amount":1000.0,"transaction_uuid":"250610-162413",' +
    '"product_code":"EPAYTEST","signed_field_names":' +
    '"transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names",' +
    '"signature":"62GcfZTmVkzhtUeh+QJ1AqiJrjoWWGof3U+eTPTZ7fA="}',
  /** The same response's fields as the Base64 example carries them (total_amount as the text "1000.0"). */
  successFields: {
    transaction_code: '000AWEO',
    status: 'COMPLETE',
    total_amount: '1000.0',
    transaction_uuid: '250610-162413',
    product_code: 'EPAYTEST',
    signed_field_names: 'transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names',
    signature: '62GcfZTmVkzhtUeh+QJ1AqiJrjoWWGof3U+eTPTZ7fA=',
  },
  /**
   * "Example (Response Body encoded in Base64)". The page prints it over four lines and loses one character on the
   * way ("dHJhbNhY3Rpb25" for "dHJhbnNhY3Rpb25", inside `"transaction_uuid"`); with that one character put back it
   * is exactly the Base64 of successFields as JSON, so the repair is made in the open here.
   */
  successData: (
    'eyJ0cmFuc2FjdGlvbl9jb2RlIjoiMDAwQVdFTyIsInN0YXR1cyI6IkNPTVBMRVRFIiwidG90YWxfYW1vdW50IjoiMTAwMC4wIiwi' +
    'dHJhbNhY3Rpb25fdXVpZCI6IjI1MDYxMC0xNjI0MTMiLCJwcm9kdWN0X2NvZGUiOiJFUEFZVEVTVCIsInNpZ25lZF9maWVsZF9uYW1' +
    'lcyI6InRyYW5zYWN0aW9uX2NvZGUsc3RhdHVzLHRvdGFsX2Ftb3VudCx0cmFuc2FjdGlvbl91dWlkLHByb2R1Y3RfY29kZSxzaWd' +
    'uZWRfZmllbGRfbmFtZXMiLCJzaWduYXR1cmUiOiI2MkdjZlpUbVZremh0VWVoK1FKMUFxaUpyam9XV0dvZjNVK2VUUFRaN2ZBPSJ9'
  ).replace('dHJhbNhY3Rpb25', 'dHJhbnNhY3Rpb25'),
} as const;

/** Khalti Web Checkout (KPG-2): https://docs.khalti.com/khalti-epayment. */
export const KHALTI_PUBLISHED = {
  minimumAmountPaisa: 1_000,
  lookupStatuses: ['Completed', 'Pending', 'Initiated', 'Refunded', 'Expired', 'User canceled', 'Partially Refunded'],
} as const;

/**
 * Stripe's webhook signatures (https://docs.stripe.com/webhooks#verify-manually): `Stripe-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the endpoint secret>`. Stripe publishes no
 * fixed vector; its official SDK's generateTestHeaderString is the reference the tests compare with.
 */
export const STRIPE_EXAMPLE_EVENT = JSON.stringify({
  id: 'evt_published_1',
  object: 'event',
  type: 'customer.created',
  created: 1_767_225_600,
  data: { object: { id: 'cus_1', object: 'customer', name: 'Ādhya Śarmā' } },
});
