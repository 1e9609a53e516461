// The whole system as real processes (sandbox, worker, api) against the test run's Temporal and PostgreSQL.
import { withDefaultKey } from './api-keys';
import { uniqueId } from './temporal';
import { eventually, freePort, type RunningProcess, startService, waitForHttp } from './processes';

export interface Stack {
  apiUrl: string;
  /** The API's GET /metrics, on its own port (API_METRICS_PORT). */
  apiMetricsUrl: string;
  sandboxUrl: string;
  taskQueue: string;
  api: RunningProcess;
  /** fetch on the API; merchant routes carry the test API key unless the caller sends its own Authorization. */
  fetch(path: string, init?: { method?: string; body?: string; headers?: Record<string, string> }): Promise<Response>;
  sandbox: RunningProcess;
  worker: RunningProcess;
  /** Starts a new worker process (after the old one was killed), with extra environment when given. */
  startWorker(extraEnv?: Record<string, string>): RunningProcess;
  /** SIGKILLs every worker process started so far. */
  killWorkers(): Promise<void>;
  /** SIGKILLs the API process and starts a new one on the same port with the same environment. */
  restartApi(): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

export async function startStack(
  apiEnv: Record<string, string> = {},
  workerEnvOverrides: Record<string, string> = {},
): Promise<Stack> {
  const [apiPort, sandboxPort, apiMetricsPort] = [await freePort(), await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const taskQueue = uniqueId('e2e');
  const shared = {
    DATABASE_URL: requiredEnv('DATABASE_URL'),
    TEMPORAL_ADDRESS: requiredEnv('TEMPORAL_ADDRESS'),
    TEMPORAL_TASK_QUEUE: taskQueue,
    PUBLIC_BASE_URL: apiUrl,
  };
  const sandbox = startService('sandbox', {
    SANDBOX_PORT: String(sandboxPort),
    SANDBOX_PUBLIC_URL: sandboxUrl,
    SANDBOX_WEBHOOK_URL: `${apiUrl}/webhooks/stripe`,
  });
  // No reconciliation schedule: on the shared test server it would reconcile every suite's orders at midnight.
  const workerEnv = {
    ...shared,
    STRIPE_API_BASE: sandboxUrl,
    ESEWA_STATUS_URL: `${sandboxUrl}/api/epay/transaction/status/`,
    KHALTI_BASE_URL: `${sandboxUrl}/api/v2/`,
    WORKER_SHUTDOWN_GRACE: '1s',
    // Free ports, so parallel suites (and a running `npm start`) never collide on the metrics defaults.
    WORKER_METRICS_PORT: '0',
    TEMPORAL_SDK_METRICS_PORT: '0',
    RECONCILIATION_GATEWAYS: '',
    ...workerEnvOverrides,
  };
  const processes: RunningProcess[] = [sandbox];
  const startWorker = (extraEnv: Record<string, string> = {}) => {
    const worker = startService('worker', { ...workerEnv, ...extraEnv });
    processes.push(worker);
    return worker;
  };
  const worker = startWorker();
  const apiProcessEnv = {
    ...shared,
    PORT: String(apiPort),
    API_METRICS_PORT: String(apiMetricsPort),
    ESEWA_FORM_URL: `${sandboxUrl}/api/epay/main/v2/form`,
    ...apiEnv,
  };
  const api = startService('api', apiProcessEnv);
  processes.push(api);
  const stack: Stack = {
    apiUrl,
    apiMetricsUrl: `http://127.0.0.1:${apiMetricsPort}/metrics`,
    sandboxUrl,
    taskQueue,
    api,
    sandbox,
    worker,
    startWorker,
    fetch: (path, init = {}) => fetch(`${apiUrl}${path}`, { ...init, headers: withDefaultKey(path, init.headers) }),
    async killWorkers() {
      await Promise.all(processes.filter((p) => p.name === 'worker').map((p) => p.stop('SIGKILL')));
    },
    async restartApi() {
      await Promise.all(processes.filter((p) => p.name === 'api').map((p) => p.stop('SIGKILL')));
      const next = startService('api', apiProcessEnv);
      processes.push(next);
      stack.api = next;
      await waitForHttp(`${apiUrl}/healthz`);
    },
    logs: () => processes.map((p) => `--- ${p.name} ---\n${p.output()}`).join('\n'),
    async stop() {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    },
  };
  try {
    await waitForHttp(`${sandboxUrl}/_sandbox/faults`);
    await waitForHttp(`${apiUrl}/healthz`);
  } catch (error) {
    console.error(stack.logs());
    await stack.stop();
    throw error;
  }
  return stack;
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: is test/support/global-setup.ts configured?`);
  return value;
}

/** How many checkout sessions the sandbox holds for an order (`GET /_sandbox/sessions?orderId=`). */
export async function sessionCount(sandboxUrl: string, orderId: string): Promise<number> {
  const response = await fetch(`${sandboxUrl}/_sandbox/sessions?orderId=${encodeURIComponent(orderId)}`);
  const body = (await response.json()) as { data?: unknown[] };
  if (!Array.isArray(body.data)) throw new Error(`unexpected /_sandbox/sessions body: ${JSON.stringify(body)}`);
  return body.data.length;
}

export interface OrderViewWithTimeline {
  status: string;
  timeline: { status: string; reason: string }[];
}

/** Reads the order through the API until it is PAID; on a timeout the processes' logs are printed to explain why. */
export async function waitForPaidOrder(stack: Stack, orderId: string): Promise<OrderViewWithTimeline> {
  return eventually(
    async () => {
      const response = await stack.fetch(`/orders/${orderId}`);
      const view = (await response.json()) as OrderViewWithTimeline;
      return view.status === 'PAID' ? view : undefined;
    },
    { timeoutMs: 15_000, what: 'order PAID' },
  ).catch((error: unknown) => {
    console.error(stack.logs());
    throw error;
  });
}
