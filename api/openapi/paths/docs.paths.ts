import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { DOCS_ASSET_NAMES } from '../docs-assets';
import { error } from '../responses';

export const docsPaths: ZodOpenApiPathsObject = {
  '/openapi.json': {
    get: {
      tags: ['docs'],
      summary: 'This document (OpenAPI 3.1), generated from the zod schemas',
      responses: {
        '200': {
          description: 'The OpenAPI document',
          content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
        },
      },
    },
  },
  '/docs': {
    get: {
      tags: ['docs'],
      summary: 'The rendered API documentation (Swagger UI, served locally; works offline)',
      responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
    },
  },
  '/docs/init.js': {
    get: {
      tags: ['docs'],
      summary: 'The docs page’s start-up script (a file, so the page needs no inline script)',
      responses: {
        '200': { description: 'JavaScript', content: { 'text/javascript': { schema: z.string() } } },
      },
    },
  },
  '/docs/assets/{file}': {
    get: {
      tags: ['docs'],
      summary: 'Swagger UI’s own files, from the swagger-ui-dist package',
      requestParams: {
        path: z.object({ file: z.enum(DOCS_ASSET_NAMES) }),
      },
      responses: {
        '200': { description: 'The file' },
        '404': error('`not_found`: not one of the page’s files'),
      },
    },
  },
};
