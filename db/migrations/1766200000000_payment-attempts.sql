-- Up Migration
-- An order has payment attempts (issue #15): one row per attempt, numbered from 1. A Stripe session stays open after
-- a declined card, so the next attempt may share its intent with the one before; a payer may switch to another of
-- the order's allowed gateways. Rows recorded before this migration were each an order's only attempt.
ALTER TABLE payment_attempts
  DROP CONSTRAINT payment_attempts_order_id_gateway_key,
  DROP CONSTRAINT payment_attempts_gateway_intent_id_key,
  ADD COLUMN attempt_number integer NOT NULL DEFAULT 1 CHECK (attempt_number > 0),
  ADD COLUMN status text NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'declined', 'cancelled', 'expired', 'superseded', 'paid')),
  ADD COLUMN failure_reason text,
  ADD COLUMN decline_code text,
  ADD COLUMN ended_at timestamptz,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
  ADD CONSTRAINT payment_attempts_order_number_key UNIQUE (order_id, attempt_number);
CREATE INDEX payment_attempts_gateway_intent_idx ON payment_attempts (gateway, intent_id);

-- The one attempt of an order recorded before now ended as its order did.
UPDATE payment_attempts a
   SET status = CASE
         WHEN o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') AND o.captured_amount_minor > 0 THEN 'paid'
         WHEN o.status = 'FAILED' THEN 'declined'
         WHEN o.status = 'EXPIRED' THEN 'expired'
         WHEN o.status IN ('CANCELLED', 'REFUNDED') THEN 'cancelled'
         ELSE 'open'
       END,
       ended_at = CASE WHEN o.status = 'AWAITING_PAYMENT' OR o.status = 'PENDING' THEN NULL ELSE o.updated_at END
  FROM orders o
 WHERE o.order_id = a.order_id;

-- The gateways a payer may choose from for a new attempt (POST /orders `gateways`); NULL: only the order's gateway.
ALTER TABLE orders ADD COLUMN allowed_gateways text[]
  CHECK (allowed_gateways IS NULL OR (cardinality(allowed_gateways) > 0
         AND allowed_gateways <@ ARRAY['stripe', 'esewa', 'khalti']::text[]));

-- Down Migration
ALTER TABLE orders DROP COLUMN IF EXISTS allowed_gateways;
DROP INDEX IF EXISTS payment_attempts_gateway_intent_idx;
DELETE FROM payment_attempts WHERE attempt_number > 1;
ALTER TABLE payment_attempts
  DROP CONSTRAINT IF EXISTS payment_attempts_order_number_key,
  DROP COLUMN IF EXISTS updated_at,
  DROP COLUMN IF EXISTS ended_at,
  DROP COLUMN IF EXISTS decline_code,
  DROP COLUMN IF EXISTS failure_reason,
  DROP COLUMN IF EXISTS status,
  DROP COLUMN IF EXISTS attempt_number,
  ADD CONSTRAINT payment_attempts_gateway_intent_id_key UNIQUE (gateway, intent_id),
  ADD CONSTRAINT payment_attempts_order_id_gateway_key UNIQUE (order_id, gateway);
