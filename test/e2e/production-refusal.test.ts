// ORDERPAY_ENV=production as real processes: the api, worker and sandbox exit non-zero before listening when a
// gateway secret is a sandbox default, naming the variable and never its value.
import { createApiKey } from '../../api/auth/manage-api-keys.use-case';
import { generateCodecKey } from '../../config/payload-codec';
import { createPool } from '../../db/pool';
import { eventually, freePort, type RunningProcess, startService, type ServiceName } from '../support/processes';
import { createSuiteDatabase } from '../support/suite-database';

jest.setTimeout(60_000);

const LIVE_API = {
  ORDERPAY_ENV: 'production',
  TEMPORAL_CODEC_KEYS: generateCodecKey('live-1'),
  STRIPE_WEBHOOK_SECRETS: 'whsec_live_0123456789abcdef',
  ADMIN_API_TOKEN: 'admin-token-0123456789abcdef',
  CODEC_AUTH_TOKEN: 'codec-token-0123456789abcdef',
  ESEWA_FORM_URL: 'https://epay.esewa.com.np/api/epay/main/v2/form',
  ESEWA_PRODUCT_CODE: 'NP-ES-MERCHANT',
  ESEWA_SECRET_KEY: 'live-esewa-secret-0123456789',
  ORDERPAY_CLIENT_SECRET_KEY: 'live-client-secret-key-0123456789abcdef',
  // Nothing listens here: a process that got past its configuration would still not reach anything.
  DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
  TEMPORAL_ADDRESS: '127.0.0.1:1',
};

async function exitOf(process: RunningProcess): Promise<{ code: number | null; output: string }> {
  const { child } = process;
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (exitCode) => resolve(exitCode));
  });
  return { code, output: process.output() };
}

async function run(name: ServiceName, env: Record<string, string>) {
  const port = String(await freePort());
  const running = startService(name, { PORT: port, API_METRICS_PORT: '0', SANDBOX_PORT: port, ...env });
  try {
    return await exitOf(running);
  } finally {
    await running.stop('SIGKILL');
  }
}

describe('ORDERPAY_ENV=production, as processes', () => {
  it('when every api secret is live, then the api starts listening (the refusals below are about the one default)', async () => {
    const port = await freePort();
    const running = startService('api', { ...LIVE_API, PORT: String(port), API_METRICS_PORT: '0', LOG_LEVEL: 'info' });
    try {
      await eventually(
        async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200 ? true : undefined),
        {
          what: 'the production api to answer /healthz',
        },
      );
    } finally {
      await running.stop();
    }
    expect(running.output()).toContain('api listening');
  });

  it("when the api gets eSewa's public UAT secret, then it exits non-zero naming ESEWA_SECRET_KEY, not the secret", async () => {
    const { code, output } = await run('api', { ...LIVE_API, ESEWA_SECRET_KEY: '8gBm/:&EnhH.1/q' });
    expect(code).not.toBe(0);
    expect(output).toMatch(/ESEWA_SECRET_KEY: is a sandbox\/UAT default; ORDERPAY_ENV=production refuses it/);
    expect(output).not.toContain('8gBm/:&EnhH.1/q');
    expect(output).not.toMatch(/ADMIN_API_TOKEN|STRIPE_WEBHOOK_SECRETS|api listening/);
  });

  it('when the worker is left on its sandbox defaults, then it exits non-zero naming each offending variable', async () => {
    const { code, output } = await run('worker', {
      ORDERPAY_ENV: 'production',
      TEMPORAL_CODEC_KEYS: '',
      DATABASE_URL: LIVE_API.DATABASE_URL,
      TEMPORAL_ADDRESS: LIVE_API.TEMPORAL_ADDRESS,
    });
    expect(code).not.toBe(0);
    for (const variable of [
      'TEMPORAL_CODEC_KEYS',
      'STRIPE_API_BASE',
      'STRIPE_SECRET_KEY',
      'ESEWA_STATUS_URL',
      'ESEWA_PRODUCT_CODE',
      'KHALTI_BASE_URL',
      'KHALTI_SECRET_KEY',
    ]) {
      expect(output).toContain(`${variable}:`);
    }
    expect(output).not.toContain('sk_test_orderpay_sandbox');
    expect(output).not.toContain('worker started');
  });

  it('when there is no admin token and no admin key in the database, then the api exits naming ADMIN_API_TOKEN; an admin key lets it start', async () => {
    // A database of its own: admin keys other suites create in the shared one would let it start.
    const database = await createSuiteDatabase();
    const databaseUrl = database.url;
    const pool = createPool(databaseUrl);
    const { ADMIN_API_TOKEN: _token, ...withoutToken } = LIVE_API;
    const env = { ...withoutToken, DATABASE_URL: databaseUrl };
    try {
      const refused = await run('api', env);
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/ADMIN_API_TOKEN is not set and no active API key has the admin scope/);
      expect(refused.output).not.toContain('api listening');

      await createApiKey(pool, { name: 'production-admin', scopes: ['admin'], environment: 'live' });
      const port = await freePort();
      const running = startService('api', { ...env, PORT: String(port), API_METRICS_PORT: '0', LOG_LEVEL: 'info' });
      try {
        await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined), {
          what: 'the production api with an admin key to answer /healthz',
        });
      } finally {
        await running.stop();
      }
    } finally {
      await pool.end();
      await database.drop();
    }
  });

  it('when the sandbox is started in production, then it refuses to run', async () => {
    const { code, output } = await run('sandbox', { ORDERPAY_ENV: 'production' });
    expect(code).not.toBe(0);
    expect(output).toMatch(/ORDERPAY_ENV: the sandbox fakes every gateway/);
    expect(output).not.toContain('sandbox gateway listening');
  });
});
