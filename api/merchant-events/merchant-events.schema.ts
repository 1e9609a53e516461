// What the merchant events admin API accepts and answers, as zod schemas: parsed at the edge by
// merchant-events.routes.ts and rendered into the OpenAPI document by api/openapi/paths/merchant-events.paths.ts.
import { z } from 'zod';
import { MERCHANT_ENDPOINT_ID_PATTERN, MERCHANT_EVENT_TYPES } from '../../contracts/merchant-events.contract';
import { parseDurationMs } from '../../domain/duration';
import { orderIdSchema } from '../orders/checkout.schema';
import { timestamp } from '../http/responses.schema';

export const merchantEventTypeSchema = z
  .enum(MERCHANT_EVENT_TYPES)
  .meta({ id: 'MerchantEventType', description: 'A merchant event type' });
const eventTypes = z
  .array(merchantEventTypeSchema)
  .min(1)
  .transform((types) => [...new Set(types)])
  .meta({ description: 'The event types the endpoint receives; null (or absent on create): every type' });
const endpointUrl = z
  .url({ protocol: /^https?$/ })
  .max(2_048)
  .meta({ description: 'Where events are POSTed', example: 'https://shop.example.com/orderpay-events' });
const endpointId = z
  .string()
  .regex(MERCHANT_ENDPOINT_ID_PATTERN)
  .meta({ description: 'The endpoint ID: 1 to 64 letters, digits, `.`, `_` or `-`', example: 'shop-main' });

export const endpointPathSchema = z.object({ endpointId });
export const eventPathSchema = z.object({
  eventId: z
    .string()
    .regex(/^evt_[0-9a-f]{32}$/)
    .meta({ description: 'The event ID (the `webhook-id` header)' }),
});

export const createEndpointRequestSchema = z
  .object({
    endpointId,
    url: endpointUrl,
    eventTypes: eventTypes.nullable().optional(),
    includeCustomer: z
      .boolean()
      .default(false)
      .meta({ description: "Whether events carry the order's customer (name, email, phone): personal data" }),
  })
  .strict()
  .meta({ id: 'CreateMerchantEndpointRequest' });

export const updateEndpointRequestSchema = z
  .object({
    url: endpointUrl.optional(),
    eventTypes: eventTypes.nullable().optional(),
    includeCustomer: z.boolean().optional(),
    enabled: z.boolean().optional().meta({ description: 'false disables the endpoint; true enables it again' }),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, { message: 'name at least one field to change' })
  .meta({ id: 'UpdateMerchantEndpointRequest' });

/** At most 30 days: a rotation is a hand-over, not a second permanent secret. */
const MAX_OVERLAP_MS = 30 * 86_400_000;
export const rotateSecretRequestSchema = z
  .object({
    keepPreviousFor: z
      .string()
      .default('24h')
      .transform((text, ctx) => {
        const ms = parseDurationMs(text);
        if (ms === undefined || ms < 0 || ms > MAX_OVERLAP_MS) {
          ctx.addIssue({ code: 'custom', message: 'must be a duration such as 0s, 1h or 7d (at most 30d)' });
          return z.NEVER;
        }
        return ms;
      })
      .meta({
        description: 'How long the current secrets keep signing next to the new one (default 24h; 0s: at once)',
        example: '24h',
      }),
  })
  .strict()
  .meta({ id: 'RotateMerchantSecretRequest' });

export const redeliverEventRequestSchema = z
  .object({ endpointId: endpointId.optional().meta({ description: 'Only to this endpoint (default: every one)' }) })
  .strict()
  .meta({ id: 'RedeliverMerchantEventRequest' });

export const redeliverFailedRequestSchema = z
  .object({
    from: timestamp.meta({ description: 'Events created at or after this time' }),
    to: timestamp.meta({ description: 'Events created before this time' }),
    endpointId: endpointId.optional().meta({ description: 'Only to this endpoint (default: every one)' }),
  })
  .strict()
  .refine((body) => Date.parse(body.from) < Date.parse(body.to), { message: '`from` must be before `to`' })
  .meta({ id: 'RedeliverFailedMerchantEventsRequest' });

export const deliveryStateSchema = z
  .enum(['pending', 'delivered', 'failed', 'cancelled'])
  .meta({ id: 'MerchantDeliveryState', description: 'Where a delivery of an event to one endpoint stands' });

export const eventsQuerySchema = z.object({
  orderId: orderIdSchema.optional(),
  type: merchantEventTypeSchema.optional(),
  deliveryState: deliveryStateSchema.optional().meta({ description: 'Only events with a delivery in this state' }),
  since: timestamp.optional().meta({ description: 'Events created at or after this time' }),
  until: timestamp.optional().meta({ description: 'Events created before this time' }),
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'At most this many, newest first' }),
});

export const merchantEndpointSchema = z
  .object({
    endpointId: z.string(),
    url: z.string(),
    source: z.enum(['config', 'admin']).meta({ description: '`config`: MERCHANT_WEBHOOK_URL; `admin`: this API' }),
    eventTypes: z.array(merchantEventTypeSchema).nullable(),
    includeCustomer: z.boolean(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable().meta({ description: '`gone` (it answered 410), `disabled`, …' }),
    disabledAt: timestamp.nullable(),
    secrets: z.array(z.object({ expiresAt: timestamp.nullable() })).meta({
      description: 'The signing secrets (never their values); config endpoints sign with MERCHANT_WEBHOOK_SECRET',
    }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'MerchantEndpoint' });
export type MerchantEndpointBody = z.infer<typeof merchantEndpointSchema>;

export const merchantEndpointListSchema = z
  .object({ endpoints: z.array(merchantEndpointSchema) })
  .meta({ id: 'MerchantEndpointList' });

export const endpointWithSecretSchema = z
  .object({
    endpoint: merchantEndpointSchema,
    secret: z.string().meta({ description: 'The new `whsec_…` signing secret. Shown once: store it now.' }),
  })
  .meta({ id: 'MerchantEndpointWithSecret' });

const deliverySchema = z.object({
  endpointId: z.string(),
  state: deliveryStateSchema,
  attempts: z.number().int(),
  deliveredAt: timestamp.nullable(),
  lastError: z.string().nullable(),
});

export const merchantEventSchema = z
  .object({
    eventId: z.string(),
    orderId: z.string(),
    sequence: z.number().int().meta({ description: 'Per order, from 1: receivers drop events older than they hold' }),
    type: merchantEventTypeSchema,
    createdAt: timestamp,
    data: z.record(z.string(), z.unknown()).meta({ description: 'The `data` of the delivered body' }),
    deliveries: z.array(deliverySchema),
  })
  .meta({ id: 'MerchantEvent' });

export const merchantEventListSchema = z
  .object({ events: z.array(merchantEventSchema) })
  .meta({ id: 'MerchantEventList' });

export const merchantEventDetailSchema = merchantEventSchema
  .extend({
    attempts: z.array(
      z.object({
        endpointId: z.string(),
        attemptedAt: timestamp,
        outcome: z.enum(['delivered', 'rejected', 'gone', 'error', 'timeout']),
        statusCode: z.number().int().nullable(),
        latencyMs: z.number().int(),
        error: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'MerchantEventWithAttempts' });

export const redeliverResponseSchema = z
  .object({ reset: z.number().int().meta({ description: 'Deliveries put back in the queue' }) })
  .meta({ id: 'MerchantRedelivery' });
