import type { ZodOpenApiPathsObject } from 'zod-openapi';
import {
  createEndpointRequestSchema,
  endpointPathSchema,
  endpointWithSecretSchema,
  eventPathSchema,
  eventsQuerySchema,
  merchantEndpointListSchema,
  merchantEndpointSchema,
  merchantEventDetailSchema,
  merchantEventListSchema,
  redeliverEventRequestSchema,
  redeliverFailedRequestSchema,
  redeliverResponseSchema,
  rotateSecretRequestSchema,
  updateEndpointRequestSchema,
} from '../../merchant-events/merchant-events.schema';
import { adminErrors, error, json } from '../responses';

/** Every merchant events operation: the admin bearer token. */
const admin = { tags: ['merchant events'], security: [{ adminBearer: [] }] };
const jsonBody = (schema: Parameters<typeof json>[1], required = true) => ({
  required,
  content: { 'application/json': { schema } },
});

export const merchantEventsPaths: ZodOpenApiPathsObject = {
  '/admin/merchant-endpoints': {
    get: {
      ...admin,
      summary: 'List merchant endpoints (never their secrets)',
      responses: { ...adminErrors, '200': json('Endpoints', merchantEndpointListSchema) },
    },
    post: {
      ...admin,
      summary: 'Add a merchant endpoint; the answer carries its signing secret, once',
      requestBody: jsonBody(createEndpointRequestSchema),
      responses: {
        ...adminErrors,
        '201': json('Created, with its `whsec_…` secret', endpointWithSecretSchema),
        '409': error('`endpoint_exists`: the ID is taken'),
      },
    },
  },
  '/admin/merchant-endpoints/{endpointId}': {
    get: {
      ...admin,
      summary: 'One merchant endpoint',
      requestParams: { path: endpointPathSchema },
      responses: {
        ...adminErrors,
        '200': json('The endpoint', merchantEndpointSchema),
        '404': error('`endpoint_not_found`'),
      },
    },
    patch: {
      ...admin,
      summary: 'Change its URL, event types or personal-data choice; disable or enable it',
      description:
        'Enabling an endpoint (also one disabled because it answered 410) sends the events that waited for it. The ' +
        'configured endpoint’s URL is MERCHANT_WEBHOOK_URL and cannot be changed here.',
      requestParams: { path: endpointPathSchema },
      requestBody: jsonBody(updateEndpointRequestSchema),
      responses: {
        ...adminErrors,
        '200': json('The endpoint as changed', merchantEndpointSchema),
        '404': error('`endpoint_not_found`'),
        '409': error('`endpoint_configured`: the URL comes from MERCHANT_WEBHOOK_URL'),
      },
    },
  },
  '/admin/merchant-endpoints/{endpointId}/rotate-secret': {
    post: {
      ...admin,
      summary: 'Make a new signing secret; the current ones keep signing for `keepPreviousFor`',
      requestParams: { path: endpointPathSchema },
      requestBody: jsonBody(rotateSecretRequestSchema, false),
      responses: {
        ...adminErrors,
        '200': json('The new secret (shown once)', endpointWithSecretSchema),
        '404': error('`endpoint_not_found`'),
        '409': error('`endpoint_configured`: rotate MERCHANT_WEBHOOK_SECRET instead'),
      },
    },
  },
  '/admin/merchant-events': {
    get: {
      ...admin,
      summary: 'List merchant events with their delivery state per endpoint, newest first',
      requestParams: { query: eventsQuerySchema },
      responses: { ...adminErrors, '200': json('Events', merchantEventListSchema) },
    },
  },
  '/admin/merchant-events/redeliver': {
    post: {
      ...admin,
      summary: 'Redeliver every failed delivery of the events created in a time range',
      requestBody: jsonBody(redeliverFailedRequestSchema),
      responses: { ...adminErrors, '202': json('Queued again', redeliverResponseSchema) },
    },
  },
  '/admin/merchant-events/{eventId}': {
    get: {
      ...admin,
      summary: 'One merchant event with every delivery attempt (status, latency, error)',
      requestParams: { path: eventPathSchema },
      responses: {
        ...adminErrors,
        '200': json('The event and its attempts', merchantEventDetailSchema),
        '404': error('`event_not_found`'),
      },
    },
  },
  '/admin/merchant-events/{eventId}/redeliver': {
    post: {
      ...admin,
      summary: 'Deliver one event again (to every endpoint it was for, or to one), with the same event ID',
      requestParams: { path: eventPathSchema },
      requestBody: jsonBody(redeliverEventRequestSchema, false),
      responses: {
        ...adminErrors,
        '202': json('Queued again', redeliverResponseSchema),
        '404': error('`event_not_found`'),
      },
    },
  },
};
