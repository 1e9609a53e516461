// Turns what Khalti answers (or fails to answer) into the two errors activities understand: retry it, or give up.
import { GatewayRejectedError, GatewayUnavailableError, retryAfterMs } from '../gateway-errors';
import { khaltiErrorBodySchema } from './khalti.schemas';

/** One HTTP exchange with Khalti, already read: the status and the body parsed as JSON when it was JSON. */
export interface KhaltiResponse {
  status: number;
  body: unknown;
  retryAfter?: string;
}

/**
 * - 5xx and 429 are transient: retry, after Retry-After when sent.
 * - Any other 4xx (validation, authentication, unknown pidx) will not change on retry.
 * Lookup reads its 400 answers as statuses before it gets here (see khalti.gateway.ts).
 */
export function khaltiHttpError(response: KhaltiResponse, operation: string): Error {
  const { status } = response;
  const detail = describeBody(response.body);
  if (status >= 500 || status === 429) {
    return new GatewayUnavailableError(
      `khalti ${operation}: HTTP ${status}${detail ? ` (${detail})` : ''}`,
      retryAfterMs(response.retryAfter),
      status,
    );
  }
  return new GatewayRejectedError(
    `khalti ${operation}: HTTP ${status}${detail ? ` (${detail})` : ''}`,
    khaltiCodeOf(response),
    status,
  );
}

/** No answer at all (refused, reset, timeout): nothing says whether Khalti acted, so only idempotent calls retry. */
export function khaltiNetworkError(error: unknown, operation: string): GatewayUnavailableError {
  const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : '';
  return new GatewayUnavailableError(`khalti ${operation}: no response (${reason || String(error)})`);
}

/** A 2xx whose body is not what Khalti documents: a drift a deploy fixes, not the payer's problem, so retried. */
export function khaltiShapeError(operation: string, problem: string): GatewayUnavailableError {
  return new GatewayUnavailableError(`khalti ${operation}: unexpected response shape (${problem})`);
}

function khaltiCodeOf(response: KhaltiResponse): string {
  if (response.status === 401 || response.status === 403) return 'khalti_unauthorized';
  if (response.status === 404) return 'khalti_not_found';
  const parsed = khaltiErrorBodySchema.safeParse(response.body);
  return parsed.success && parsed.data.error_key ? parsed.data.error_key : `khalti_http_${response.status}`;
}

/** Khalti's own words for the log: `detail`, or the names of the fields a validation error lists. */
function describeBody(body: unknown): string {
  const parsed = khaltiErrorBodySchema.safeParse(body);
  if (!parsed.success) return '';
  if (parsed.data.detail) return parsed.data.detail.slice(0, 200);
  const fields = Object.keys(parsed.data).filter((key) => !['error_key', 'status_code'].includes(key));
  return fields.length > 0 ? `invalid: ${fields.slice(0, 10).join(', ')}` : '';
}
