// The pure parts of `npm start`: restart backoff, output prefixing, search-attribute reconciliation, and how the
// supervisor wires the three processes' environments together.
import { spawnSync } from 'node:child_process';
import { orderSearchAttributes } from '../../contracts/order.contract';
import { SEARCH_ATTRIBUTE_FLAGS } from '../../scripts/search-attributes';
import { reconciliationSearchAttributes } from '../../contracts/reconciliation.contract';
import { projectPath } from '../../config/paths';
import { devServerArgs, ORDER_SEARCH_ATTRIBUTES, planSearchAttributes } from '../../scripts/dev-temporal';
import {
  childEnvironment,
  redactDatabaseUrl,
  startConfigSchema,
  startPaths,
  temporalUiOrdersUrl,
} from '../../scripts/start-config';
import { createLineWriter, decideRestart, DEFAULT_RESTART_POLICY } from '../../scripts/supervisor';

describe('decideRestart', () => {
  const policy = { initialDelayMs: 1_000, maxDelayMs: 5_000, maxConsecutiveCrashes: 5, stableAfterMs: 60_000 };

  it('when a process crashes repeatedly soon after starting, then the delay doubles up to the cap', () => {
    const delays: number[] = [];
    let crashes = 0;
    for (let i = 0; i < 4; i += 1) {
      const decision = decideRestart(policy, crashes, 100);
      if (decision.action !== 'restart') throw new Error(`gave up after ${decision.crashes}`);
      delays.push(decision.delayMs);
      crashes = decision.crashes;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 5_000]);
  });

  it('when the crashes in a row reach the limit, then it gives up', () => {
    expect(decideRestart(policy, 4, 100)).toEqual({ action: 'give-up', crashes: 5 });
  });

  it('when a process ran longer than stableAfterMs before crashing, then the count starts again', () => {
    expect(decideRestart(policy, 4, 60_000)).toEqual({ action: 'restart', delayMs: 1_000, crashes: 1 });
  });

  it('the default policy gives a crash-looping process a handful of tries before giving up', () => {
    expect(DEFAULT_RESTART_POLICY.maxConsecutiveCrashes).toBeGreaterThan(1);
    expect(decideRestart(DEFAULT_RESTART_POLICY, DEFAULT_RESTART_POLICY.maxConsecutiveCrashes - 1, 0).action).toBe(
      'give-up',
    );
  });
});

describe('createLineWriter', () => {
  it('when output arrives in arbitrary chunks, then each complete line is written once with the prefix', () => {
    const written: string[] = [];
    const writer = createLineWriter('[api] ', (text) => written.push(text));
    writer.push('first li');
    writer.push('ne\r\nsecond line\nthi');
    expect(written).toEqual(['[api] first line\n', '[api] second line\n']);
    writer.push(Buffer.from('rd'));
    writer.flush();
    writer.flush();
    expect(written).toEqual(['[api] first line\n', '[api] second line\n', '[api] third\n']);
  });
});

