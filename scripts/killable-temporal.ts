// Temporal servers that a chaos run or a test may SIGKILL and start again on the same port and storage: what a crash
// of the server looks like to the API and workers. The cluster topology's server on PostgreSQL, or the dev server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, watchChild, type WatchedProcess } from './child-process';
import { connectWhenReady, devServerArgs } from './dev-temporal';
import { findTemporalCli } from './temporal-cli';
import {
  clusterDatabaseOn,
  defaultClusterPorts,
  findClusterTools,
  initialiseClusterNamespace,
  prepareClusterServer,
  visibilityDatabase,
} from './temporal-cluster';

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

/** A Temporal server as a process that may be SIGKILLed and started again on the same port and storage. */
export interface KillableTemporal {
  address: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  output(): string;
  /** The running server's process ID (for reading its CPU from /proc). */
  pid(): number | undefined;
  cleanUp(): Promise<void>;
}

/**
 * The cluster topology's server on PostgreSQL (scripts/temporal-cluster.ts) with databases of its own (`databaseName` and
 * its `_visibility` twin) on the PostgreSQL at `adminUrl`; `cleanUp` drops them.
 */
export async function clusterTemporal(
  adminUrl: string,
  databaseName: string,
  namespace: string,
  log: (message: string) => void,
): Promise<KillableTemporal> {
  const tools = findClusterTools();
  const database = clusterDatabaseOn(adminUrl, databaseName);
  const rootDir = mkdtempSync(path.join(tmpdir(), 'orderpay-temporal-'));
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
  const server = serverProcess(plan.command, plan.args);
  let initialised = false;
  return {
    ...server.handle,
    address: plan.address,
    async start() {
      const started = server.spawn();
      const exited = () => (hasExited(started) ? `the server exited: ${started.output().slice(-2_000)}` : undefined);
      if (!initialised) {
        await initialiseClusterNamespace({ address: plan.address, namespace, log, hasExited: exited });
        initialised = true;
      }
      await (await connectWhenReady(plan.address, namespace, 120_000, exited)).close();
    },
    async cleanUp() {
      await server.handle.kill();
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

/** The dev server on a SQLite file of its own; `cleanUp` removes it. */
export async function embeddedTemporal(namespace: string): Promise<KillableTemporal> {
  const directory = mkdtempSync(path.join(tmpdir(), 'orderpay-temporal-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const args = devServerArgs({
    dbFile: path.join(directory, 'temporal.db'),
    port,
    uiPort,
    namespace,
    logLevel: 'error',
  });
  const server = serverProcess(findTemporalCli(), args);
  return {
    ...server.handle,
    address,
    async start() {
      const started = server.spawn();
      const exited = () => (hasExited(started) ? 'the dev server exited' : undefined);
      await (await connectWhenReady(address, namespace, 60_000, exited)).close();
    },
    async cleanUp() {
      await server.handle.kill();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The server's current process: started again by spawn() after a kill, on the same command line. */
function serverProcess(command: string, args: readonly string[]) {
  let current: WatchedProcess | undefined;
  return {
    spawn(): WatchedProcess {
      const child = spawn(command, [...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      current = watchChild('temporal', child, 'SIGKILL');
      return current;
    },
    handle: {
      kill: async () => current?.stop('SIGKILL'),
      output: () => current?.output() ?? '',
      pid: () => current?.child.pid,
    } satisfies Pick<KillableTemporal, 'kill' | 'output' | 'pid'>,
  };
}

const hasExited = ({ child }: WatchedProcess) => child.exitCode !== null || child.signalCode !== null;
