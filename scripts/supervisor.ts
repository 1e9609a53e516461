// Process supervision for `npm start`: prefixed output, restarts with backoff, ordered stops, and a pid registry
// so that processes orphaned by a killed supervisor are cleaned up by the next start.
//
// Every process is spawned in its own process group (detached). A Ctrl-C in the terminal is delivered to the whole
// foreground group; if PostgreSQL and the Temporal server were in it they would stop at the same moment as the
// worker, failing its in-flight activities. Detached, only the supervisor sees the signal and stops them in order.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// ---------------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------------

export type WriteText = (text: string) => void;

/** Splits a byte stream into lines and writes each with a prefix; a partial last line waits for its end. */
export function createLineWriter(
  prefix: string,
  write: WriteText,
): { push(chunk: Buffer | string): void; flush(): void } {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk.toString();
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) write(`${prefix}${line}\n`);
    },
    flush() {
      if (pending.length > 0) write(`${prefix}${pending}\n`);
      pending = '';
    },
  };
}

const COLORS = [36, 33, 35, 32, 34, 96, 93];
const NAME_WIDTH = 10;

export interface Output {
  /** A prefix like "[worker]   " (coloured on a terminal) for lines from `name`. */
  prefix(name: string): string;
  stdout: WriteText;
  stderr: WriteText;
  /** A line from the supervisor itself. */
  log(message: string): void;
}

export function createOutput(useColor = Boolean(process.stdout.isTTY)): Output {
  const colorOf = new Map<string, number>();
  const prefix = (name: string) => {
    const label = `[${name}]`.padEnd(NAME_WIDTH + 2);
    if (!useColor) return `${label} `;
    if (!colorOf.has(name)) colorOf.set(name, COLORS[colorOf.size % COLORS.length] ?? 37);
    return `\u001b[${colorOf.get(name)}m${label}\u001b[0m `;
  };
  const stdout: WriteText = (text) => void process.stdout.write(text);
  const stderr: WriteText = (text) => void process.stderr.write(text);
  return { prefix, stdout, stderr, log: (message) => stdout(`${prefix('start')}${message}\n`) };
}

// ---------------------------------------------------------------------------------------------------------------
// Restart policy
// ---------------------------------------------------------------------------------------------------------------

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** This many crashes in a row (each within stableAfterMs of its start) and the supervisor gives up. */
  maxConsecutiveCrashes: number;
  /** A process that ran this long before crashing starts a fresh count. */
  stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxConsecutiveCrashes: 5,
  stableAfterMs: 60_000,
};

export type RestartDecision =
  { action: 'restart'; delayMs: number; crashes: number } | { action: 'give-up'; crashes: number };

/** What to do after a crash, given the crashes in a row before it and how long this run lasted. */
export function decideRestart(policy: RestartPolicy, previousCrashes: number, uptimeMs: number): RestartDecision {
  const crashes = uptimeMs >= policy.stableAfterMs ? 1 : previousCrashes + 1;
  if (crashes >= policy.maxConsecutiveCrashes) return { action: 'give-up', crashes };
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (crashes - 1));
  return { action: 'restart', delayMs, crashes };
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code ?? 'unknown'}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Pid registry
// ---------------------------------------------------------------------------------------------------------------

interface RegisteredProcess {
  pid: number;
  /** A string that must appear in the process's command line for it to count as ours (pids are reused). */
  marker: string;
  stopSignal: NodeJS.Signals;
}

