// Property-based fuzzing of the running system: FUZZ_REQUESTS (default 10,000) generated requests, seeded
// (FUZZ_SEED, printed on failure), against the real api, worker and sandbox processes on a database of their own.
// Every public route, the merchant routes with and without a key and the admin routes with and without the token
// get generated bodies, headers, paths and methods. Every request is invalid or forged by construction. Asserted:
// no 5xx; the one error shape on every 4xx; no row created or changed (table checksums before and after); no
// forged, tampered or out-of-window webhook or callback accepted; no process restarted; and no secret, key,
// card-like number, email or phone from the requests in any process's output.
import fc from 'fast-check';
import pg from 'pg';
import Stripe from 'stripe';
import { SANDBOX_STRIPE_WEBHOOK_SECRET } from '../../config/env';
import { migrateToLatest } from '../../db/migrate';
import { createPool, type Pool } from '../../db/pool';
import { merchantAuthorization, registerTestApiKey, TEST_API_KEY } from '../support/api-keys';
import { eventually } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2_147_483_647);
const CONCURRENCY = 8;
jest.setTimeout(20 * 60_000);

const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const FORGER_SECRET = 'whsec_forger_0123456789';
/** Planted in generated requests; none may reach any process's output, in any encoding. */
const PLANTED = {
  card: '4242424242424242',
  cardGrouped: '4242 4242 4242 4242',
  email: 'fuzz.person@example.test',
  phone: '+9779812345678',
};
const NEVER_LOGGED = [
  ...Object.values(PLANTED),
  TEST_API_KEY,
  ADMIN_TOKEN,
  SANDBOX_STRIPE_WEBHOOK_SECRET,
  FORGER_SECRET,
];
/** Rows nothing invalid may create or change (admin_actions records refused admin actions; rate_limits counts). */
const CHECKED_TABLES: Record<string, string> = {
  orders: 'SELECT * FROM orders',
  order_status_history: 'SELECT * FROM order_status_history',
  payment_attempts: 'SELECT * FROM payment_attempts',
  refunds: 'SELECT * FROM refunds',
  webhook_events: 'SELECT * FROM webhook_events',
  idempotency_records: 'SELECT * FROM idempotency_records',
  reconciliation_reports: 'SELECT * FROM reconciliation_reports',
  reconciliation_report_rows: 'SELECT * FROM reconciliation_report_rows',
  reconciliation_runs: 'SELECT * FROM reconciliation_runs',
  // last_used_at moves with every authenticated request; the keys themselves must not.
  api_keys: 'SELECT id, name, prefix, key_hash, scopes, revoked_at FROM api_keys',
};

interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** A forged webhook or callback: any 2xx or 3xx answer means it was accepted. */
  forged?: boolean;
}

let stack: Stack;
let pool: Pool;
let databaseName: string;
let khalti: { orderId: string; pidx: string };

beforeAll(async () => {
  const base = new URL(process.env.DATABASE_URL ?? '');
  databaseName = `${base.pathname.slice(1)}_fuzz`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.end();
  base.pathname = `/${databaseName}`;
  await migrateToLatest(base.toString());
  pool = createPool(base.toString(), { max: 2 });
  await registerTestApiKey(pool);
  const env = {
    DATABASE_URL: base.toString(),
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    RATE_LIMIT_PER_IP: '100000000',
    RATE_LIMIT_PER_ORDER: '100000000',
    RATE_LIMIT_WEBHOOK_FAILURES_PER_IP: '100000000',
    POLL_INITIAL_INTERVAL: '1h',
    POLL_MAX_INTERVAL: '1h',
  };
  stack = await startStack(env, { DATABASE_URL: base.toString() });
  // One real Khalti order, so forged returns can name it (with a wrong pidx) or borrow its real pidx.
  const orderId = uniqueId('fuzz-khalti');
  const created = await stack.fetch('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 1_000, currency: 'NPR', gateway: 'khalti' }),
  });
  expect(created.status).toBe(201);
  const pidx = await eventually(async () => {
    const row = await pool.query<{ intent_id: string | null; n: string }>(
      `SELECT o.intent_id, (SELECT count(*) FROM order_status_history h WHERE h.order_id = o.order_id) AS n
         FROM orders o WHERE order_id = $1 AND status = 'AWAITING_PAYMENT'`,
      [orderId],
    );
    return row.rows[0]?.intent_id ?? undefined;
  });
  khalti = { orderId, pidx };
});

