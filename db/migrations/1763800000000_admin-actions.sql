-- Up Migration

-- Every admin API action: who asked (the operator named in X-Admin-Actor), what, on which target, and the outcome.
-- Written before the action's answer is sent, so an action that happened is never missing from the log.
CREATE TABLE admin_actions (
  id              bigserial PRIMARY KEY,
  actor           text NOT NULL,
  action          text NOT NULL,
  target          text,
  request_id      text NOT NULL,
  idempotency_key text,
  details         jsonb NOT NULL DEFAULT '{}'::jsonb,
  outcome         text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_actions_target_idx ON admin_actions (target, created_at);
CREATE INDEX admin_actions_created_idx ON admin_actions (created_at);

-- Down Migration
DROP TABLE admin_actions;
