// Building blocks for path entries: JSON bodies and the standard error responses, so each route states only
// what is particular to it.
import { z } from 'zod';
import type { ZodOpenApiResponseObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import { errorBodySchema } from '../http/responses.schema';

export function json(description: string, schema: z.ZodType): ZodOpenApiResponseObject {
  return { description, content: { 'application/json': { schema } } };
}

/** A stored answer given again for a repeated Idempotency-Key. */
export const replayedHeader = z.object({
  'idempotent-replayed': z
    .literal('true')
    .optional()
    .meta({ description: 'Present when this is the stored answer to an earlier identical request' }),
});

/** 503s that a caller should repeat. */
export const retryAfterHeader = z.object({
  'retry-after': z.string().meta({ description: 'Seconds to wait before repeating the request' }),
});

/** An error answer: the one error shape; `description` lists the codes the route can answer with here. */
export function error(description: string): ZodOpenApiResponseObject {
  return json(description, errorBodySchema);
}

/** Answers every JSON route can give: bad input, an unreachable dependency, a bug. */
export const commonErrors: ZodOpenApiResponsesObject = {
  '400': error('`validation_failed` (details list each field), `malformed_json`, `bad_request`'),
  '500': error('`internal_error`: details carry the request ID to find the log line'),
  '503': {
    ...error('`database_unavailable` or `temporal_unavailable`; retry after `Retry-After` seconds'),
    headers: retryAfterHeader,
  },
};

/** A public route over its per-IP or per-order limit (RATE_LIMIT_*). */
export const rateLimited: ZodOpenApiResponsesObject = {
  '429': {
    ...error('`rate_limited`: too many requests; retry after `Retry-After` seconds'),
    headers: retryAfterHeader,
  },
};

/** What every route behind an API key can answer before it runs. */
export const keyErrors: ZodOpenApiResponsesObject = {
  '401': {
    ...error('`unauthenticated`: no API key, or an unknown or revoked one'),
    headers: z.object({ 'www-authenticate': z.string().meta({ description: '`Bearer realm="orderpay"`' }) }),
  },
  '403': error('`forbidden`: the key lacks the scope this route needs (`details.requiredScope`)'),
};

/** What every /admin route can answer before it runs. */
export const adminErrors: ZodOpenApiResponsesObject = {
  ...commonErrors,
  ...keyErrors,
};
