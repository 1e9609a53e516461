// The admin API's door: an admin-scoped API key or ADMIN_API_TOKEN, 401 without one (a token that is not set is
// no key at all), and every request that gets through can read the audit log of admin actions.
import { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal/temporal-connection';
import { recordAdminAction } from '../../db/admin/admin-actions.repo';
import { createPool } from '../../db/pool';
import { apiTestConfig, apiTestLogger, apiTestMetrics, http } from '../support/api-harness';
import { samplePath, servedRoutes } from '../support/app-routes';
import { testTemporalAddress, uniqueId } from '../support/temporal';

const TOKEN = 'admin-test-token-0123456789';
const pool = createPool(process.env.DATABASE_URL ?? '', { max: 2 });
const connection = lazyTemporalConnection(testTemporalAddress());
const temporal = new Client({ connection, namespace: 'default' });
let enabled: RunningApiServer;
let disabled: RunningApiServer;

beforeAll(async () => {
  const start = (settings: Record<string, string>) =>
    startApiServer(
      {
        config: apiTestConfig(settings),
        pool,
        temporal,
        webhookVerifiers: {},
        logger: apiTestLogger,
        metrics: apiTestMetrics(pool),
      },
      0,
    );
  enabled = await start({ ADMIN_API_TOKEN: TOKEN });
  disabled = await start({});
});

afterAll(async () => {
  await enabled.stop();
  await disabled.stop();
  await connection.close();
  await pool.end();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every admin route the app serves, read from its router: a new admin route is covered without editing this. */
const adminRoutes = servedRoutes(
  createApp({
    config: apiTestConfig({ ADMIN_API_TOKEN: TOKEN }),
    pool,
    temporal,
    webhookVerifiers: {},
    logger: apiTestLogger,
    metrics: apiTestMetrics(pool),
  }),
).filter((route) => route.path.startsWith('/admin/'));

describe('admin API authentication', () => {
  it('when ADMIN_API_TOKEN is not set, then that token opens nothing: 401 unauthenticated', async () => {
    const response = await http(disabled.url, 'GET', '/admin/actions', { headers: bearer(TOKEN) });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthenticated');
  });

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', bearer('admin-test-token-0123456780')],
    ['a prefix of the token', bearer(TOKEN.slice(0, -1))],
    ['the token as Basic credentials', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])(
    'when the request carries %s, then it gets 401 unauthenticated with a Bearer challenge',
    async (_case, headers) => {
      const response = await http(enabled.url, 'GET', '/admin/actions', { headers });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('unauthenticated');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    },
  );

  it('when the app is walked, then it serves the admin routes (the list below is not empty)', () => {
    expect(adminRoutes.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining([
        'GET /admin/actions',
        'POST /admin/orders/:orderId/refunds',
        'POST /admin/webhooks/:id/retry',
      ]),
    );
  });

  it.each(adminRoutes.map((route) => [route.method, route.path] as const))(
    'when %s %s is called without a token, then 401 unauthenticated and no admin action is recorded',
    async (method, path) => {
      const requestId = uniqueId('unauth');
      const response = await http(enabled.url, method, samplePath(path), {
        ...(method === 'GET' ? {} : { body: '{}' }),
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k1', 'x-request-id': requestId },
      });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('unauthenticated');
      const recorded = await pool.query('SELECT 1 FROM admin_actions WHERE request_id = $1', [requestId]);
      expect(recorded.rows).toEqual([]);
    },
  );

  it('when an unknown admin path is asked without a token, then it is 401, so routes cannot be probed', async () => {
    const response = await http(enabled.url, 'GET', '/admin/no-such-thing');
    expect(response.status).toBe(401);
  });

  it('when the token is right, then the audit log of admin actions is readable and filtered by target', async () => {
    const target = uniqueId('order');
    await recordAdminAction(pool, {
      actor: 'alice',
      action: 'order.recheck',
      target,
      requestId: 'req-1',
      outcome: 'succeeded',
    });
    const response = await http(enabled.url, 'GET', `/admin/actions?target=${target}`, { headers: bearer(TOKEN) });
    expect(response.status).toBe(200);
    expect(response.body.actions).toEqual([
      expect.objectContaining({ actor: 'alice', action: 'order.recheck', target, outcome: 'succeeded' }),
    ]);
  });

  it('when the query is invalid, then it gets 400 validation_failed', async () => {
    const response = await http(enabled.url, 'GET', '/admin/actions?limit=0', { headers: bearer(TOKEN) });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
  });
});

describe('ADMIN_API_TOKEN', () => {
  it('when it is shorter than 16 characters, then the config is refused', () => {
    expect(() => apiTestConfig({ ADMIN_API_TOKEN: 'short' })).toThrow();
  });

  it('when it is blank, then it is not set, rather than an empty token anything would match', () => {
    expect(apiTestConfig({ ADMIN_API_TOKEN: '   ' }).ADMIN_API_TOKEN).toBeUndefined();
  });
});
