// The OpenAPI document against the app itself: every method + path the Express router serves is documented (read
// from the router stack, so an undocumented new route fails here), nothing documented is missing from the app, the
// document is valid OpenAPI 3.1, and /docs renders it from local files only.
import { Client } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createApp } from '../../api/app';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal/temporal-connection';
import { createPool } from '../../db/pool';
import { apiTestConfig, apiTestLogger, apiTestMetrics, http } from '../support/api-harness';
import { openApiPath, servedRoutes } from '../support/app-routes';
import { testTemporalAddress } from '../support/temporal';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const pool = createPool(process.env.DATABASE_URL ?? '', { max: 2 });
const connection = lazyTemporalConnection(testTemporalAddress());
const temporal = new Client({ connection, namespace: 'default' });
const deps = {
  config: apiTestConfig({ ADMIN_API_TOKEN: 'openapi-test-token-0123456789' }),
  pool,
  temporal,
  webhookVerifiers: {},
  logger: apiTestLogger,
  metrics: apiTestMetrics(pool),
};
let api: RunningApiServer;

beforeAll(async () => {
  api = await startApiServer(deps, 0);
});

afterAll(async () => {
  await api.stop();
  await connection.close();
  await pool.end();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the document is inspected as plain JSON
async function servedDocument(): Promise<any> {
  const response = await http(api.url, 'GET', '/openapi.json');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return response.body;
}

/** The package's own CLI in a child process: it is ESM-only, which jest's CommonJS runtime cannot load. */
async function validateOpenApi(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'openapi-'));
  try {
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document));
    const cli = require.resolve('@seriousme/openapi-schema-validator/bin/validate-api-cli.js');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, file]).catch((error: { stdout?: string }) => ({
      stdout: error.stdout ?? '',
    }));
    return JSON.parse(stdout) as { valid: boolean; errors?: unknown };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('GET /openapi.json', () => {
  test('when the app router is walked, then every route it serves is in the document, and nothing else is', async () => {
    const document = await servedDocument();
    const served = servedRoutes(createApp(deps)).map((route) => `${route.method} ${openApiPath(route.path)}`);
    const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(
      ([documentedPath, item]) =>
        Object.keys(item)
          .filter((key) => HTTP_METHODS.includes(key))
          .map((method) => `${method.toUpperCase()} ${documentedPath}`),
    );

    expect(served.length).toBeGreaterThan(10);
    expect(served.filter((route) => !documented.includes(route))).toEqual([]);
    expect(documented.filter((route) => !served.includes(route))).toEqual([]);
  });

  test('when the document is validated, then it is valid OpenAPI 3.1', async () => {
    const document = await servedDocument();
    expect(document.openapi).toBe('3.1.0');
    expect(await validateOpenApi(document)).toEqual({ valid: true });
  });

  test('when a document breaks the OpenAPI schema, then the validator says so (the check can fail)', async () => {
    const document = await servedDocument();
    const broken = { ...document, paths: { '/orders': { post: { responses: { ok: 'not a response object' } } } } };
    expect((await validateOpenApi(broken)).valid).toBe(false);
  });

  test('when the document is read, then request bodies and responses come from the zod schemas', async () => {
    const document = await servedDocument();
    const checkout = document.components.schemas.CheckoutRequest;
    expect(checkout.required).toEqual(expect.arrayContaining(['orderId', 'amount', 'currency', 'gateway']));
    expect(checkout.properties.amount).toMatchObject({ type: 'integer', exclusiveMinimum: 0 });
    expect(checkout.additionalProperties).toBe(false);
    const refund = document.paths['/admin/orders/{orderId}/refunds'].post;
    expect(refund.security).toEqual([{ adminBearer: [] }]);
    expect(refund.parameters).toContainEqual(
      expect.objectContaining({ in: 'header', name: 'idempotency-key', required: true }),
    );
    expect(document.components.securitySchemes.adminBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.components.schemas.Error.properties.error.required).toEqual(['code', 'message']);
  });
});

describe('GET /docs', () => {
  test('when the docs page is loaded, then it and everything it references are served locally', async () => {
    const page = await http(api.url, 'GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);

    const references = [...page.text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    expect(references.length).toBeGreaterThanOrEqual(4);
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const reference of references) {
      expect(reference).toMatch(/^\/[^/]/);
      const asset = await fetch(`${api.url}${reference}`);
      expect({ reference, status: asset.status }).toEqual({ reference, status: 200 });
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }

    const init = await http(api.url, 'GET', '/docs/init.js');
    expect(init.text).toContain("url: '/openapi.json'");
    expect(init.text).not.toMatch(/https?:\/\//);
  });

  test('when a file outside the page’s assets is asked for, then 404', async () => {
    expect((await http(api.url, 'GET', '/docs/assets/index.html')).status).toBe(404);
    expect((await http(api.url, 'GET', '/docs/assets/..%2Fpackage.json')).status).toBe(404);
  });
});
