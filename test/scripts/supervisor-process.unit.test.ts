// ManagedProcess and ProcessRegistry against real (tiny) node processes: restarts, giving up, stopping a whole
// process group, escalating to SIGKILL, and cleaning up after a supervisor that was killed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isAlive, ManagedProcess, type Output, ProcessRegistry } from '../../scripts/supervisor';

function captureOutput(): Output & { text(): string } {
  let text = '';
  const write = (chunk: string) => {
    text += chunk;
  };
  return {
    prefix: (name) => `[${name}] `,
    stdout: write,
    stderr: write,
    log: (m) => write(`[start] ${m}\n`),
    text: () => text,
  };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let runDir: string;
beforeEach(() => {
  runDir = mkdtempSync(path.join(tmpdir(), 'orderpay-supervisor-'));
});
afterEach(() => rmSync(runDir, { recursive: true, force: true }));

function managed(script: string, overrides: Partial<ConstructorParameters<typeof ManagedProcess>[0]> = {}) {
  const output = captureOutput();
  const fatal: string[] = [];
  const process_ = new ManagedProcess({
    name: 'child',
    command: process.execPath,
    args: ['-e', script, 'orderpay-test-marker'],
    stopTimeoutMs: 2_000,
    restart: { initialDelayMs: 10, maxDelayMs: 40, maxConsecutiveCrashes: 3, stableAfterMs: 60_000 },
    output,
    registry: new ProcessRegistry(runDir),
    marker: 'orderpay-test-marker',
    onFatal: (reason) => fatal.push(reason),
    ...overrides,
  });
  return { process: process_, output, fatal };
}

it('when a child keeps crashing, then it is restarted with backoff and given up on after the limit', async () => {
  const { process: child, output, fatal } = managed('console.log("run"); process.exit(3)');
  child.start();
  await until(() => fatal.length > 0);
  expect(output.text().match(/\[child\] run/g)).toHaveLength(3);
  expect(fatal).toEqual(['child crashed 3 times in a row (last: exit code 3); giving up']);
});

it('when a child that must not restart exits, then onFatal is told at once', async () => {
  const { process: child, output, fatal } = managed('process.exit(0)', { restart: false });
  child.start();
  await until(() => fatal.length > 0);
  expect(fatal).toEqual(['child exited unexpectedly (exit code 0)']);
  expect(output.text()).not.toContain('restarting');
});

it('when stopped, then the whole process group goes, grandchildren included', async () => {
  // The child starts a grandchild and prints its pid; a signal only to the child would leave the grandchild behind.
  const script = `
    const { spawn } = require('node:child_process');
    const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    console.log('grandchild ' + grandchild.pid);
    process.on('SIGTERM', () => process.exit(0));
    setInterval(() => {}, 1000);`;
  const { process: child, output, fatal } = managed(script);
  child.start();
  await until(() => /grandchild \d+/.test(output.text()));
  const grandchildPid = Number(/grandchild (\d+)/.exec(output.text())?.[1]);
  try {
    expect(isAlive(grandchildPid)).toBe(true);

    await child.stop();

    await until(() => !isAlive(grandchildPid));
    expect(child.running).toBe(false);
    expect(fatal).toEqual([]);
    expect(output.text()).toContain('child stopped');
  } finally {
    if (isAlive(grandchildPid)) process.kill(grandchildPid, 'SIGKILL');
  }
});

it('when a child ignores SIGTERM, then it is killed once the stop timeout passes', async () => {
  const { process: child, output } = managed(
    'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("up"); setInterval(() => {}, 1000)',
    { stopTimeoutMs: 300 },
  );
  child.start();
  await until(() => output.text().includes('up'));
  const started = Date.now();
  await child.stop();
  const elapsed = Date.now() - started;
  expect(output.text()).toContain('ignoring SIGTERM');
  expect(output.text()).toContain('did not stop within 0.3s; sending SIGKILL');
  expect(output.text()).toContain('child stopped (killed by SIGKILL)');
  expect(elapsed).toBeGreaterThanOrEqual(250);
  expect(elapsed).toBeLessThan(3_000);
});

it('when a previous supervisor died, then claim stops what it left running and nothing else', async () => {
  const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'orphan-marker-1'], {
    detached: true,
    stdio: 'ignore',
  });
  const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'someone-else'], {
    detached: true,
    stdio: 'ignore',
  });
  const deadSupervisor = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => deadSupervisor.once('exit', resolve));
  try {
    writeFileSync(
      path.join(runDir, 'processes.json'),
      JSON.stringify({
        supervisorPid: deadSupervisor.pid,
        supervisorMarker: 'scripts/start.js',
        processes: {
          worker: { pid: orphan.pid, marker: 'orphan-marker-1', stopSignal: 'SIGTERM' },
          // A pid that was reused by an unrelated process: its command line lacks the marker.
          api: { pid: stranger.pid, marker: 'orphan-marker-2', stopSignal: 'SIGTERM' },
        },
      }),
    );
    const log: string[] = [];
    await new ProcessRegistry(runDir).claim((message) => log.push(message));

    await until(() => !isAlive(orphan.pid as number));
    expect(isAlive(stranger.pid as number)).toBe(true);
    expect(log).toEqual([`stopping worker (pid ${orphan.pid}) left running by a previous start`]);
  } finally {
    orphan.kill('SIGKILL');
    stranger.kill('SIGKILL');
  }
});
