-- Up Migration
-- Fulfilment confirmation (POST /orders with `fulfilment`): the mode and timeout the order asked for, and where the
-- merchant's answer stands. Every column is NULL for orders that did not ask, and for all orders recorded before.
ALTER TABLE orders
  ADD COLUMN fulfilment_mode text CHECK (fulfilment_mode IN ('confirm')),
  ADD COLUMN fulfilment_timeout_ms bigint CHECK (fulfilment_timeout_ms > 0),
  ADD COLUMN fulfilment_status text CHECK (fulfilment_status IN ('awaiting_payment', 'awaiting_confirmation',
                                                                 'fulfilled', 'failed', 'timed_out', 'not_needed')),
  ADD COLUMN fulfilment_due_at timestamptz,
  ADD COLUMN fulfilment_reason text,
  ADD COLUMN fulfilment_answered_at timestamptz,
  ADD CONSTRAINT orders_fulfilment_complete CHECK (
    (fulfilment_mode IS NULL) = (fulfilment_status IS NULL) AND (fulfilment_mode IS NULL) = (fulfilment_timeout_ms IS NULL)
  );

-- Down Migration
ALTER TABLE orders
  DROP CONSTRAINT IF EXISTS orders_fulfilment_complete,
  DROP COLUMN IF EXISTS fulfilment_answered_at,
  DROP COLUMN IF EXISTS fulfilment_reason,
  DROP COLUMN IF EXISTS fulfilment_due_at,
  DROP COLUMN IF EXISTS fulfilment_status,
  DROP COLUMN IF EXISTS fulfilment_timeout_ms,
  DROP COLUMN IF EXISTS fulfilment_mode;