describe('search attributes', () => {
  const keyword = ORDER_SEARCH_ATTRIBUTES.find((a) => a.name === 'OrderStatus')?.type as number;
  const int = ORDER_SEARCH_ATTRIBUTES.find((a) => a.name === 'AmountMinor')?.type as number;

  it('when some attributes exist with the right type, then only the others are missing', () => {
    const plan = planSearchAttributes(ORDER_SEARCH_ATTRIBUTES, { OrderStatus: keyword, AmountMinor: int, Other: 1 });
    expect(plan.conflicting).toEqual([]);
    expect(plan.missing.map((a) => a.name)).toEqual([
      'Gateway',
      'OrderId',
      'Currency',
      'ExpiresAt',
      'NeedsAttention',
      'ReconGateway',
      'ReconOpenDiscrepancies',
    ]);
  });

  it('when an attribute exists with another type, then it is a conflict, not something to create', () => {
    const plan = planSearchAttributes(ORDER_SEARCH_ATTRIBUTES, { OrderStatus: int });
    expect(plan.conflicting).toEqual([{ name: 'OrderStatus', wanted: keyword, actual: int }]);
    expect(plan.missing.map((a) => a.name)).not.toContain('OrderStatus');
  });

  // Two lists name the attributes: the typed keys the workflows upsert (the dev server's flags are derived from them)
  // and ops/temporal/search-attributes.txt, which the shell script for real clusters reads. A difference would only
  // show up as a failing upsert at run time.
  it('the CLI flags, the typed keys and scripts/create-search-attributes.sh name the same attributes and types', () => {
    const fromKeys = [...Object.values(orderSearchAttributes), ...Object.values(reconciliationSearchAttributes)]
      .map((key) => `${key.name}=${key.type}`)
      .sort();
    const fromFlags = SEARCH_ATTRIBUTE_FLAGS.map((flag) => {
      const [name, type = ''] = flag.split('=');
      return `${name}=${type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
    }).sort();
    const listed = spawnSync('bash', [projectPath('scripts', 'create-search-attributes.sh'), '--list'], {
      encoding: 'utf8',
    });
    expect(listed.status).toBe(0);
    const fromScript = listed.stdout.split('\n').filter(Boolean);

    expect(fromFlags).toEqual(fromKeys);
    expect([...fromScript].sort()).toEqual([...SEARCH_ATTRIBUTE_FLAGS].sort());
  });

  it('the dev server is started with every attribute as a --search-attribute flag', () => {
    const args = devServerArgs({
      dbFile: '/tmp/t.db',
      port: 7233,
      uiPort: 8233,
      namespace: 'default',
      logLevel: 'error',
    });
    const flags = args.flatMap((arg, i) => (arg === '--search-attribute' ? [args[i + 1]] : []));
    expect(flags).toEqual([...SEARCH_ATTRIBUTE_FLAGS]);
    expect(args.slice(0, 2)).toEqual(['server', 'start-dev']);
    expect(args).toEqual(expect.arrayContaining(['--db-filename', '/tmp/t.db', '--ip', '127.0.0.1']));
  });
});

describe('childEnvironment', () => {
  const wiring = (env: NodeJS.ProcessEnv) => ({
    config: startConfigSchema.parse(env),
    databaseUrl: 'postgres://postgres@127.0.0.1:5433/orderpay',
    temporalAddress: '127.0.0.1:7233',
    sandboxStateFile: '/data/sandbox/state.json',
  });

  it('when PORT and SANDBOX_PORT move, then the cross-references between the processes follow them', () => {
    const env = { PORT: '4000', SANDBOX_PORT: '13000', PATH: '/bin' };
    const child = childEnvironment(env, wiring(env));
    expect(child).toMatchObject({
      PORT: '4000',
      SANDBOX_PORT: '13000',
      PUBLIC_BASE_URL: 'http://localhost:4000',
      STRIPE_API_BASE: 'http://127.0.0.1:13000',
      ESEWA_FORM_URL: 'http://127.0.0.1:13000/api/epay/main/v2/form',
      ESEWA_STATUS_URL: 'http://127.0.0.1:13000/api/epay/transaction/status/',
      KHALTI_BASE_URL: 'http://127.0.0.1:13000/api/v2/',
      SANDBOX_PUBLIC_URL: 'http://127.0.0.1:13000',
      SANDBOX_WEBHOOK_URL: 'http://127.0.0.1:4000/webhooks/stripe',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5433/orderpay',
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      SANDBOX_STATE_FILE: '/data/sandbox/state.json',
      PATH: '/bin',
    });
  });

  it('when the caller set a cross-reference, then the caller wins', () => {
    const env = {
      STRIPE_API_BASE: 'https://api.stripe.com',
      PUBLIC_BASE_URL: 'https://shop.example',
      SANDBOX_STATE_FILE: '/elsewhere/sandbox.json',
    };
    const child = childEnvironment(env, wiring(env));
    expect(child.STRIPE_API_BASE).toBe('https://api.stripe.com');
    expect(child.PUBLIC_BASE_URL).toBe('https://shop.example');
    expect(child.SANDBOX_STATE_FILE).toBe('/elsewhere/sandbox.json');
  });

  it('the sandbox state file lives in the data directory, next to the other stores', () => {
    const paths = startPaths(startConfigSchema.parse({ ORDERPAY_DATA_DIR: 'var/op' }), '/repo');
    expect(paths.sandboxStateFile).toBe('/repo/var/op/sandbox/state.json');
  });

  it('when DATABASE_URL or TEMPORAL_ADDRESS are empty, then they count as unset', () => {
    const config = startConfigSchema.parse({ DATABASE_URL: '', TEMPORAL_ADDRESS: ' ' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.TEMPORAL_ADDRESS).toBeUndefined();
    expect(config.EMBEDDED_POSTGRES_PORT).toBe(5433);
  });

  it('when a start variable is malformed, then parsing names it', () => {
    const result = startConfigSchema.safeParse({ EMBEDDED_POSTGRES_PORT: 'x', SUPERVISOR_STOP_TIMEOUT: '5 minutes' });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.')).sort()).toEqual([
      'EMBEDDED_POSTGRES_PORT',
      'SUPERVISOR_STOP_TIMEOUT',
    ]);
  });
});

describe('printed links', () => {
  it('the Web UI link filters the order workflows with an encoded visibility query', () => {
    const url = new URL(temporalUiOrdersUrl('http://localhost:8233', 'default', 'OrderStatus="PAID"'));
    expect(url.pathname).toBe('/namespaces/default/workflows');
    expect(url.searchParams.get('query')).toBe('WorkflowType="orderWorkflow" AND OrderStatus="PAID"');
  });

  it('a database URL is printed without its password', () => {
    expect(redactDatabaseUrl('postgres://app:s3cret@db:5432/orderpay')).toBe('postgres://app:***@db:5432/orderpay');
    expect(redactDatabaseUrl('not a url')).not.toContain('not a url');
  });
});
