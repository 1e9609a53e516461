// SQL for merchant endpoints: where events go, which types each wants, and its sealed signing secrets.
import { CONFIGURED_MERCHANT_ENDPOINT_ID, type MerchantEventType } from '../../contracts/merchant-events.contract';
import type { Pool, PoolClient } from '../pool';

/** A signing secret as stored: sealed (config/secret-sealing.ts), and until when it still signs (null: no end). */
export interface StoredSecret {
  sealed: string;
  expiresAt: string | null;
}

export interface MerchantEndpoint {
  endpointId: string;
  url: string;
  source: 'config' | 'admin';
  /** null: every type. */
  eventTypes: MerchantEventType[] | null;
  includeCustomer: boolean;
  secrets: StoredSecret[];
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

interface EndpointRow {
  endpoint_id: string;
  url: string;
  source: 'config' | 'admin';
  event_types: MerchantEventType[] | null;
  include_customer: boolean;
  secrets_encrypted: StoredSecret[];
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `endpoint_id, url, source, event_types, include_customer, secrets_encrypted, enabled, disabled_reason,
                 disabled_at, created_at, updated_at`;

function toEndpoint(row: EndpointRow): MerchantEndpoint {
  return {
    endpointId: row.endpoint_id,
    url: row.url,
    source: row.source,
    eventTypes: row.event_types,
    includeCustomer: row.include_customer,
    secrets: row.secrets_encrypted,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export async function findEndpoint(db: Pool | PoolClient, endpointId: string): Promise<MerchantEndpoint | undefined> {
  const { rows } = await db.query<EndpointRow>(`SELECT ${COLUMNS} FROM merchant_endpoints WHERE endpoint_id = $1`, [
    endpointId,
  ]);
  const row = rows[0];
  return row && toEndpoint(row);
}

export async function listEndpoints(db: Pool | PoolClient): Promise<MerchantEndpoint[]> {
  const { rows } = await db.query<EndpointRow>(`SELECT ${COLUMNS} FROM merchant_endpoints ORDER BY created_at`);
  return rows.map(toEndpoint);
}

/**
 * The endpoint MERCHANT_WEBHOOK_URL configures, as the worker starts. A new URL (or a first start) enables it; the same
 * URL keeps whatever an operator or a 410 decided, so a restart never re-enables an endpoint that said it is gone.
 * Its secrets stay in the worker's environment; event types are chosen through the admin API.
 */
export async function upsertConfiguredEndpoint(
  db: Pool | PoolClient,
  endpoint: { url: string; includeCustomer: boolean },
): Promise<MerchantEndpoint> {
  const { rows } = await db.query<EndpointRow>(
    `INSERT INTO merchant_endpoints (endpoint_id, url, source, include_customer)
     VALUES ($1, $2, 'config', $3)
     ON CONFLICT (endpoint_id) DO UPDATE
        SET include_customer = EXCLUDED.include_customer,
            enabled = merchant_endpoints.enabled OR merchant_endpoints.url IS DISTINCT FROM EXCLUDED.url,
            disabled_reason = CASE WHEN merchant_endpoints.url IS DISTINCT FROM EXCLUDED.url THEN NULL
                                   ELSE merchant_endpoints.disabled_reason END,
            disabled_at = CASE WHEN merchant_endpoints.url IS DISTINCT FROM EXCLUDED.url THEN NULL
                               ELSE merchant_endpoints.disabled_at END,
            url = EXCLUDED.url,
            updated_at = now()
     RETURNING ${COLUMNS}`,
    [CONFIGURED_MERCHANT_ENDPOINT_ID, endpoint.url, endpoint.includeCustomer],
  );
  const row = rows[0];
  if (!row) throw new Error('the configured merchant endpoint was not written');
  return toEndpoint(row);
}

/** MERCHANT_WEBHOOK_URL was unset: the configured endpoint (if any) stops receiving new events. */
export async function disableConfiguredEndpoint(db: Pool | PoolClient): Promise<void> {
  await db.query(
    `UPDATE merchant_endpoints SET enabled = false, disabled_reason = 'not_configured', disabled_at = now(),
                                   updated_at = now()
      WHERE endpoint_id = $1 AND enabled`,
    [CONFIGURED_MERCHANT_ENDPOINT_ID],
  );
}

/** True when this call created it (false: the ID is taken). */
export async function insertAdminEndpoint(
  db: Pool | PoolClient,
  endpoint: {
    endpointId: string;
    url: string;
    eventTypes: MerchantEventType[] | null;
    includeCustomer: boolean;
    secrets: StoredSecret[];
  },
): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO merchant_endpoints (endpoint_id, url, source, event_types, include_customer, secrets_encrypted)
     VALUES ($1, $2, 'admin', $3, $4, $5) ON CONFLICT (endpoint_id) DO NOTHING`,
    [
      endpoint.endpointId,
      endpoint.url,
      endpoint.eventTypes,
      endpoint.includeCustomer,
      JSON.stringify(endpoint.secrets),
    ],
  );
  return result.rowCount === 1;
}

export interface EndpointChanges {
  url?: string;
  /** null: every type. */
  eventTypes?: MerchantEventType[] | null;
  includeCustomer?: boolean;
  enabled?: boolean;
}

export async function updateEndpoint(
  db: Pool | PoolClient,
  endpointId: string,
  changes: EndpointChanges,
  disabledReason: string,
): Promise<MerchantEndpoint | undefined> {
  const { rows } = await db.query<EndpointRow>(
    `UPDATE merchant_endpoints
        SET url = COALESCE($2, url),
            event_types = CASE WHEN $3::boolean THEN $4::text[] ELSE event_types END,
            include_customer = COALESCE($5, include_customer),
            enabled = COALESCE($6, enabled),
            disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason WHEN $6 THEN NULL ELSE $7 END,
            disabled_at = CASE WHEN $6 IS NULL THEN disabled_at WHEN $6 THEN NULL ELSE now() END,
            updated_at = now()
      WHERE endpoint_id = $1
      RETURNING ${COLUMNS}`,
    [
      endpointId,
      changes.url ?? null,
      changes.eventTypes !== undefined,
      changes.eventTypes ?? null,
      changes.includeCustomer ?? null,
      changes.enabled ?? null,
      disabledReason,
    ],
  );
  const row = rows[0];
  return row && toEndpoint(row);
}

/** The endpoint said it is gone (HTTP 410): no more deliveries until an operator enables it again. */
export async function disableGoneEndpoint(db: Pool | PoolClient, endpointId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE merchant_endpoints SET enabled = false, disabled_reason = 'gone', disabled_at = now(), updated_at = now()
      WHERE endpoint_id = $1 AND enabled`,
    [endpointId],
  );
  return result.rowCount === 1;
}

export async function replaceSecrets(
  db: Pool | PoolClient,
  endpointId: string,
  secrets: StoredSecret[],
): Promise<boolean> {
  const result = await db.query(
    'UPDATE merchant_endpoints SET secrets_encrypted = $2, updated_at = now() WHERE endpoint_id = $1',
    [endpointId, JSON.stringify(secrets)],
  );
  return result.rowCount === 1;
}
