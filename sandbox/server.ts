// Runs the sandbox on a real socket. Port 0 picks a free port (tests); the returned url is the one to use.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSandbox, type Sandbox, type SandboxOptions } from './sandbox.app';

export interface StartSandboxOptions extends Omit<SandboxOptions, 'publicUrl'> {
  port: number;
  /** Interface to listen on; loopback unless the hosted page must be reachable from elsewhere. */
  host?: string;
  /** Base URL for hosted-page links; defaults to the address actually listened on. */
  publicUrl?: string;
}

export interface RunningSandbox {
  /** The API base to give the Stripe adapter (it adds /v1). */
  url: string;
  publicUrl: string;
  port: number;
  sandbox: Sandbox;
  /** Closes every connection, waits for the socket to close, then stops webhook delivery and saves the state. */
  stop(): Promise<void>;
}

export async function startSandbox(options: StartSandboxOptions): Promise<RunningSandbox> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const publicUrl = options.publicUrl ?? url;
  // Attached before the next turn of the event loop, so no request can arrive without a handler.
  let sandbox: Sandbox;
  try {
    sandbox = createSandbox({ ...options, publicUrl });
  } catch (error) {
    // A sandbox that cannot start (e.g. a damaged state file) must not leave its socket open.
    server.close();
    throw error;
  }
  server.on('request', sandbox.app);

  let stopping: Promise<void> | undefined;
  return {
    url,
    publicUrl,
    port,
    sandbox,
    stop() {
      stopping ??= (async () => {
        try {
          await new Promise<void>((resolve, reject) => {
            server.close((error) => (error ? reject(error) : resolve()));
            // SDK clients keep connections alive; without this close() would wait for them to idle out.
            server.closeAllConnections();
          });
        } finally {
          // Only now: every request that got an answer has made its change, so the final save holds them all.
          await sandbox.close();
        }
      })();
      return stopping;
    },
  };
}
