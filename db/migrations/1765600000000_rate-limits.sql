-- Up Migration

-- Counters of the public routes' rate limits (rate-limiter-flexible's RateLimiterPostgres layout), shared by every
-- API replica. `key` is the limit's prefix and an IP address or order ID; `expire` is the end of its window in
-- epoch milliseconds. Rows past their window are reused or deleted by the limiter.
CREATE TABLE rate_limits (
  key     varchar(255) PRIMARY KEY,
  points  integer NOT NULL DEFAULT 0,
  expire  bigint
);

-- Down Migration
DROP TABLE rate_limits;
