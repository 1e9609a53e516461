import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { healthResponseSchema, readinessResponseSchema } from '../../http/responses.schema';
import { error, json } from '../responses';

export const healthPaths: ZodOpenApiPathsObject = {
  '/healthz': {
    get: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      responses: { '200': json('Alive', healthResponseSchema) },
    },
  },
  '/readyz': {
    get: {
      tags: ['health'],
      summary: 'Readiness: PostgreSQL and Temporal are reachable',
      responses: {
        '200': json('Ready', readinessResponseSchema),
        '503': error('`not_ready`: details.checks names the dependency that failed'),
      },
    },
  },
};
