// Who may do what, over real HTTP against the real workflow and database: merchant routes need an API key with the
// right scope (401 without one, 403 with the wrong scope, and nothing changes either way); keys are created, listed
// and revoked through the admin API with every change audited; several keys work at once; a revoked key is a 401;
// the payer's client secret reads its order's public status and nothing else.
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId } from '../../contracts/order.contract';
import { http, postJson, startApiHarness, type ApiHarness, type HttpResult } from '../support/api-harness';
import { TEST_API_KEY } from '../support/api-keys';
import { uniqueId } from '../support/temporal';

const ADMIN_TOKEN = 'api-keys-admin-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'carol' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

let harness: ApiHarness;
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ config: { ADMIN_API_TOKEN: ADMIN_TOKEN } });
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

const checkoutBody = (orderId: string) => ({
  orderId,
  amount: 1_250,
  currency: 'USD',
  gateway: 'stripe',
  description: 'A mug',
  customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
  returnUrl: 'https://shop.example/return',
});

function expectError(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  expect(typeof result.body.error.message).toBe('string');
  expect(Object.keys(result.body)).toEqual(['error']);
}

async function orderRow(orderId: string): Promise<{ status: string } | undefined> {
  const { rows } = await harness.pool.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [
    orderId,
  ]);
  return rows[0];
}

async function workflowExists(orderId: string): Promise<boolean> {
  try {
    await harness.temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
    return true;
  } catch (error) {
    if ((error as Error).name === 'WorkflowNotFoundError') return false;
    throw error;
  }
}

async function createKey(name: string, scopes: string[]): Promise<{ id: string; key: string }> {
  const created = await postJson(api.url, '/admin/api-keys', { name, scopes }, admin);
  expect(created.status).toBe(201);
  return created.body as { id: string; key: string };
}

async function createOrder(orderId: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return postJson(api.url, '/orders', checkoutBody(orderId), headers);
}

describe('merchant routes without a usable key', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an unknown key', 'op_test_nobody-knows-this-key-0123456789'],
    ['a Basic credential', 'Basic b3A6eA=='],
  ])(
    'when POST /orders carries %s, then 401 unauthenticated with a Bearer challenge, and no order or workflow exists',
    async (_case, credential) => {
      const orderId = uniqueId('nokey');
      const headers: Record<string, string> =
        credential === undefined
          ? {}
          : { authorization: credential.startsWith('Basic') ? credential : `Bearer ${credential}` };
      const response = await http(api.url, 'POST', '/orders', {
        body: JSON.stringify(checkoutBody(orderId)),
        headers: { 'content-type': 'application/json', ...headers },
        withoutKey: true,
      });
      expectError(response, 401, 'unauthenticated');
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="orderpay"');
      expect(await orderRow(orderId)).toBeUndefined();
      expect(await workflowExists(orderId)).toBe(false);
      const idempotency = await harness.pool.query('SELECT 1 FROM idempotency_records WHERE idempotency_key = $1', [
        orderId,
      ]);
      expect(idempotency.rows).toEqual([]);
    },
  );

  it('when GET /orders/:id and POST /orders/:id/cancel come without a key, then 401 and the order is untouched', async () => {
    const orderId = uniqueId('nokey-existing');
    expect((await createOrder(orderId)).status).toBe(201);
    expectError(await http(api.url, 'GET', `/orders/${orderId}`, { withoutKey: true }), 401, 'unauthenticated');
    const cancel = await http(api.url, 'POST', `/orders/${orderId}/cancel`, {
      body: JSON.stringify({ reason: 'no key' }),
      headers: { 'content-type': 'application/json' },
      withoutKey: true,
    });
    expectError(cancel, 401, 'unauthenticated');
    expect(await orderRow(orderId)).toEqual({ status: 'AWAITING_PAYMENT' });
  });

  it('when the body is invalid and there is no key, then the answer is 401, not a validation error', async () => {
    const response = await http(api.url, 'POST', '/orders', {
      body: '{"orderId":',
      headers: { 'content-type': 'application/json' },
      withoutKey: true,
    });
    expectError(response, 401, 'unauthenticated');
  });
});

