// Merchant API keys: stored by digest only (api/auth/api-key.ts explains why SHA-256), looked up by that digest.
import type { ApiKeyScope } from '../../api/auth/api-key';
import type { Pool } from '../pool';

export interface NewApiKey {
  id: string;
  name: string;
  prefix: string;
  keyHash: Buffer;
  scopes: readonly ApiKeyScope[];
}

export interface StoredApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  lastUsedAt: string | null;
  revoked: boolean;
  revokedAt: string | null;
}

/** What authentication needs: the stored digest, compared again in constant time by the caller. */
export interface ApiKeyCredential {
  id: string;
  name: string;
  keyHash: Buffer;
  scopes: ApiKeyScope[];
  revoked: boolean;
}

interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  key_hash: Buffer;
  scopes: ApiKeyScope[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at';

function toStored(row: ApiKeyRow): StoredApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revoked: row.revoked_at !== null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

export async function insertApiKey(pool: Pool, key: NewApiKey): Promise<StoredApiKey> {
  const result = await pool.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
    [key.id, key.name, key.prefix, key.keyHash, key.scopes],
  );
  return toStored(result.rows[0] as ApiKeyRow);
}

/**
 * Registers a key unless one with the same digest exists (revoked or not: a revoked bootstrap key stays revoked).
 * Returns the new key, or undefined when it was already known.
 */
export async function insertApiKeyIfUnknown(pool: Pool, key: NewApiKey): Promise<StoredApiKey | undefined> {
  const result = await pool.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key_hash) DO NOTHING RETURNING ${COLUMNS}`,
    [key.id, key.name, key.prefix, key.keyHash, key.scopes],
  );
  const row = result.rows[0];
  return row ? toStored(row) : undefined;
}

export async function findApiKeyByDigest(pool: Pool, keyHash: Buffer): Promise<ApiKeyCredential | undefined> {
  const result = await pool.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE key_hash = $1`, [keyHash]);
  const row = result.rows[0];
  return row
    ? { id: row.id, name: row.name, keyHash: row.key_hash, scopes: row.scopes, revoked: row.revoked_at !== null }
    : undefined;
}

/** Newest first. */
export async function listApiKeys(pool: Pool): Promise<StoredApiKey[]> {
  const result = await pool.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at DESC, id`);
  return result.rows.map(toStored);
}

/** Revokes once; revoking a revoked key keeps its first revocation time. Undefined when there is no such key. */
export async function revokeApiKey(
  pool: Pool,
  id: string,
): Promise<{ key: StoredApiKey; changed: boolean } | undefined> {
  const updated = await pool.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
    [id],
  );
  if (updated.rows[0]) return { key: toStored(updated.rows[0]), changed: true };
  const existing = await pool.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
  return existing.rows[0] ? { key: toStored(existing.rows[0]), changed: false } : undefined;
}

/** Conditional, so concurrent API processes write at most once a minute per key between them. */
export async function touchApiKey(pool: Pool, id: string): Promise<void> {
  await pool.query(
    `UPDATE api_keys SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id],
  );
}

/** Whether any key that is not revoked carries the scope (the production start check for `admin`). */
export async function hasActiveKeyWithScope(pool: Pool, scope: ApiKeyScope): Promise<boolean> {
  const result = await pool.query<{ found: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL AND $1 = ANY(scopes)) AS found',
    [scope],
  );
  return result.rows[0]?.found ?? false;
}
