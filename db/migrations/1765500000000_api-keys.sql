-- Up Migration

-- Merchant API keys. The key itself is never stored: only its SHA-256 digest (the key carries 256 random bits, so a
-- fast hash is as good as a slow one and lets every request be checked in one indexed lookup). `prefix` is the
-- key's first characters, for people to recognise it in listings; `id` is what listings, revocation and the audit
-- log name it by.
CREATE TABLE api_keys (
  id            text PRIMARY KEY CHECK (id ~ '^key_[a-z0-9]{16}$'),
  name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9._@:+-]{1,64}$'),
  prefix        text NOT NULL,
  key_hash      bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_keys_created_idx ON api_keys (created_at);

-- Down Migration
DROP TABLE api_keys;
