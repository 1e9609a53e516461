-- Up Migration

-- Where merchant events go. `config`-sourced endpoints come from MERCHANT_WEBHOOK_URL (their secrets stay in the
-- worker's environment, never here); admin-created ones carry their signing secrets encrypted (secrets_encrypted:
-- a JSON array of {secret: <sealed whsec_…>, expiresAt}). event_types NULL: every event type.
CREATE TABLE merchant_endpoints (
  endpoint_id       text PRIMARY KEY CHECK (endpoint_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  url               text NOT NULL,
  source            text NOT NULL CHECK (source IN ('config', 'admin')),
  event_types       text[],
  include_customer  boolean NOT NULL DEFAULT false,
  secrets_encrypted jsonb NOT NULL DEFAULT '[]',
  enabled           boolean NOT NULL DEFAULT true,
  disabled_reason   text,
  disabled_at       timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Per order: the last sequence number handed out, and what the merchant was last told (so a timeline row that
-- changes nothing a merchant sees, or a repeated flag, announces nothing). Its row lock orders the events of an order.
CREATE TABLE merchant_order_announcements (
  order_id                text PRIMARY KEY REFERENCES orders (order_id),
  last_sequence           integer NOT NULL DEFAULT 0,
  status                  text,
  refunded_amount_minor   bigint NOT NULL DEFAULT 0,
  needs_attention         boolean NOT NULL DEFAULT false,
  fulfilment_failed       boolean NOT NULL DEFAULT false
);

-- One row per event, written in the transaction of the change it announces. event_id is the webhook-id: the same
-- on every attempt, so receivers de-duplicate on it.
CREATE TABLE merchant_events (
  event_id    text PRIMARY KEY,
  order_id    text NOT NULL REFERENCES orders (order_id),
  sequence    integer NOT NULL,
  type        text NOT NULL,
  data        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (order_id, sequence)
);
CREATE INDEX merchant_events_created_idx ON merchant_events (created_at);

-- The outbox: one row per (event, endpoint) that should receive it. dispatched_at: when a delivery workflow was
-- last started or found running for it (the sweeper leaves recently dispatched rows alone).
CREATE TABLE merchant_event_deliveries (
  event_id       text NOT NULL REFERENCES merchant_events (event_id),
  endpoint_id    text NOT NULL REFERENCES merchant_endpoints (endpoint_id),
  state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts       integer NOT NULL DEFAULT 0,
  dispatched_at  timestamptz,
  delivered_at   timestamptz,
  last_error     text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX merchant_event_deliveries_pending_idx ON merchant_event_deliveries (created_at) WHERE state = 'pending';
CREATE INDEX merchant_event_deliveries_failed_idx ON merchant_event_deliveries (updated_at) WHERE state = 'failed';

-- Every HTTP attempt: what the endpoint answered (or why there was no answer) and how long it took.
CREATE TABLE merchant_delivery_attempts (
  id            bigserial PRIMARY KEY,
  event_id      text NOT NULL,
  endpoint_id   text NOT NULL,
  attempted_at  timestamptz NOT NULL,
  outcome       text NOT NULL CHECK (outcome IN ('delivered', 'rejected', 'gone', 'error', 'timeout')),
  status_code   integer,
  latency_ms    integer NOT NULL,
  error         text,
  FOREIGN KEY (event_id, endpoint_id) REFERENCES merchant_event_deliveries (event_id, endpoint_id)
);
CREATE INDEX merchant_delivery_attempts_delivery_idx ON merchant_delivery_attempts (event_id, endpoint_id, id);

-- Down Migration
DROP TABLE merchant_delivery_attempts;
DROP TABLE merchant_event_deliveries;
DROP TABLE merchant_events;
DROP TABLE merchant_order_announcements;
DROP TABLE merchant_endpoints;
