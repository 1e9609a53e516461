import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';

export const metricsPaths: ZodOpenApiPathsObject = {
  '/metrics': {
    get: {
      tags: ['health'],
      summary: 'Prometheus metrics of the API (text exposition format 0.0.4; no auth: counts only)',
      responses: {
        '200': {
          description:
            'Checkouts by outcome, responses by route, webhook latency and codes, manual refunds open, process',
          content: { 'text/plain': { schema: z.string() } },
        },
      },
    },
  },
};