afterAll(async () => {
  await stack?.stop();
  await pool?.end();
  if (databaseName) {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await admin.end();
  }
});

// ---- generators ----

/** Percent-encoding that also sends lone surrogates, as their generalized UTF-8 bytes, as a raw client could. */
function encode(text: string): string {
  return text.replace(/[\s\S]/gu, (char) => {
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      return bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
    return encodeURIComponent(char);
  });
}

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\uD800',
    'x\uDC00y',
    "'; DROP TABLE orders;--",
    '../../etc/passwd',
    '%00',
    '%',
    '%E0%A4%A',
    '{{7*7}}',
    '<script>',
    PLANTED.card,
    PLANTED.cardGrouped,
    PLANTED.email,
    PLANTED.phone,
    'x'.repeat(5_000),
    '🙂',
    '',
    ' ',
  ),
);
const segment = nasty.map((text) => encode(text).slice(0, 300) || 'x');
const noneId = fc
  .string({ unit: fc.constantFrom(...'abcdef0123456789'), minLength: 4, maxLength: 12 })
  .map((s) => `fuzz-nope-${s}`);
const queryString = fc
  .dictionary(fc.string({ maxLength: 12 }), nasty, { maxKeys: 4 })
  .map((query) => new URLSearchParams(query).toString());
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const headerValue = fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_=;,./:'), maxLength: 60 });
const extraHeaders = fc.dictionary(
  fc.constantFrom('x-request-id', 'x-forwarded-for', 'accept-language', 'x-custom', 'idempotency-key', 'if-none-match'),
  headerValue,
  { maxKeys: 3 },
);
const accept = fc.constantFrom<Record<string, string>>({}, { accept: 'application/json' }, { accept: '*/*' });
const contentType = fc.constantFrom(
  'application/json',
  'text/plain',
  'text/csv',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
);
const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD');

/** A checkout body that zod refuses for certain: one sure defect, plus any other noise. */
const invalidCheckout = fc
  .record({
    orderId: fc.oneof(noneId, nasty),
    amount: fc.oneof(
      fc.integer({ min: 1, max: 50_000 }),
      fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER, 100_000_000),
    ),
    currency: fc.constantFrom('USD', 'NPR', 'usd', 'XXX', ''),
    gateway: fc.constantFrom('stripe', 'esewa', 'khalti', 'paypal'),
    description: nasty,
    customer: fc.record({
      name: nasty,
      email: fc.constantFrom(PLANTED.email, 'not-an-email', 'a\u0000@b.c'),
      phone: fc.constantFrom(PLANTED.phone, '+977\u0000'),
    }),
  })
  .chain((body) =>
    fc
      .constantFrom<(b: Record<string, unknown>) => Record<string, unknown>>(
        (b) => ({ ...b, amount: 0 }),
        (b) => ({ ...b, amount: Number.MAX_SAFE_INTEGER }),
        (b) => ({ ...b, currency: 'usd' }),
        (b) => ({ ...b, gateway: 'paypal' }),
        (b) => ({ ...b, orderId: `bad id ${String(b.orderId)}` }),
        (b) => ({ ...b, description: `${String(b.description)}\u0000` }),
        (b) => ({ ...b, description: `${String(b.description)}\uD800` }),
        (b) => ({ ...b, unexpected: true }),
        (b) => ({ ...b, customer: { email: 'not-an-email' } }),
      )
      .map((defect) => JSON.stringify(defect(body))),
  );

/** Out of window by a margin (30 s past the 300 s tolerance), so a request that takes a second is still out. */
function stripeSignature(payload: string, secret: string, offsetSeconds = 0): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    timestamp: Math.floor(Date.now() / 1000) + offsetSeconds,
  });
}

const stripePayload = fc
  .record({
    id: fc.oneof(nasty, noneId),
    type: fc.constantFrom('payment_intent.succeeded', 'checkout.session.completed', 'charge.refunded', 'x'),
    object: jsonValue,
  })
  .map(({ id, type, object }) =>
    JSON.stringify({ id, object: 'event', type, created: Math.floor(Date.now() / 1000), data: { object } }),
  );