describe('scopes', () => {
  it('when a read-only key creates or cancels an order, then 403 forbidden and nothing changes; it can read', async () => {
    const reader = await createKey('reader', ['orders:read']);
    const orderId = uniqueId('scope');
    const refused = await createOrder(orderId, bearer(reader.key));
    expectError(refused, 403, 'forbidden');
    expect(refused.body.error.details).toEqual({ requiredScope: 'orders:write' });
    expect(await orderRow(orderId)).toBeUndefined();
    expect(await workflowExists(orderId)).toBe(false);

    expect((await createOrder(orderId)).status).toBe(201);
    expectError(
      await postJson(api.url, `/orders/${orderId}/cancel`, { reason: 'x' }, bearer(reader.key)),
      403,
      'forbidden',
    );
    expect(await orderRow(orderId)).toEqual({ status: 'AWAITING_PAYMENT' });
    const read = await http(api.url, 'GET', `/orders/${orderId}`, { headers: bearer(reader.key) });
    expect(read.status).toBe(200);
    expect(read.body.status).toBe('AWAITING_PAYMENT');
  });

  it('when a write-only key reads an order, then 403 forbidden', async () => {
    const writer = await createKey('writer', ['orders:write']);
    const orderId = uniqueId('writer');
    expect((await createOrder(orderId, bearer(writer.key))).status).toBe(201);
    expectError(await http(api.url, 'GET', `/orders/${orderId}`, { headers: bearer(writer.key) }), 403, 'forbidden');
  });

  it('when a merchant key calls the admin API, then 403; an admin key gets in and is the audit actor by name', async () => {
    expectError(await http(api.url, 'GET', '/admin/actions', { headers: bearer(TEST_API_KEY) }), 403, 'forbidden');
    const operator = await createKey('ops-key', ['admin']);
    expect((await http(api.url, 'GET', '/admin/api-keys', { headers: bearer(operator.key) })).status).toBe(200);
    // The admin key is no merchant key.
    expectError(await createOrder(uniqueId('admin-order'), bearer(operator.key)), 403, 'forbidden');

    const made = await postJson(
      api.url,
      '/admin/api-keys',
      { name: 'made-by-key', scopes: ['orders:read'] },
      bearer(operator.key),
    );
    expect(made.status).toBe(201);
    const { rows } = await harness.pool.query<{ actor: string }>(
      "SELECT actor FROM admin_actions WHERE action = 'api_key.create' AND target = $1",
      [made.body.id],
    );
    expect(rows).toEqual([{ actor: 'ops-key' }]);
  });

  it('when a refunds:write key refunds, then it passes the admin door; for anything else under /admin it is 403', async () => {
    const refunder = await createKey('refunder', ['refunds:write']);
    const orderId = uniqueId('refund-scope');
    expect((await createOrder(orderId)).status).toBe(201);
    const refund = await postJson(
      api.url,
      `/admin/orders/${orderId}/refunds`,
      { reason: 'not paid yet' },
      { ...bearer(refunder.key), 'idempotency-key': uniqueId('rk') },
    );
    // Through the door: the refund itself is refused because nothing was paid.
    expectError(refund, 409, 'invalid_transition');
    expectError(await http(api.url, 'GET', '/admin/orders', { headers: bearer(refunder.key) }), 403, 'forbidden');
  });
});

