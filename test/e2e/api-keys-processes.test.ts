// Keys as operators and deployments handle them, through the real programs (dist/): `npm run keys` creates, lists
// and revokes keys in a real database, and the API process registers ORDERPAY_BOOTSTRAP_API_KEY once, however
// many times it starts.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { apiKeyDigest } from '../../api/auth/api-key';
import { projectPath } from '../../config/paths';
import { createPool, type Pool } from '../../db/pool';
import { eventually, freePort, startService, waitForHttp, type RunningProcess } from '../support/processes';
import { uniqueId } from '../support/temporal';

jest.setTimeout(90_000);

const run = promisify(execFile);
let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.DATABASE_URL ?? '', { max: 2 });
});
afterAll(() => pool.end());

async function keysCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [projectPath('dist/scripts/keys.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: process.env.DATABASE_URL ?? '' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function cliKey(name: string): Promise<{ key: string; id: string }> {
  const created = await keysCli('create', '--name', name, '--scopes', 'orders:read');
  const key = /^(op_test_[A-Za-z0-9_-]{43})$/m.exec(created.stdout)?.[1] ?? '';
  const id = /created (key_[a-z0-9]{16})/.exec(created.stdout)?.[1] ?? '';
  return { key, id };
}

async function startApi(env: Record<string, string>): Promise<{ url: string; process: RunningProcess }> {
  const port = await freePort();
  const api = startService('api', {
    DATABASE_URL: process.env.DATABASE_URL ?? '',
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? '',
    PORT: String(port),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`);
  } catch (error) {
    console.error(api.output());
    await api.stop('SIGKILL');
    throw error;
  }
  return { url, process: api };
}

const readOrder = (url: string, key: string) =>
  fetch(`${url}/orders/no-such-order`, { headers: { authorization: `Bearer ${key}` } });

describe('npm run keys', () => {
  it('when a key is created, listed and revoked with the CLI, then the database holds only its digest and the audit log has both changes', async () => {
    const name = uniqueId('cli-shop').replace(/[^A-Za-z0-9._-]/g, '-');
    const created = await keysCli('create', '--name', name, '--scopes', 'orders:write,orders:read', '--actor', 'dana');
    expect(created.code).toBe(0);
    const key = /^(op_test_[A-Za-z0-9_-]{43})$/m.exec(created.stdout)?.[1];
    const id = /created (key_[a-z0-9]{16})/.exec(created.stdout)?.[1];
    expect(key).toBeDefined();
    expect(id).toBeDefined();
    const stored = await pool.query<{ name: string; scopes: string[]; revoked_at: Date | null }>(
      'SELECT name, scopes, revoked_at FROM api_keys WHERE key_hash = $1',
      [apiKeyDigest(key ?? '')],
    );
    expect(stored.rows).toEqual([{ name, scopes: ['orders:write', 'orders:read'], revoked_at: null }]);

    const listed = await keysCli('list');
    expect(listed.code).toBe(0);
    const line = listed.stdout.split('\n').find((l) => l.startsWith(`${id}\t`));
    expect(line).toContain(`${key?.slice(0, 12)}…`);
    expect(line).toContain('active');
    expect(listed.stdout).not.toContain(key);

    const revoked = await keysCli('revoke', id ?? '');
    expect(revoked.code).toBe(0);
    expect((await keysCli('list')).stdout.split('\n').find((l) => l.startsWith(`${id}\t`))).toContain('revoked');
    const audit = await pool.query<{ actor: string; action: string }>(
      'SELECT actor, action FROM admin_actions WHERE target = $1 ORDER BY id',
      [id],
    );
    expect(audit.rows).toEqual([
      { actor: 'dana', action: 'api_key.create' },
      { actor: expect.stringMatching(/^cli:/), action: 'api_key.revoke' },
    ]);
  });

  it('when the CLI is given bad input, then it explains and exits non-zero without changing anything', async () => {
    // Other suites register keys at the same time: count only keys of the name the bad call used.
    const named = () => pool.query("SELECT count(*)::int AS n FROM api_keys WHERE name = 'x'");
    const before = await named();
    const badScope = await keysCli('create', '--name', 'x', '--scopes', 'orders:everything');
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain('--scopes');
    expect((await keysCli('revoke', 'key_ffffffffffffffff')).code).toBe(1);
    expect((await keysCli('frobnicate')).code).toBe(2);
    expect((await named()).rows[0]).toEqual(before.rows[0]);
  });

  it('when a key made by the CLI is used on an API without a key cache and then revoked, then the API answers 404, then 401 at once', async () => {
    const { key, id } = await cliKey('cli-api');
    const api = await startApi({ API_KEY_CACHE_TTL: '0' });
    try {
      expect((await readOrder(api.url, key)).status).toBe(404);
      await keysCli('revoke', id);
      expect((await readOrder(api.url, key)).status).toBe(401);
    } finally {
      await api.process.stop();
    }
  });

  // That it works meanwhile is shown with an injected clock (test/auth/api-key-cache.unit.test.ts), not with sleeps.
  it('when a key cached by an API is revoked with the CLI, then the API refuses it once its entry expires', async () => {
    const { key, id } = await cliKey('cli-api-cached');
    const api = await startApi({ API_KEY_CACHE_TTL: '1s' });
    try {
      expect((await readOrder(api.url, key)).status).toBe(404);
      await keysCli('revoke', id);
      await eventually(async () => ((await readOrder(api.url, key)).status === 401 ? true : undefined), {
        what: 'the revoked key refused once its cache entry expired',
      });
    } finally {
      await api.process.stop();
    }
  });
});

describe('ORDERPAY_BOOTSTRAP_API_KEY', () => {
  it('when two API processes start with the same bootstrap key, then it is registered once with the merchant scopes and works on both', async () => {
    const key = `op_test_${uniqueId('boot').replace(/[^A-Za-z0-9_-]/g, '-')}-0123456789abcdefghij`;
    const first = await startApi({ ORDERPAY_BOOTSTRAP_API_KEY: key });
    // The first API must not outlive the test if the second never comes up.
    const second = await startApi({ ORDERPAY_BOOTSTRAP_API_KEY: key }).catch(async (error: unknown) => {
      await first.process.stop('SIGKILL');
      throw error;
    });
    try {
      expect((await readOrder(first.url, key)).status).toBe(404);
      expect((await readOrder(second.url, key)).status).toBe(404);
      const rows = await pool.query<{ name: string; scopes: string[] }>(
        'SELECT name, scopes FROM api_keys WHERE key_hash = $1',
        [apiKeyDigest(key)],
      );
      expect(rows.rows).toEqual([{ name: 'bootstrap', scopes: ['orders:write', 'orders:read', 'refunds:write'] }]);
      expect(first.process.output() + second.process.output()).not.toContain(key);
    } finally {
      await Promise.all([first.process.stop(), second.process.stop()]);
    }
  });

  it('when the bootstrap key is malformed, then the API refuses to start and names the variable', async () => {
    const api = startService('api', {
      DATABASE_URL: process.env.DATABASE_URL ?? '',
      PORT: String(await freePort()),
      ORDERPAY_BOOTSTRAP_API_KEY: 'short',
    });
    await eventually(async () => (api.child.exitCode === null ? undefined : true), { what: 'the API to exit' });
    expect(api.child.exitCode).toBe(1);
    expect(api.output()).toContain('ORDERPAY_BOOTSTRAP_API_KEY');
  });
});
