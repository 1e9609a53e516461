// What the bench starts: a throw-away PostgreSQL database, a Temporal dev server (the same arguments as `npm start`),
// and the built api, worker and sandbox as processes (as test/support/processes.ts does for e2e tests), plus the bare
// baselines. Every process is a child of the bench, so its memory and CPU can be read from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { projectPath } from '../../config/paths';
import { migrateToLatest } from '../../db/migrate';
import { freePort, watchChild } from '../../scripts/child-process';
import { embeddedTemporal } from '../../scripts/killable-temporal';

export { freePort };

export interface BenchProcess {
  name: string;
  pid: number;
  output(): string;
  /** Sends the signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function watch(name: string, child: ChildProcess): BenchProcess {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const { output, stop } = watchChild(name, child, 'SIGTERM');
  return { name, pid: child.pid, output, stop };
}

/**
 * Where the bench's processes write their logs: a folder of the run's own, removed when the bench exits; or, with
 * BENCH_LOGS_DIR, that folder, kept (to follow single orders through the api's and worker's logs afterwards).
 */
const keptLogDirectory = process.env.BENCH_LOGS_DIR;
const logDirectory = keptLogDirectory ?? mkdtempSync(path.join(tmpdir(), 'orderpay-bench-logs-'));
if (keptLogDirectory) mkdirSync(keptLogDirectory, { recursive: true });
else process.once('exit', () => rmSync(logDirectory, { recursive: true, force: true }));

/**
 * Runs a compiled entry point (a path under dist/) with only the given environment and PATH. Its output goes to a
 * file, as a deployment's would, not through a pipe the bench drains: the bench's own event loop times the requests,
 * and reading every log line of every process in it would slow the measurement, not orderpay.
 */
export function startNodeProcess(name: string, distEntry: string, env: Record<string, string>): BenchProcess {
  const entry = projectPath('dist', distEntry);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm run bench does)`);
  const logFile = path.join(logDirectory, `${name}-${randomBytes(3).toString('hex')}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  return { ...watch(name, child), output: () => tailOf(logFile, 20_000) };
}

/** The last `bytes` of a file (a failure report shows the end of a process's log). */
function tailOf(file: string, bytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const start = Math.max(0, fstatSync(fd).size - bytes);
    const buffer = Buffer.alloc(bytes);
    return buffer.subarray(0, readSync(fd, buffer, 0, bytes, start)).toString();
  } finally {
    closeSync(fd);
  }
}

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database on the PostgreSQL at `adminUrl`, migrated to the latest schema; drop() removes it. */
export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `orderpay_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrateToLatest(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface BenchTemporal {
  address: string;
  /** The server's process ID, for its CPU in /proc (it is never restarted during a bench). */
  pid: number;
  stop(): Promise<void>;
}

/** A dev server on a SQLite file (as `npm start` runs it), with orderpay's search attributes. */
export async function startBenchTemporal(): Promise<BenchTemporal> {
  const server = await embeddedTemporal('default');
  try {
    await server.start();
  } catch (error) {
    await server.cleanUp();
    throw error;
  }
  const pid = server.pid();
  if (pid === undefined) throw new Error('the Temporal dev server did not start');
  return { address: server.address, pid, stop: () => server.cleanUp() };
}

export async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000}s`);
    await sleep(200);
  }
}

export async function waitForOutput(processToWatch: BenchProcess, text: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!processToWatch.output().includes(text)) {
    if (Date.now() > deadline) {
      throw new Error(`${processToWatch.name} did not print "${text}": ${processToWatch.output().slice(-2_000)}`);
    }
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident memory of a process now, in MiB (VmRSS), and its peak so far (VmHWM). */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  // Fields after the command name (which may contain spaces) start at the state, field 3; utime and stime are 14, 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}