describe('managing keys', () => {
  it('when a key is created, listed and revoked, then it works until revoked, the list never shows the key, and each change is audited', async () => {
    const created = await postJson(
      api.url,
      '/admin/api-keys',
      { name: 'shop', scopes: ['orders:write', 'orders:read'] },
      admin,
    );
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^key_[a-z0-9]{16}$/),
      name: 'shop',
      scopes: ['orders:write', 'orders:read'],
      revoked: false,
      lastUsedAt: null,
    });
    const { id, key } = created.body as { id: string; key: string };
    expect(key).toMatch(/^op_test_[A-Za-z0-9_-]{43}$/);
    expect(created.body.prefix).toBe(key.slice(0, 12));

    const stored = await harness.pool.query<{ key_hash: Buffer }>('SELECT key_hash FROM api_keys WHERE id = $1', [id]);
    expect(stored.rows[0]?.key_hash.toString('hex')).not.toContain(Buffer.from(key).toString('hex'));

    const orderId = uniqueId('managed');
    expect((await createOrder(orderId, bearer(key))).status).toBe(201);

    const listed = await http(api.url, 'GET', '/admin/api-keys', { headers: admin });
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(key);
    const entry = (listed.body.apiKeys as { id: string; lastUsedAt: string | null }[]).find((k) => k.id === id);
    expect(entry?.lastUsedAt).toEqual(expect.any(String));

    const revoked = await http(api.url, 'POST', `/admin/api-keys/${id}/revoke`, { headers: admin });
    expect(revoked.status).toBe(200);
    expect(revoked.body.apiKey).toMatchObject({ id, revoked: true, revokedAt: expect.any(String) });
    expectError(await http(api.url, 'GET', `/orders/${orderId}`, { headers: bearer(key) }), 401, 'unauthenticated');
    expectError(await createOrder(uniqueId('after-revoke'), bearer(key)), 401, 'unauthenticated');

    const again = await http(api.url, 'POST', `/admin/api-keys/${id}/revoke`, { headers: admin });
    expect(again.body.apiKey.revokedAt).toBe(revoked.body.apiKey.revokedAt);

    const audit = await harness.pool.query<{ actor: string; action: string; outcome: string; details: object }>(
      'SELECT actor, action, outcome, details FROM admin_actions WHERE target = $1 ORDER BY id',
      [id],
    );
    expect(audit.rows.map(({ actor, action, outcome }) => ({ actor, action, outcome }))).toEqual([
      { actor: 'carol', action: 'api_key.create', outcome: 'succeeded' },
      { actor: 'carol', action: 'api_key.revoke', outcome: 'succeeded' },
      { actor: 'carol', action: 'api_key.revoke', outcome: 'already_revoked' },
    ]);
    expect(JSON.stringify(audit.rows)).not.toContain(key);
  });

  it('when two keys are active at once, then both work (rotation without downtime)', async () => {
    const oldKey = await createKey('rotate-old', ['orders:write', 'orders:read']);
    const newKey = await createKey('rotate-new', ['orders:write', 'orders:read']);
    expect((await createOrder(uniqueId('rot-a'), bearer(oldKey.key))).status).toBe(201);
    expect((await createOrder(uniqueId('rot-b'), bearer(newKey.key))).status).toBe(201);
    await http(api.url, 'POST', `/admin/api-keys/${oldKey.id}/revoke`, { headers: admin });
    expect((await createOrder(uniqueId('rot-c'), bearer(newKey.key))).status).toBe(201);
    expectError(await createOrder(uniqueId('rot-d'), bearer(oldKey.key)), 401, 'unauthenticated');
  });

  it('when a key is used again within a minute, then last_used_at is not written again', async () => {
    const busy = await createKey('busy', ['orders:read']);
    await http(api.url, 'GET', '/orders/none-1', { headers: bearer(busy.key) });
    const read = async () =>
      (
        await harness.pool.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE id = $1', [
          busy.id,
        ])
      ).rows[0]?.last_used_at?.toISOString();
    // The first use is written asynchronously to the request.
    let first: string | undefined;
    for (let i = 0; i < 50 && first === undefined; i += 1) {
      first = await read();
      if (first === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(first).toEqual(expect.any(String));
    await http(api.url, 'GET', '/orders/none-2', { headers: bearer(busy.key) });
    await http(api.url, 'GET', '/orders/none-3', { headers: bearer(busy.key) });
    expect(await read()).toBe(first);
  });

  it.each([
    ['an unknown scope', { name: 'x', scopes: ['orders:delete'] }],
    ['no scopes', { name: 'x', scopes: [] }],
    ['a name with spaces', { name: 'my shop', scopes: ['orders:read'] }],
  ])('when a key is requested with %s, then 400 validation_failed and no key is made', async (_case, body) => {
    // Other suites register keys at the same time: count only keys of this name.
    const named = () => harness.pool.query('SELECT count(*)::int AS n FROM api_keys WHERE name = $1', [body.name]);
    const before = await named();
    expectError(await postJson(api.url, '/admin/api-keys', body, admin), 400, 'validation_failed');
    expect((await named()).rows[0]).toEqual(before.rows[0]);
  });

  it('when an unknown key ID is revoked, then 404 api_key_not_found', async () => {
    expectError(
      await http(api.url, 'POST', '/admin/api-keys/key_0000000000000000/revoke', { headers: admin }),
      404,
      'api_key_not_found',
    );
  });
});

