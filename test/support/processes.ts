// Real processes for end-to-end tests: the built api, worker and sandbox (dist/), on free ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { projectPath } from '../../config/paths';
import { TEST_API_KEY } from './api-keys';
import { TEST_CODEC_KEYS } from './codec';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Sends the signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export type ServiceName = 'api' | 'worker' | 'sandbox';

const ENTRY_POINTS: Record<ServiceName, string> = {
  api: 'dist/api/main.js',
  worker: 'dist/worker/main.js',
  sandbox: 'dist/sandbox/main.js',
};

export function startService(name: ServiceName, env: Record<string, string>): RunningProcess {
  const entry = projectPath(ENTRY_POINTS[name]);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  // Every spawned API knows the test harnesses' merchant key (registered once, however many APIs start), and takes a
  // free metrics port, so several APIs (and a running `npm start`) never collide on the default.
  const defaults = name === 'api' ? { ORDERPAY_BOOTSTRAP_API_KEY: TEST_API_KEY, API_METRICS_PORT: '0' } : {};
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', TEMPORAL_CODEC_KEYS: TEST_CODEC_KEYS, ...defaults, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    child,
    output: () => output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Polls until `probe` returns a value, or fails after `timeoutMs` with the last error. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  await eventually(async () => ((await fetch(url)).ok ? true : undefined), { timeoutMs, what: url });
}