interface RegistryFile {
  supervisorPid: number;
  /** The supervisor's script path, to tell it from an unrelated process that got its pid. */
  supervisorMarker: string;
  processes: Record<string, RegisteredProcess>;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user (PostgreSQL runs as `postgres` when we are root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie has exited and only waits to be reaped (by init, when its parent died first).
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** The command line of a live process, or undefined when it cannot be read. */
function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    try {
      return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      return undefined;
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitForDeath(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

/** `.data/run/processes.json`: which supervisor runs, and the pids of what it started. */
export class ProcessRegistry {
  private readonly file: string;
  // The script's last two path segments: it may have been started as `node dist/scripts/start.js` or by full path.
  private state: RegistryFile = {
    supervisorPid: process.pid,
    supervisorMarker: path.join(
      path.basename(path.dirname(process.argv[1] ?? '')),
      path.basename(process.argv[1] ?? ''),
    ),
    processes: {},
  };

  constructor(runDir: string) {
    this.file = path.join(runDir, 'processes.json');
  }

  /**
   * Takes over the registry: refuses when another supervisor is alive, and stops whatever a dead one left running
   * (a supervisor killed with SIGKILL cannot stop its detached children).
   */
  async claim(log: (message: string) => void): Promise<void> {
    const previous = this.read();
    if (previous && previous.supervisorPid !== process.pid && isAlive(previous.supervisorPid)) {
      const line = commandLine(previous.supervisorPid) ?? '';
      if (previous.supervisorMarker && line.includes(previous.supervisorMarker)) {
        throw new Error(
          `another \`npm start\` (pid ${previous.supervisorPid}) is running with this data directory; stop it first`,
        );
      }
    }
    // Newest first: the services before the Temporal server and PostgreSQL they were using.
    for (const [name, entry] of Object.entries(previous?.processes ?? {}).reverse()) {
      if (!isAlive(entry.pid)) continue;
      const line = commandLine(entry.pid);
      if (line === undefined || !line.includes(entry.marker)) continue;
      log(`stopping ${name} (pid ${entry.pid}) left running by a previous start`);
      signalGroup(entry.pid, entry.stopSignal);
      if (!(await waitForDeath(entry.pid, 15_000))) {
        signalGroup(entry.pid, 'SIGKILL');
        await waitForDeath(entry.pid, 5_000);
      }
    }
    this.state = { ...this.state, processes: {} };
    this.write();
  }

  record(name: string, entry: RegisteredProcess): void {
    this.state.processes[name] = entry;
    this.write();
  }

  forget(name: string): void {
    delete this.state.processes[name];
    this.write();
  }

  release(): void {
    rmSync(this.file, { force: true });
  }

  private read(): RegistryFile | undefined {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as RegistryFile;
    } catch {
      return undefined;
    }
  }

  private write(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(temporary, this.file);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Managed process
// ---------------------------------------------------------------------------------------------------------------

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as another user (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /** PostgreSQL wants SIGINT ("fast shutdown"); everything else gets SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** Sent when the stop timeout passes; PostgreSQL's SIGQUIT is an immediate shutdown that recovers at next start. */
  forceSignal?: NodeJS.Signals;
  stopTimeoutMs: number;
  /** Restart after an unexpected exit; false for processes whose death takes the whole stack down. */
  restart: RestartPolicy | false;
  output: Output;
  registry: ProcessRegistry;
  marker: string;
  /** Called when the process exits unexpectedly and will not be restarted (crash loop, or restart: false). */
  onFatal(reason: string): void;
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private crashes = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private exitListeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];

  constructor(private readonly options: ManagedProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Called once on each exit, expected or not (readiness probes use it to stop waiting early). */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(listener);
  }

  start(): void {
    const { options } = this;
    const child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.startedAt = Date.now();
    const prefix = options.output.prefix(options.name);
    const out = createLineWriter(prefix, options.output.stdout);
    const err = createLineWriter(prefix, options.output.stderr);
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    this.exited = new Promise((resolve) => {
      // A failed spawn (ENOENT, EACCES) emits 'error', and may or may not emit 'close' after it.
      let finished = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, reason?: string) => {
        if (finished) return;
        finished = true;
        out.flush();
        err.flush();
        resolve();
        this.handleExit(code, signal, reason);
      };
      child.once('error', (error) => {
        if (child.pid === undefined) finish(null, null, `could not start ${options.command}: ${error.message}`);
      });
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => finish(code, signal));
    });
    if (child.pid !== undefined) {
      options.registry.record(options.name, {
        pid: child.pid,
        marker: options.marker,
        stopSignal: options.stopSignal ?? 'SIGTERM',
      });
    }
  }

  /** Asks the process group to stop, and kills it when it has not after the stop timeout. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child?.pid || !this.running) return this.exited;
    const { stopSignal = 'SIGTERM', forceSignal = 'SIGKILL', stopTimeoutMs, output, name } = this.options;
    signalGroup(child.pid, stopSignal);
    const timer = setTimeout(() => {
      output.log(`${name} did not stop within ${stopTimeoutMs / 1000}s; sending ${forceSignal}`);
      signalGroup(child.pid as number, forceSignal);
      if (forceSignal !== 'SIGKILL') {
        setTimeout(() => signalGroup(child.pid as number, 'SIGKILL'), 5_000).unref();
      }
    }, stopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** The second Ctrl-C: no waiting. */
  forceKill(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.child?.pid && this.running) signalGroup(this.child.pid, this.options.forceSignal ?? 'SIGKILL');
  }

  private handleExit(code: number | null, signal: NodeJS.Signals | null, reason = describeExit(code, signal)): void {
    const { options } = this;
    for (const listener of this.exitListeners) listener(code, signal);
    if (this.stopping) {
      options.registry.forget(options.name);
      options.output.log(`${options.name} stopped (${reason})`);
      return;
    }
    if (options.restart === false) {
      options.onFatal(`${options.name} exited unexpectedly (${reason})`);
      return;
    }
    const decision = decideRestart(options.restart, this.crashes, Date.now() - this.startedAt);
    this.crashes = decision.crashes;
    if (decision.action === 'give-up') {
      options.onFatal(`${options.name} crashed ${decision.crashes} times in a row (last: ${reason}); giving up`);
      return;
    }
    options.output.log(
      `${options.name} exited unexpectedly (${reason}); restarting in ${decision.delayMs / 1000}s ` +
        `(${decision.crashes} in a row; gives up at ${options.restart.maxConsecutiveCrashes})`,
    );
    this.restartTimer = setTimeout(() => {
      if (!this.stopping) this.start();
    }, decision.delayMs);
  }
}