describe('the payer’s client secret', () => {
  it('when a payer holds only the client secret, then it reads the public status and nothing else', async () => {
    const orderId = uniqueId('payer');
    const created = await createOrder(orderId);
    expect(created.status).toBe(201);
    const clientSecret = created.body.clientSecret as string;
    expect(clientSecret).toMatch(new RegExp(`^${orderId}_secret_[A-Za-z0-9_-]{43}$`));

    const status = await http(
      api.url,
      'GET',
      `/orders/${orderId}/status?client_secret=${encodeURIComponent(clientSecret)}`,
    );
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      orderId,
      status: 'AWAITING_PAYMENT',
      amount: 1_250,
      currency: 'USD',
      expiresAt: created.body.expiresAt,
    });
    expect(status.text).not.toContain('ada@example.com');
    expect(status.text).not.toContain('shop.example');

    // The secret is no key: not for reading the full order, not for cancelling.
    expectError(
      await http(api.url, 'GET', `/orders/${orderId}`, { headers: bearer(clientSecret) }),
      401,
      'unauthenticated',
    );
    const cancel = await http(
      api.url,
      'POST',
      `/orders/${orderId}/cancel?client_secret=${encodeURIComponent(clientSecret)}`,
      {
        body: JSON.stringify({ reason: 'payer' }),
        headers: { 'content-type': 'application/json', ...bearer(clientSecret) },
      },
    );
    expectError(cancel, 401, 'unauthenticated');
    expect(await orderRow(orderId)).toEqual({ status: 'AWAITING_PAYMENT' });
  });

  it('when the checkout is replayed, then the client secret is the same', async () => {
    const orderId = uniqueId('payer-replay');
    const first = await createOrder(orderId);
    const replay = await createOrder(orderId);
    expect([first.status, replay.status]).toEqual([201, 200]);
    expect(replay.body.clientSecret).toBe(first.body.clientSecret);
  });

  it('when the secret is wrong, missing or another order’s, then the same 404 as for an order that does not exist', async () => {
    const orderId = uniqueId('payer-wrong');
    const other = uniqueId('payer-other');
    expect((await createOrder(orderId)).status).toBe(201);
    const otherSecret = (await createOrder(other)).body.clientSecret as string;
    const statusOf = (id: string, secret?: string) =>
      http(
        api.url,
        'GET',
        `/orders/${id}/status${secret === undefined ? '' : `?client_secret=${encodeURIComponent(secret)}`}`,
      );
    const answers = [
      await statusOf(orderId),
      await statusOf(orderId, `${orderId}_secret_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`),
      await statusOf(orderId, otherSecret),
      await statusOf(uniqueId('payer-missing'), otherSecret),
    ];
    for (const answer of answers) expectError(answer, 404, 'order_not_found');
    expect(new Set(answers.map((answer) => JSON.stringify(answer.body))).size).toBe(1);
  });
});
