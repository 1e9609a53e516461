-- Up Migration

-- Settlement data for one gateway and time window: an uploaded CSV report, or what a run fetched from the gateway's
-- API. Every line of it is kept in reconciliation_report_rows, accepted or rejected, so nothing is lost.
CREATE TABLE reconciliation_reports (
  report_id     text PRIMARY KEY,
  gateway       text NOT NULL,
  source        text NOT NULL CHECK (source IN ('upload', 'api')),
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL CHECK (window_end > window_start),
  rows_total    bigint NOT NULL DEFAULT 0,
  rows_accepted bigint NOT NULL DEFAULT 0,
  rows_rejected bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per data line. error_code is NULL for an accepted row; a rejected one keeps what could be parsed and,
-- when it could not be parsed at all, its raw text.
CREATE TABLE reconciliation_report_rows (
  report_id      text NOT NULL REFERENCES reconciliation_reports (report_id) ON DELETE CASCADE,
  line_no        bigint NOT NULL,
  kind           text,
  transaction_id text,
  payment_id     text,
  order_id       text,
  status         text,
  amount_minor   bigint,
  currency       text,
  occurred_at    timestamptz,
  error_code     text CHECK (error_code IN ('malformed', 'duplicate', 'out_of_window')),
  error_message  text,
  raw            text,
  PRIMARY KEY (report_id, line_no)
);

-- One reconciliation run: one workflow execution over one gateway and window.
CREATE TABLE reconciliation_runs (
  run_id               text PRIMARY KEY,
  workflow_id          text NOT NULL,
  gateway              text NOT NULL,
  report_id            text,
  window_start         timestamptz NOT NULL,
  window_end           timestamptz NOT NULL,
  status               text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  settlement_rows      bigint NOT NULL DEFAULT 0,
  settlement_matched   bigint NOT NULL DEFAULT 0,
  counts               jsonb NOT NULL DEFAULT '{}'::jsonb,
  open_discrepancies   integer NOT NULL DEFAULT 0,
  started_at           timestamptz NOT NULL DEFAULT now(),
  finished_at          timestamptz,
  duration_ms          bigint
);
CREATE INDEX reconciliation_runs_workflow_idx ON reconciliation_runs (workflow_id, started_at);
CREATE INDEX reconciliation_runs_started_idx ON reconciliation_runs (started_at);

-- What a run found, before it is promoted to an item; rewritten as a whole when a classification step is retried.
CREATE TABLE reconciliation_findings (
  run_id               text NOT NULL REFERENCES reconciliation_runs (run_id) ON DELETE CASCADE,
  step                 text NOT NULL,
  subject              text NOT NULL,
  kind                 text NOT NULL,
  order_id             text,
  payment_reference    text,
  our_status           text,
  our_amount_minor     bigint,
  our_currency         text,
  gateway_status       text,
  gateway_amount_minor bigint,
  gateway_currency     text,
  PRIMARY KEY (run_id, subject)
);

-- One discrepancy, keyed by what it is about (gateway + subject: a gateway payment or refund, or one of our orders
-- or refunds), so finding it again in another run changes nothing: the repair happens once.
CREATE TABLE reconciliation_items (
  item_id              bigserial PRIMARY KEY,
  gateway              text NOT NULL,
  subject              text NOT NULL,
  kind                 text NOT NULL CHECK (kind IN ('late_success', 'paid_not_settled', 'amount_mismatch',
                                                     'unknown_payment', 'refund_missing_here', 'refund_missing_there',
                                                     'unapplied_capture')),
  order_id             text,
  payment_reference    text,
  our_status           text,
  our_amount_minor     bigint,
  our_currency         text,
  gateway_status       text,
  gateway_amount_minor bigint,
  gateway_currency     text,
  action               text NOT NULL CHECK (action IN ('refund', 'accept', 'flag', 'record', 'signal_workflow')),
  -- pending: the action is still to be taken; in_progress: a refund workflow owns it; done: repaired;
  -- flagged: left for an operator (order marked needs_attention, alert raised); failed: the repair failed.
  state                text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'in_progress', 'done', 'flagged', 'failed')),
  outcome              text,
  refund_id            text,
  gateway_refund_id    text,
  first_run_id         text NOT NULL REFERENCES reconciliation_runs (run_id),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  UNIQUE (gateway, subject)
);
CREATE INDEX reconciliation_items_state_idx ON reconciliation_items (state, created_at);
CREATE INDEX reconciliation_items_gateway_refund_idx ON reconciliation_items (gateway_refund_id)
  WHERE gateway_refund_id IS NOT NULL;

-- Which items each run saw, and whether it found them first or they were already reconciled.
CREATE TABLE reconciliation_run_items (
  run_id  text NOT NULL REFERENCES reconciliation_runs (run_id) ON DELETE CASCADE,
  item_id bigint NOT NULL REFERENCES reconciliation_items (item_id),
  seen    text NOT NULL CHECK (seen IN ('new', 'already_reconciled')),
  PRIMARY KEY (run_id, item_id)
);

-- Matching gateway data to orders by payment reference, and refunds by the gateway's refund ID.
CREATE INDEX orders_gateway_payment_reference_idx ON orders (gateway, payment_reference)
  WHERE payment_reference IS NOT NULL;
CREATE INDEX refunds_gateway_refund_idx ON refunds (gateway_refund_id) WHERE gateway_refund_id IS NOT NULL;

-- Down Migration
DROP INDEX refunds_gateway_refund_idx;
DROP INDEX orders_gateway_payment_reference_idx;
DROP TABLE reconciliation_run_items;
DROP TABLE reconciliation_items;
DROP TABLE reconciliation_findings;
DROP TABLE reconciliation_runs;
DROP TABLE reconciliation_report_rows;
DROP TABLE reconciliation_reports;