const webhook: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    stripePayload,
    fc.constantFrom('none', 'garbage', 'forger', 'tampered', 'past', 'future', 'farFuture', 'signedUnstorable'),
    nasty,
  )
  .map(([payload, how, garbage]) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    let body = payload;
    if (how === 'garbage') headers['stripe-signature'] = `t=1,v1=${encode(garbage)}`;
    if (how === 'forger') headers['stripe-signature'] = stripeSignature(payload, FORGER_SECRET);
    if (how === 'tampered') {
      headers['stripe-signature'] = stripeSignature(payload, SANDBOX_STRIPE_WEBHOOK_SECRET);
      body = payload.replace('"event"', '"evenT"');
    }
    if (how === 'past') headers['stripe-signature'] = stripeSignature(payload, SANDBOX_STRIPE_WEBHOOK_SECRET, -330);
    // An hour ahead, not just past the 300 s tolerance: requests are generated before the run sends them, and on a
    // loaded machine a run takes minutes, so a signature a few seconds past the window would drift into it.
    if (how === 'future') headers['stripe-signature'] = stripeSignature(payload, SANDBOX_STRIPE_WEBHOOK_SECRET, 3_600);
    if (how === 'signedUnstorable') {
      // Correctly signed and in the window, but carrying what PostgreSQL cannot store: must be a 400, not a 503.
      const event = JSON.parse(payload) as Record<string, unknown>;
      body = JSON.stringify({ ...event, id: `evt_${garbage}\u0000`, type: `x\uD800${garbage}` });
      headers['stripe-signature'] = stripeSignature(body, SANDBOX_STRIPE_WEBHOOK_SECRET);
    }
    if (how === 'farFuture')
      headers['stripe-signature'] = stripeSignature(payload, SANDBOX_STRIPE_WEBHOOK_SECRET, 365 * 86_400);
    return { kind: `webhook:${how}`, method: 'POST', path: '/webhooks/stripe', headers, body, forged: true };
  });

const callback: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom(
      'khalti-borrowed-pidx',
      'khalti-wrong-pidx',
      'khalti-random',
      'esewa-success',
      'esewa-failure',
      'other',
    ),
    nasty,
    queryString,
    fc.constantFrom('Completed', 'Pending', 'User canceled'),
  )
  .map(([how, text, query, status]) => {
    let path: string;
    if (how === 'khalti-borrowed-pidx')
      path = `/callbacks/khalti?pidx=${khalti.pidx}&status=${encodeURIComponent(status)}&purchase_order_id=fuzz-other-${Math.abs(text.length)}`;
    else if (how === 'khalti-wrong-pidx')
      path = `/callbacks/khalti?pidx=wrong${text.length}&status=${encodeURIComponent(status)}&purchase_order_id=${khalti.orderId}`;
    else if (how === 'khalti-random')
      path = `/callbacks/khalti?${query}&pidx=${encode(text)}&status=Completed&purchase_order_id=${khalti.orderId}`;
    else if (how === 'esewa-success') {
      const data = Buffer.from(
        JSON.stringify({
          transaction_code: text,
          status: 'COMPLETE',
          total_amount: '10.0',
          transaction_uuid: `${khalti.orderId}-1`,
          product_code: 'EPAYTEST',
          signed_field_names: 'transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names',
          signature: 'Zm9yZ2Vk',
        }),
      ).toString('base64');
      path = `/callbacks/esewa/success?data=${encodeURIComponent(data)}`;
    } else if (how === 'esewa-failure') path = `/callbacks/esewa/failure/${encode(text) || 'x'}?${query}`;
    else path = `/callbacks/${encode(text) || 'x'}?${query}`;
    return { kind: `callback:${how}`, method: 'GET', path, headers: {}, forged: true };
  });

const merchant: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom('checkout', 'read', 'cancel', 'refund', 'status'),
    fc.boolean(),
    invalidCheckout,
    noneId,
    jsonValue,
    nasty,
  )
  .map(([route, withKey, checkout, id, body, text]) => {
    const headers: Record<string, string> = withKey ? { authorization: merchantAuthorization } : {};
    if (!withKey && text.length % 3 === 0) headers.authorization = `Bearer op_test_${encode(text).slice(0, 40)}`;
    const json = { 'content-type': 'application/json' };
    switch (route) {
      case 'checkout':
        return {
          kind: `merchant:checkout:${withKey}`,
          method: 'POST',
          path: '/orders',
          headers: { ...headers, ...json },
          body: checkout,
        };
      case 'read':
        return { kind: `merchant:read:${withKey}`, method: 'GET', path: `/orders/${id}`, headers };
      case 'cancel':
        return {
          kind: `merchant:cancel:${withKey}`,
          method: 'POST',
          path: `/orders/${id}/cancel`,
          headers: { ...headers, ...json },
          body: JSON.stringify(body),
        };
      case 'refund':
        return {
          kind: `merchant:refund:${withKey}`,
          method: 'POST',
          path: `/orders/${id}/refunds`,
          headers: { ...headers, ...json, 'idempotency-key': `k-${id}` },
          body: JSON.stringify(body),
        };
      default:
        return {
          kind: 'public:status',
          method: 'GET',
          path: `/orders/${id}/status?clientSecret=${encode(text)}`,
          headers: {},
        };
    }
  });

