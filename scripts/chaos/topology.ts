// The system the chaos run (scripts/chaos/run.ts) attacks, as real processes it may kill: fresh databases, a Temporal
// server (the cluster topology's server on PostgreSQL, or the dev server on SQLite with --embedded), the sandbox, N
// API replicas on their own ports and N workers, all built from dist/ like `npm start` runs them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { freePort, watchChild, type WatchedProcess } from '../child-process';
import pg from 'pg';
import { projectPath } from '../../config/paths';
import { generateCodecKey } from '../../config/payload-codec';
import { migrateToLatest } from '../../db/migrate';
import { clusterTemporal, embeddedTemporal } from '../killable-temporal';

export type ChaosTopologyKind = 'cluster' | 'embedded';

export interface ChaosTopologyOptions {
  kind: ChaosTopologyKind;
  apiReplicas: number;
  workers: number;
  /** A PostgreSQL where the run may create and drop databases. */
  adminUrl: string;
  /** Extra environment of the API processes (timeouts, TTLs) and of the workers. */
  apiEnv: Record<string, string>;
  workerEnv: Record<string, string>;
  log: (message: string) => void;
}

export type ChaosProcess = WatchedProcess;

export interface ChaosTopology {
  kind: ChaosTopologyKind;
  apiUrls: string[];
  sandboxUrl: string;
  temporalAddress: string;
  namespace: string;
  databaseUrl: string;
  codecKeys: string;
  apiKey: string;
  adminToken: string;
  /**
   * SIGKILLs the oldest worker and starts a new one, once the newest has run for WARM_WORKER_MS: one worker is always
   * warm while its replacement starts, however slowly processes start on a busy machine.
   */
  killWorker(): Promise<void>;
  /** SIGKILLs API replica `index` and starts it again on the same port. */
  killApi(index: number): Promise<void>;
  /**
   * SIGKILLs the Temporal server, waits `downMs`, starts it again on the same port and storage; resolves with how
   * long the server was unreachable (kill to answering again).
   */
  killTemporal(downMs: number): Promise<number>;
  /** Cuts every database connection of orderpay's processes (pg_terminate_backend); returns how many. */
  cutDatabaseConnections(): Promise<number>;
  logs(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a worker runs before the run may kill the one before it (start, bundle load, first polls). */
const WARM_WORKER_MS = 8_000;

export async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not up yet.
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000}s`);
    await sleep(200);
  }
}

function startProcess(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv): ChaosProcess {
  const child = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return watchChild(name, child, 'SIGKILL');
}

function startService(name: string, entry: string, env: Record<string, string>): ChaosProcess {
  const file = projectPath('dist', entry);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  return startProcess(name, process.execPath, [file], { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env });
}

function databaseUrlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function startChaosTopology(options: ChaosTopologyOptions): Promise<ChaosTopology> {
  const suffix = randomBytes(4).toString('hex');
  const namespace = 'default';
  const orderpayDatabase = `orderpay_chaos_${suffix}`;
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${orderpayDatabase}`);
  await admin.end();
  const databaseUrl = databaseUrlFor(options.adminUrl, orderpayDatabase);
  await migrateToLatest(databaseUrl);

  const temporal =
    options.kind === 'cluster'
      ? await clusterTemporal(options.adminUrl, `temporal_chaos_${suffix}`, namespace, options.log)
      : await embeddedTemporal(namespace);
  await temporal.start();
  options.log(`${options.kind === 'cluster' ? 'Temporal server on PostgreSQL' : 'dev server'} at ${temporal.address}`);

  const apiPorts = await Promise.all(Array.from({ length: options.apiReplicas }, () => freePort()));
  const sandboxPort = await freePort();
  const apiUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const codecKeys = generateCodecKey('chaos');
  const apiKey = `op_test_chaos_${randomBytes(18).toString('hex')}`;
  const adminToken = `chaos-admin-${randomBytes(12).toString('hex')}`;
  const shared = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TASK_QUEUE: `chaos-${suffix}`,
    TEMPORAL_CODEC_KEYS: codecKeys,
    // Payers and webhooks reach the first replica; the run's own requests go to every replica.
    PUBLIC_BASE_URL: apiUrls[0] ?? '',
  };
  const processes: ChaosProcess[] = [];
  const sandbox = startService('sandbox', 'sandbox/main.js', {
    SANDBOX_PORT: String(sandboxPort),
    SANDBOX_PUBLIC_URL: sandboxUrl,
    SANDBOX_WEBHOOK_URL: `${apiUrls[0]}/webhooks/stripe`,
  });
  processes.push(sandbox);
  const workerEnv = {
    ...shared,
    STRIPE_API_BASE: sandboxUrl,
    ESEWA_STATUS_URL: `${sandboxUrl}/api/epay/transaction/status/`,
    KHALTI_BASE_URL: `${sandboxUrl}/api/v2/`,
    WORKER_SHUTDOWN_GRACE: '1s',
    WORKER_METRICS_PORT: '0',
    TEMPORAL_SDK_METRICS_PORT: '0',
    RECONCILIATION_GATEWAYS: '',
    ...options.workerEnv,
  };
  const apiEnv = (port: number) => ({
    ...shared,
    PORT: String(port),
    API_METRICS_PORT: '0',
    ESEWA_FORM_URL: `${sandboxUrl}/api/epay/main/v2/form`,
    ORDERPAY_BOOTSTRAP_API_KEY: apiKey,
    ADMIN_API_TOKEN: adminToken,
    ...options.apiEnv,
  });
  /** Oldest first. */
  const workers: { process: ChaosProcess; startedAt: number }[] = [];
  /** Once stopped (the run ended or was interrupted), a fault still in progress starts nothing new. */
  let stopped = false;
  const startWorker = () => {
    if (stopped) return;
    const worker = startService('worker', 'worker/main.js', workerEnv);
    workers.push({ process: worker, startedAt: Date.now() });
    processes.push(worker);
  };
  for (let i = 0; i < options.workers; i += 1) startWorker();
  const apis: ChaosProcess[] = apiPorts.map((port, index) => {
    const api = startService(`api-${index + 1}`, 'api/main.js', apiEnv(port));
    processes.push(api);
    return api;
  });

  const topology: ChaosTopology = {
    kind: options.kind,
    apiUrls,
    sandboxUrl,
    temporalAddress: temporal.address,
    namespace,
    databaseUrl,
    codecKeys,
    apiKey,
    adminToken,
    async killWorker() {
      const newest = workers[workers.length - 1];
      if (newest) await sleep(Math.max(0, newest.startedAt + WARM_WORKER_MS - Date.now()));
      await workers.shift()?.process.stop('SIGKILL');
      startWorker();
    },
    async killApi(index) {
      const port = apiPorts[index];
      const api = apis[index];
      if (port === undefined || api === undefined) return;
      await api.stop('SIGKILL');
      if (stopped) return;
      const next = startService(`api-${index + 1}`, 'api/main.js', apiEnv(port));
      processes.push(next);
      apis[index] = next;
      await waitForHttp(`${apiUrls[index]}/healthz`);
    },
    async killTemporal(downMs) {
      const killedAt = Date.now();
      await temporal.kill();
      await sleep(downMs);
      if (!stopped) await temporal.start();
      return Date.now() - killedAt;
    },
    async cutDatabaseConnections() {
      const client = new pg.Client({ connectionString: options.adminUrl });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const result = await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND application_name IN ('orderpay-api', 'orderpay-worker') AND pid <> pg_backend_pid()`,
          [orderpayDatabase],
        );
        return result.rowCount ?? 0;
      } finally {
        await client.end();
      }
    },
    logs: () =>
      [...processes.map((p) => `--- ${p.name} ---\n${p.output()}`), `--- temporal ---\n${temporal.output()}`].join(
        '\n',
      ),
    async stop() {
      stopped = true;
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await temporal.cleanUp();
      const cleanup = new pg.Client({ connectionString: options.adminUrl });
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${orderpayDatabase} WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
  try {
    await waitForHttp(`${sandboxUrl}/_sandbox/faults`);
    await Promise.all(apiUrls.map((url) => waitForHttp(`${url}/healthz`)));
  } catch (error) {
    options.log(topology.logs());
    await topology.stop();
    throw error;
  }
  return topology;
}
