-- Up Migration

-- eSewa ePay v2 has no refund API: its refunds wait in 'awaiting_manual' until an operator confirms, through the
-- admin API, that the money went back. The operator's reference and who confirmed are kept with the refund.
ALTER TABLE refunds DROP CONSTRAINT refunds_state_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_state_check
  CHECK (state IN ('requested', 'pending', 'awaiting_manual', 'succeeded', 'failed'));
ALTER TABLE refunds ADD COLUMN manual_reference text;
ALTER TABLE refunds ADD COLUMN manual_note text;
ALTER TABLE refunds ADD COLUMN confirmed_by text;
ALTER TABLE refunds ADD COLUMN confirmed_at timestamptz;
-- Operators (and the metrics gauge) list what waits for them.
CREATE INDEX refunds_awaiting_manual_idx ON refunds (created_at) WHERE state = 'awaiting_manual';

-- Down Migration
DROP INDEX refunds_awaiting_manual_idx;
ALTER TABLE refunds DROP COLUMN confirmed_at;
ALTER TABLE refunds DROP COLUMN confirmed_by;
ALTER TABLE refunds DROP COLUMN manual_note;
ALTER TABLE refunds DROP COLUMN manual_reference;
UPDATE refunds SET state = 'pending' WHERE state = 'awaiting_manual';
ALTER TABLE refunds DROP CONSTRAINT refunds_state_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_state_check
  CHECK (state IN ('requested', 'pending', 'succeeded', 'failed'));
