// The OpenAPI 3.1 document, generated from the zod schemas the routes parse with and the response schemas the use
// cases return. Nothing here is written by hand except prose: routes are documented in ./paths.
import { createDocument } from 'zod-openapi';
import { apiPaths } from './paths';

export function createOpenApiDocument(options: { serverUrl?: string } = {}): ReturnType<typeof createDocument> {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'orderpay',
      version: '0.1.0',
      description:
        'Durable payment orchestration on Temporal. Money is always integer minor units plus an ISO 4217 currency. ' +
        'Every error has the shape `{"error":{"code","message","details"?}}`.',
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    tags: [
      { name: 'orders', description: 'Checkout, order status and cancellation' },
      { name: 'webhooks', description: 'Signed gateway events' },
      { name: 'admin', description: 'Operators: refunds, re-checks, order lists, the webhook dead-letter queue' },
      { name: 'merchant events', description: 'Signed events to merchants: endpoints, the event log, redelivery' },
      { name: 'health', description: 'Liveness and readiness (Prometheus metrics are on API_METRICS_PORT)' },
      { name: 'docs', description: 'This document and its rendered page' },
      { name: 'codec', description: "Temporal's codec server protocol, for reading encrypted histories in the Web UI" },
    ],
    components: {
      securitySchemes: {
        adminBearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key with the `admin` scope (or ADMIN_API_TOKEN); refunds also accept `refunds:write`. ' +
            'Name yourself in X-Admin-Actor for the audit log (default: the key’s name)',
        },
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'A merchant API key (`op_live_…` / `op_test_…`) with the scope the route names',
        },
      },
    },
    paths: apiPaths,
  });
}