const adminRoute: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom(
      'orders',
      'actions',
      'failed',
      'refund',
      'recheck',
      'retry',
      'confirm',
      'report',
      'report-get',
      'runs',
      'keys',
      'revoke',
    ),
    fc.boolean(),
    queryString,
    noneId,
    jsonValue,
    nasty,
  )
  .map(([route, withToken, query, id, body, text]) => {
    const headers: Record<string, string> = withToken
      ? { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'fuzz' }
      : text.length % 2 === 0
        ? { authorization: `Bearer ${encode(text).slice(0, 60)}x` }
        : {};
    const json = { 'content-type': 'application/json' };
    const kind = `admin:${route}:${withToken}`;
    switch (route) {
      case 'orders':
        return { kind, method: 'GET', path: `/admin/orders?${query}`, headers };
      case 'actions':
        return { kind, method: 'GET', path: `/admin/actions?${query}`, headers };
      case 'failed':
        return { kind, method: 'GET', path: `/admin/webhooks/failed?${query}`, headers };
      case 'refund':
        return {
          kind,
          method: 'POST',
          path: `/admin/orders/${id}/refunds`,
          headers: { ...headers, ...json, 'idempotency-key': `k-${id}` },
          body: JSON.stringify(body),
        };
      case 'recheck':
        return { kind, method: 'POST', path: `/admin/orders/${id}/recheck`, headers };
      case 'retry':
        return { kind, method: 'POST', path: `/admin/webhooks/${encode(text) || '0'}/retry`, headers };
      case 'confirm':
        return {
          kind,
          method: 'POST',
          path: `/admin/refunds/${encode(text) || 'x'}/confirm`,
          headers: { ...headers, ...json },
          body: JSON.stringify(body),
        };
      case 'report':
        return {
          kind,
          method: 'POST',
          path: `/admin/reconciliation/reports?gateway=stripe&windowStart=2026-01-01T00:00:00Z&windowEnd=2026-01-02T00:00:00Z&${query}`,
          headers: { ...headers, 'content-type': 'text/csv' },
          // A bad header, then enough lines for the COPY to be under way when it is refused.
          body: `bad,${text.replace(/[\r\n,]/g, '')}\n${'x,y\n'.repeat(text.length % 2 === 0 ? 6_000 : 3)}`,
        };
      case 'report-get':
        return {
          kind,
          method: 'GET',
          path: `/admin/reconciliation/reports/${encode(text) || 'x'}?${query}`,
          headers,
        };
      case 'runs':
        return {
          kind,
          method: 'POST',
          path: '/admin/reconciliation/runs',
          headers: { ...headers, ...json },
          body: JSON.stringify({ gateway: `nope-${text}`, extra: body }),
        };
      case 'keys':
        return {
          kind,
          method: 'POST',
          path: '/admin/api-keys',
          headers: { ...headers, ...json },
          body: JSON.stringify({ name: `bad name ${text}`, scopes: body }),
        };
      default:
        return { kind, method: 'POST', path: `/admin/api-keys/${encode(text) || 'x'}/revoke`, headers };
    }
  });

const payPage: fc.Arbitrary<FuzzRequest> = fc
  .oneof(segment, noneId)
  .map((id) => ({ kind: 'public:pay', method: 'GET', path: `/pay/${id}`, headers: {} }));

const anywhere: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    method,
    fc.array(segment, { minLength: 1, maxLength: 4 }),
    fc.constantFrom('', '/orders', '/admin', '/webhooks', '/callbacks', '/pay'),
    fc.option(nasty),
    contentType,
  )
  .map(([m, segments, prefix, body, type]) => ({
    kind: `any:${m}`,
    method: m,
    path: `${prefix}/${segments.join('/')}`,
    headers: { 'content-type': type },
    ...(body !== null && m !== 'GET' && m !== 'HEAD' ? { body } : {}),
  }));

