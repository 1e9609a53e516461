// Child processes the tests, the benchmarks and the chaos run start: a free port to give one, and a handle that keeps
// the tail of its output and stops it.
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

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

export interface WatchedProcess {
  name: string;
  child: ChildProcess;
  /** The last 20,000 characters of its stdout and stderr. */
  output(): string;
  /** Sends the signal (unless it has exited) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function watchChild(name: string, child: ChildProcess, defaultSignal: NodeJS.Signals): WatchedProcess {
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
    async stop(signal: NodeJS.Signals = defaultSignal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
