-- Up Migration

-- Confirming the manual refund of a late payment (POST /admin/refunds/refund-<orderId>-recon/confirm) finds the
-- reconciliation item of that order, whose refund workflow waits for the confirmation: by order, not a scan.
CREATE INDEX reconciliation_items_order_idx ON reconciliation_items (order_id) WHERE order_id IS NOT NULL;

-- Down Migration
DROP INDEX reconciliation_items_order_idx;
