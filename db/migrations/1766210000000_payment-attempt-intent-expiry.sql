-- Up Migration
-- The gateway's own expiry of an attempt's intent (Khalti's expires_at), kept with the attempt: a retried
-- createPaymentIntent answers from the recorded attempt without asking the gateway again (Khalti's initiate has no
-- idempotency key, so asking again would open a second pidx), and must still tell the workflow when the intent expires.
ALTER TABLE payment_attempts ADD COLUMN intent_expires_at timestamptz;

-- Down Migration
ALTER TABLE payment_attempts DROP COLUMN IF EXISTS intent_expires_at;
