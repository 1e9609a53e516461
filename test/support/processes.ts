// Real processes for end-to-end tests: the built api, worker and sandbox (dist/), on free ports.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { projectPath } from '../../config/paths';
import { freePort, watchChild, type WatchedProcess } from '../../scripts/child-process';
import { TEST_API_KEY } from './api-keys';
import { TEST_CODEC_KEYS } from './codec';

export { freePort };
export type RunningProcess = WatchedProcess;

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
  return watchChild(name, child, 'SIGTERM');
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
