// The system the chaos run (scripts/chaos/run.ts) attacks, as real processes it may kill: fresh databases, a Temporal
// server (the cluster topology's server on PostgreSQL, or the dev server on SQLite with --embedded), the sandbox, N
// API replicas on their own ports and N workers, all built from dist/ like `npm start` runs them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { freePort, watchChild, type WatchedProcess } from '../child-process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { projectPath } from '../../config/paths';
import { generateCodecKey } from '../../config/payload-codec';
import { migrateToLatest } from '../../db/migrate';
import { connectWhenReady, devServerArgs } from '../dev-temporal';
import { findTemporalCli } from '../temporal-cli';
import {
  clusterDatabaseOn,
  defaultClusterPorts,
  findClusterTools,
  initialiseClusterNamespace,
  prepareClusterServer,
  visibilityDatabase,
} from '../temporal-cluster';

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
  /** SIGKILLs the Temporal server, waits `downMs`, starts it again on the same port and storage. */
  killTemporal(downMs: number): Promise<void>;
  /** Cuts every database connection of orderpay's processes (pg_terminate_backend); returns how many. */
  cutDatabaseConnections(): Promise<number>;
  logs(): string;
  stop(): Promise<void>;
}

/** A run of consecutive free ports (the cluster's frontend and its fixed offsets around it). */
async function freeClusterFrontendPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    // Below 32768 with every offset: the PostgreSQL schema keeps membership ports in a smallint.
    const frontend = 11_000 + Math.floor(Math.random() * 20_000);
    const ports = Object.values(defaultClusterPorts(frontend));
    const free = await Promise.all(ports.map((port) => isFree(port)));
    if (free.every(Boolean)) return frontend;
  }
  throw new Error('no free ports for the Temporal cluster');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
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

/** The Temporal server as a process the run can SIGKILL and start again on the same storage. */
interface KillableTemporal {
  address: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  output(): string;
  cleanUp(): Promise<void>;
}

async function clusterTemporal(
  adminUrl: string,
  suffix: string,
  namespace: string,
  log: (message: string) => void,
): Promise<KillableTemporal> {
  const tools = findClusterTools();
  const database = clusterDatabaseOn(adminUrl, `temporal_chaos_${suffix}`);
  const rootDir = mkdtempSync(path.join(tmpdir(), 'orderpay-chaos-temporal-'));
  const plan = await prepareClusterServer({
    tools,
    database,
    ports: defaultClusterPorts(await freeClusterFrontendPort()),
    rootDir,
    logLevel: 'error',
    // The machine's PostgreSQL is shared (100 connections); the server's four services each open these pools.
    maxConnections: { default: 4, visibility: 2 },
    log,
  });
  let server: ChaosProcess | undefined;
  let initialised = false;
  return {
    address: plan.address,
    async start() {
      const started = startProcess('temporal', plan.command, plan.args, process.env);
      server = started;
      const exited = () =>
        started.child.exitCode !== null || started.child.signalCode !== null
          ? `the server exited: ${started.output().slice(-2_000)}`
          : undefined;
      if (!initialised) {
        await initialiseClusterNamespace({ address: plan.address, namespace, log, hasExited: exited });
        initialised = true;
      }
      await (await connectWhenReady(plan.address, namespace, 120_000, exited)).close();
    },
    kill: async () => server?.stop('SIGKILL'),
    output: () => server?.output() ?? '',
    async cleanUp() {
      await server?.stop('SIGKILL');
      rmSync(rootDir, { recursive: true, force: true });
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        for (const name of [database.database, visibilityDatabase(database)]) {
          await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        }
      } finally {
        await admin.end();
      }
    },
  };
}

async function embeddedTemporal(namespace: string): Promise<KillableTemporal> {
  const directory = mkdtempSync(path.join(tmpdir(), 'orderpay-chaos-temporal-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const args = devServerArgs({
    dbFile: path.join(directory, 'temporal.db'),
    port,
    uiPort,
    namespace,
    logLevel: 'error',
  });
  let server: ChaosProcess | undefined;
  return {
    address,
    async start() {
      const started = startProcess('temporal', findTemporalCli(), args, process.env);
      server = started;
      const exited = () =>
        started.child.exitCode !== null || started.child.signalCode !== null ? 'the dev server exited' : undefined;
      await (await connectWhenReady(address, namespace, 60_000, exited)).close();
    },
    kill: async () => server?.stop('SIGKILL'),
    output: () => server?.output() ?? '',
    async cleanUp() {
      await server?.stop('SIGKILL');
      rmSync(directory, { recursive: true, force: true });
    },
  };
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
      ? await clusterTemporal(options.adminUrl, suffix, namespace, options.log)
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
  const startWorker = () => {
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
      const next = startService(`api-${index + 1}`, 'api/main.js', apiEnv(port));
      processes.push(next);
      apis[index] = next;
      await waitForHttp(`${apiUrls[index]}/healthz`);
    },
    async killTemporal(downMs) {
      await temporal.kill();
      await sleep(downMs);
      await temporal.start();
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
