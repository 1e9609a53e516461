-- Up Migration
-- The workflow run that recorded the order. The checkout's first workflow task writes the row through local
-- activities, whose effects are committed before the task is: a try of that task whose worker was killed (or whose
-- completion the server refused) can leave the row moved to AWAITING_PAYMENT, and the next try of the same run must
-- go on from there, while a row another run left past PENDING (an earlier workflow of the order, purged by
-- retention) must not start a second payment. NULL for rows recorded before, which keep the old answer.
ALTER TABLE orders ADD COLUMN workflow_run_id text;

-- Down Migration
ALTER TABLE orders DROP COLUMN IF EXISTS workflow_run_id;
