-- Up Migration

-- One row per order. Money is integer minor units; status moves only forward through
-- conditional updates issued by the order workflow's activities.
CREATE TABLE orders (
  order_id              text PRIMARY KEY CHECK (order_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
  currency              char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  gateway               text NOT NULL,
  status                text NOT NULL CHECK (status IN ('PENDING', 'AWAITING_PAYMENT', 'PAID', 'FAILED', 'EXPIRED',
                                                         'CANCELLED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
  description           text,
  customer              jsonb,
  return_url            text,
  request_hash          text NOT NULL,
  intent_id             text,
  payment_url           text,
  payment_reference     text,
  captured_amount_minor bigint NOT NULL DEFAULT 0 CHECK (captured_amount_minor >= 0),
  refunded_amount_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_amount_minor >= 0),
  failure_reason        text,
  needs_attention       boolean NOT NULL DEFAULT false,
  expires_at            timestamptz NOT NULL,
  paid_at               timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_status_created_idx ON orders (status, created_at);
CREATE INDEX orders_gateway_created_idx ON orders (gateway, created_at);
CREATE UNIQUE INDEX orders_gateway_intent_idx ON orders (gateway, intent_id) WHERE intent_id IS NOT NULL;

-- Every status change, written in the same transaction as the change: the order's timeline.
CREATE TABLE order_status_history (
  id          bigserial PRIMARY KEY,
  order_id    text NOT NULL REFERENCES orders (order_id),
  from_status text,
  to_status   text NOT NULL,
  reason      text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id);

-- Each intent created at a gateway. The order ID is the gateway idempotency key, so one order has one intent.
CREATE TABLE payment_attempts (
  id          bigserial PRIMARY KEY,
  order_id    text NOT NULL REFERENCES orders (order_id),
  gateway     text NOT NULL,
  intent_id   text NOT NULL,
  payment_url text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (gateway, intent_id),
  UNIQUE (order_id, gateway)
);

-- Refunds keyed by our deterministic refund ID (`refund-<orderId>-<seq>`), which is also the gateway idempotency key.
CREATE TABLE refunds (
  refund_id         text PRIMARY KEY,
  order_id          text NOT NULL REFERENCES orders (order_id),
  amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
  currency          char(3) NOT NULL,
  reason            text NOT NULL,
  state             text NOT NULL CHECK (state IN ('requested', 'pending', 'succeeded', 'failed')),
  gateway_refund_id text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_order_idx ON refunds (order_id);

-- The raw webhook audit log. Stored before processing; one row per (gateway, event ID), so replays are no-ops.
CREATE TABLE webhook_events (
  id                 bigserial PRIMARY KEY,
  gateway            text NOT NULL,
  event_id           text NOT NULL,
  event_type         text NOT NULL,
  order_id           text,
  raw_body           text NOT NULL,
  headers            jsonb NOT NULL,
  received_at        timestamptz NOT NULL DEFAULT now(),
  processed_at       timestamptz,
  -- received: stored, not yet handed to the workflow; delivered: signalled; order_not_found: no open workflow,
  -- left to reconciliation; ignored: an event type that does not move orders; failed: see error.
  outcome            text NOT NULL DEFAULT 'received'
                     CHECK (outcome IN ('received', 'delivered', 'order_not_found', 'ignored', 'failed')),
  error              text,
  delivery_attempts  integer NOT NULL DEFAULT 0,
  UNIQUE (gateway, event_id)
);
CREATE INDEX webhook_events_order_idx ON webhook_events (order_id);
CREATE INDEX webhook_events_outcome_idx ON webhook_events (outcome, received_at);

-- Stored HTTP idempotency records: the same key and body replay the stored response.
CREATE TABLE idempotency_records (
  scope           text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash    text NOT NULL,
  order_id        text,
  response_status integer NOT NULL,
  response_body   jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, idempotency_key)
);

-- Down Migration
DROP TABLE idempotency_records;
DROP TABLE webhook_events;
DROP TABLE refunds;
DROP TABLE payment_attempts;
DROP TABLE order_status_history;
DROP TABLE orders;
