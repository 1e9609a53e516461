-- Up Migration

-- New discrepancy kinds: a payment orderpay did not create (foreign_payment), a second capture for a paid order
-- (duplicate_capture), and an order whose status could not be read attempt after attempt (lookup_failed).
ALTER TABLE reconciliation_items DROP CONSTRAINT reconciliation_items_kind_check;
ALTER TABLE reconciliation_items ADD CONSTRAINT reconciliation_items_kind_check
  CHECK (kind IN ('late_success', 'paid_not_settled', 'amount_mismatch', 'unknown_payment', 'foreign_payment',
                  'duplicate_capture', 'lookup_failed', 'refund_missing_here', 'refund_missing_there',
                  'unapplied_capture'));

-- A settlement refund row matches our refund by the gateway's refund ID, our refund ID, or the reference an
-- operator confirmed a manual (eSewa) refund with.
CREATE INDEX refunds_manual_reference_idx ON refunds (manual_reference) WHERE manual_reference IS NOT NULL;
-- Our refunds are checked against every stored report of the gateway, so a refund made at a window's edge matches
-- whichever window's data holds it.
CREATE INDEX reconciliation_report_rows_refund_idx ON reconciliation_report_rows (transaction_id)
  WHERE kind = 'refund' AND error_code IS NULL;
-- Orders that changed in a window, and closed unpaid orders that could still be paid, are looked up by time.
CREATE INDEX orders_gateway_updated_idx ON orders (gateway, updated_at);

-- Down Migration
DROP INDEX orders_gateway_updated_idx;
DROP INDEX reconciliation_report_rows_refund_idx;
DROP INDEX refunds_manual_reference_idx;
DELETE FROM reconciliation_run_items ri USING reconciliation_items i
 WHERE ri.item_id = i.item_id AND i.kind IN ('foreign_payment', 'duplicate_capture', 'lookup_failed');
DELETE FROM reconciliation_items WHERE kind IN ('foreign_payment', 'duplicate_capture', 'lookup_failed');
ALTER TABLE reconciliation_items DROP CONSTRAINT reconciliation_items_kind_check;
ALTER TABLE reconciliation_items ADD CONSTRAINT reconciliation_items_kind_check
  CHECK (kind IN ('late_success', 'paid_not_settled', 'amount_mismatch', 'unknown_payment', 'refund_missing_here',
                  'refund_missing_there', 'unapplied_capture'));