const oversized: fc.Arbitrary<FuzzRequest> = fc.constantFrom('headers', 'body').map((what): FuzzRequest =>
  what === 'headers'
    ? { kind: 'oversized:headers', method: 'GET', path: '/healthz', headers: { 'x-big': 'x'.repeat(40_000) } }
    : {
        kind: 'oversized:body',
        method: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json', authorization: merchantAuthorization },
        body: JSON.stringify({ description: 'x'.repeat(40_000) }),
      },
);

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      { arbitrary: webhook, weight: 4 },
      { arbitrary: callback, weight: 4 },
      { arbitrary: merchant, weight: 4 },
      { arbitrary: adminRoute, weight: 4 },
      { arbitrary: payPage, weight: 1 },
      { arbitrary: anywhere, weight: 3 },
      { arbitrary: oversized, weight: 1 },
    ),
    extraHeaders,
    accept,
  )
  .map(([request, extra, acceptHeader]) => ({
    ...request,
    headers: { ...extra, ...acceptHeader, ...request.headers },
  }));

// ---- checks ----

async function tableChecksums(): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const [table, select] of Object.entries(CHECKED_TABLES)) {
    const { rows } = await pool.query<{ sum: string }>(
      `SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS sum FROM (${select}) t`,
    );
    sums[table] = rows[0]?.sum ?? '';
  }
  return sums;
}

interface Outcome {
  status: number;
  contentType: string;
  text: string;
}

async function send(request: FuzzRequest): Promise<Outcome> {
  const response = await fetch(`${stack.apiUrl}${request.path}`, {
    method: request.method,
    headers: request.headers,
    redirect: 'manual',
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    text: await response.text(),
  };
}

function problemWith(request: FuzzRequest, outcome: Outcome): string | undefined {
  if (outcome.status >= 500) return `answered ${outcome.status}`;
  if (request.forged && outcome.status < 400) return `forged ${request.kind} accepted with ${outcome.status}`;
  if (request.kind.startsWith('merchant:checkout') && outcome.status < 400) return `invalid checkout accepted`;
  if (outcome.status >= 400 && request.method !== 'HEAD') {
    let body: unknown;
    try {
      body = JSON.parse(outcome.text);
    } catch {
      return `${outcome.status} without a JSON body (${outcome.contentType})`;
    }
    const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code !== 'string' || typeof error.message !== 'string')
      return `${outcome.status} not in the error shape`;
  }
  return undefined;
}

function describe(request: FuzzRequest): string {
  return JSON.stringify({ ...request, body: request.body?.slice(0, 300) });
}

test(`when ${REQUESTS} generated requests hit every route, then none gets a 5xx, a 4xx not in the error shape, or changes a row, and no process restarts or logs a secret`, async () => {
  const requests = fc.sample(fuzzRequest, { seed: SEED, numRuns: REQUESTS });
  const pids = [stack.api.child.pid, stack.worker.child.pid, stack.sandbox.child.pid];
  const before = await tableChecksums();
  const startedAt = Date.now();
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests.length) {
        const index = next++;
        const request = requests[index] as FuzzRequest;
        let outcome: Outcome;
        try {
          outcome = await send(request);
        } catch (error) {
          // The server may close a connection it refused (431, 413); any answer it sent first was checked by Node.
          if (request.kind.startsWith('oversized')) continue;
          problems.push(`#${index} ${describe(request)}: request failed (${String(error)})`);
          continue;
        }
        statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
        const problem = problemWith(request, outcome);
        if (problem) problems.push(`#${index} ${describe(request)}: ${problem}: ${outcome.text.slice(0, 200)}`);
      }
    }),
  );
  const seconds = (Date.now() - startedAt) / 1000;
  const after = await tableChecksums();
  const logs = stack.logs();
  const leaked = NEVER_LOGGED.filter((secret) => logs.includes(secret) || logs.includes(encodeURIComponent(secret)));
  const alive = [stack.api, stack.worker, stack.sandbox].every(
    (p, i) => p.child.exitCode === null && p.child.signalCode === null && p.child.pid === pids[i],
  );
  console.log(
    `fuzz: ${REQUESTS} requests in ${seconds.toFixed(1)} s (seed ${SEED}); statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  if (problems.length > 0 || leaked.length > 0 || !alive || JSON.stringify(after) !== JSON.stringify(before)) {
    console.error(
      `fuzz failed; reproduce with FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS}\n${problems.slice(0, 20).join('\n')}`,
    );
  }
  expect(problems.slice(0, 20)).toEqual([]);
  expect(after).toEqual(before);
  expect(alive).toBe(true);
  expect(leaked).toEqual([]);
});
