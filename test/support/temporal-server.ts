// A Temporal dev server of a test's own, on a SQLite file, that the test may SIGKILL and start again on the same
// port and file: what a crash of the Temporal server looks like to the API and workers. The suite's shared server
// (global-setup.ts) is never killed, because other suites run against it at the same time.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectWhenReady, devServerArgs } from '../../scripts/dev-temporal';
import { findTemporalCli } from '../../scripts/temporal-cli';
import { freePort } from './processes';

export interface OwnTemporalServer {
  address: string;
  /** SIGKILLs the server; what it had committed stays in its SQLite file. */
  kill(): Promise<void>;
  /** Starts it again on the same port and file, and waits until it answers. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnTemporalServer(): Promise<OwnTemporalServer> {
  const directory = mkdtempSync(path.join(tmpdir(), 'orderpay-temporal-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const args = devServerArgs({
    dbFile: path.join(directory, 'temporal.db'),
    port,
    uiPort,
    namespace: 'default',
    logLevel: 'error',
  });
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const server: OwnTemporalServer = {
    address,
    async start() {
      const started = spawn(findTemporalCli(), args, { stdio: 'ignore' });
      child = started;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      const connection = await connectWhenReady(address, 'default', 60_000, () =>
        started.exitCode !== null || started.signalCode !== null ? 'the dev server exited' : undefined,
      );
      await connection.close();
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
    },
    async stop() {
      await server.kill();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
