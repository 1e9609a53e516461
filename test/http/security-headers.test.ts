// Security headers over real HTTP: every answer carries helmet's headers; the HTML pages get a Content-Security-
// Policy that lets the eSewa page post its form to ESEWA_FORM_URL (and run its one inline submit script, by hash)
// and lets Swagger UI at /docs load its own assets, and nothing else.
import { createHash } from 'node:crypto';
import type { RunningApiServer } from '../../api/server';
import { esewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import { http, startApiHarness, type ApiHarness } from '../support/api-harness';
import { uniqueId } from '../support/temporal';

const ESEWA_FORM_URL = 'https://epay.example-esewa.test:8443/api/epay/main/v2/form';

let harness: ApiHarness;
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ config: { ESEWA_FORM_URL } });
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

/** The CSP as directive → sources. */
function csp(headers: Headers): Map<string, string[]> {
  const header = headers.get('content-security-policy');
  if (!header) throw new Error('no Content-Security-Policy header');
  return new Map(
    header
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

function expectHelmetHeaders(headers: Headers): void {
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('x-frame-options')).toBe('DENY');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(headers.get('x-powered-by')).toBeNull();
}

async function awaitingEsewaOrder(): Promise<string> {
  const orderId = uniqueId('sec');
  await harness.pool.query(
    `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id, expires_at)
     VALUES ($1, 150000, 'NPR', 'esewa', 'AWAITING_PAYMENT', 'h', $2, now() + interval '10 minutes')`,
    [orderId, esewaTransactionUuid(orderId)],
  );
  // The open attempt the page builds the form for.
  await harness.pool.query(
    `INSERT INTO payment_attempts (order_id, attempt_number, gateway, intent_id, payment_url, status)
     VALUES ($1, 1, 'esewa', $2, 'http://localhost:3000/pay/' || $1, 'open')`,
    [orderId, esewaTransactionUuid(orderId)],
  );
  return orderId;
}

describe('security headers', () => {
  it('when the eSewa payment page is served, then its CSP lets the form post to the eSewa origin only and runs only its own script', async () => {
    const orderId = await awaitingEsewaOrder();
    const page = await http(api.url, 'GET', `/pay/${orderId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`action="${ESEWA_FORM_URL}"`);
    expectHelmetHeaders(page.headers);

    const policy = csp(page.headers);
    expect(policy.get('form-action')).toEqual(["'self'", 'https://epay.example-esewa.test:8443']);
    expect(policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    // The page's inline script is allowed by its exact hash, so no other inline script runs.
    const inline = /<script>([^<]*)<\/script>/.exec(page.text)?.[1];
    expect(inline).toBeDefined();
    const hash = `'sha256-${createHash('sha256').update(inline!, 'utf8').digest('base64')}'`;
    expect(policy.get('script-src')).toEqual(["'self'", hash]);
    expect(policy.get('script-src')).not.toContain("'unsafe-inline'");
  });

  it('when the API docs are served, then the CSP lets Swagger UI load its scripts, styles and images from this origin', async () => {
    const page = await http(api.url, 'GET', '/docs');
    expect(page.status).toBe(200);
    expectHelmetHeaders(page.headers);
    const policy = csp(page.headers);
    expect(policy.get('script-src')).toContain("'self'");
    expect(policy.get('style-src')).toContain("'self'");
    expect(policy.get('img-src')).toEqual(["'self'", 'data:']);
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    // Every script the page loads is same-origin, so 'self' is enough.
    for (const [, src] of page.text.matchAll(/<script src="([^"]+)"/g)) expect(src).toMatch(/^\/docs\//);
    const asset = await http(api.url, 'GET', '/docs/assets/swagger-ui-bundle.js');
    expect(asset.status).toBe(200);
  });

  it('when a JSON route answers, then it carries the same headers (nothing in it can run as a page)', async () => {
    for (const path of ['/healthz', `/orders/${uniqueId('none')}`]) {
      const response = await http(api.url, 'GET', path);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expectHelmetHeaders(response.headers);
      expect(csp(response.headers).get('default-src')).toEqual(["'self'"]);
    }
  });

  it('when PUBLIC_BASE_URL is plain http, then no HSTS or upgrade-insecure-requests (the sandbox form post stays http)', async () => {
    const response = await http(api.url, 'GET', '/healthz');
    expect(response.headers.get('strict-transport-security')).toBeNull();
    expect(csp(response.headers).has('upgrade-insecure-requests')).toBe(false);
  });

  it('when PUBLIC_BASE_URL is https, then HSTS is sent and insecure requests are upgraded', async () => {
    const server = await harness.startApi({
      config: harness.config({ PUBLIC_BASE_URL: 'https://pay.example.com', ESEWA_FORM_URL }),
    });
    const response = await http(server.url, 'GET', '/healthz');
    expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    expect(csp(response.headers).has('upgrade-insecure-requests')).toBe(true);
  });
});
