// orderpay as it runs: the built sandbox (webhooks on, signed, to the API), worker and api as processes against the
// bench's Temporal and database, each scenario on a task queue of its own.
import { randomBytes } from 'node:crypto';
import { type BenchProcess, freePort, sleep, startNodeProcess, waitForHttp, waitForOutput } from './processes';

export interface BenchEnvironment {
  temporalAddress: string;
  databaseUrl: string;
  /** The bootstrap merchant key every API of the run registers; also allowed to refund (admin scope is separate). */
  apiKey: string;
  /** A payload codec key of the run: orderpay encrypts payloads in production, so the bench does too. */
  codecKeys: string;
}

export function benchEnvironment(temporalAddress: string, databaseUrl: string): BenchEnvironment {
  return {
    temporalAddress,
    databaseUrl,
    apiKey: `op_test_bench-${randomBytes(16).toString('hex')}`,
    codecKeys: `bench-1:${randomBytes(32).toString('base64')}`,
  };
}

export interface OrderpayApi {
  url: string;
  process: BenchProcess;
  /** Checkouts repeated after a 503 so far. */
  repeated503: number;
  /**
   * POST /orders for a Stripe order of 1,000 USD cents, repeated while it answers 503 checkout_pending; resolves with
   * the status (a replayed 200 as 201), the body and the round trip in ms.
   */
  checkout(orderId: string): Promise<{ status: number; body: CheckoutAnswer; ms: number }>;
  /** POST /admin/orders/:id/refunds for the whole amount; resolves with the status and the answer's text. */
  refund(orderId: string): Promise<{ status: number; body: string }>;
}

export interface OrderpayStack {
  /** The API the sandbox sends its webhooks to. */
  api: OrderpayApi;
  sandboxUrl: string;
  taskQueue: string;
  worker: BenchProcess;
  sandbox: BenchProcess;
  /** Another API process on the same task queue with its own order policy (the policy is each workflow's input). */
  addApi(apiEnv: Record<string, string>): Promise<OrderpayApi>;
  /** Presses "Pay" on the sandbox's hosted page, as the payer's browser does. */
  pay(paymentUrl: string): Promise<void>;
  /** Drops (rate 1) or delivers (rate 0) the sandbox's webhooks from now on. */
  dropWebhooks(rate: number): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

export interface CheckoutAnswer {
  orderId?: string;
  status?: string;
  paymentUrl?: string | null;
  expiresAt?: string;
}

export interface StackOptions {
  /** The API's order policy (ORDER_TTL, POLL_*, ORDER_GRACE_PERIOD…), which becomes each workflow's input. */
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

export async function startOrderpayStack(
  environment: BenchEnvironment,
  options: StackOptions = {},
): Promise<OrderpayStack> {
  const [apiPort, sandboxPort] = [await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`;
  const shared = {
    DATABASE_URL: environment.databaseUrl,
    TEMPORAL_ADDRESS: environment.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_CODEC_KEYS: environment.codecKeys,
    PUBLIC_BASE_URL: apiUrl,
  };
  const sandbox = startNodeProcess('sandbox', 'sandbox/main.js', {
    SANDBOX_PORT: String(sandboxPort),
    SANDBOX_PUBLIC_URL: sandboxUrl,
    SANDBOX_WEBHOOK_URL: `${apiUrl}/webhooks/stripe`,
  });
  const worker = startNodeProcess('worker', 'worker/main.js', {
    ...shared,
    STRIPE_API_BASE: sandboxUrl,
    ESEWA_STATUS_URL: `${sandboxUrl}/api/epay/transaction/status/`,
    KHALTI_BASE_URL: `${sandboxUrl}/api/v2/`,
    WORKER_SHUTDOWN_GRACE: '1s',
    WORKER_METRICS_PORT: '0',
    TEMPORAL_SDK_METRICS_PORT: '0',
    // No reconciliation schedule: the bench measures orders.
    RECONCILIATION_GATEWAYS: '',
    LOG_LEVEL: 'info',
    // The worker's tuning (WORKER_MAX_CACHED_WORKFLOWS…) as set for the bench, so settings can be compared.
    ...workerTuningFromEnvironment(),
    ...options.workerEnv,
  });
  const processes = [sandbox, worker];
  const authorization = `Bearer ${environment.apiKey}`;
  const startApi = async (port: number, apiEnv: Record<string, string>): Promise<OrderpayApi> => {
    const url = `http://127.0.0.1:${port}`;
    const apiProcess = startNodeProcess('api', 'api/main.js', {
      ...shared,
      PORT: String(port),
      API_METRICS_PORT: '0',
      ORDERPAY_BOOTSTRAP_API_KEY: environment.apiKey,
      ADMIN_API_TOKEN: adminToken,
      ESEWA_FORM_URL: `${sandboxUrl}/api/epay/main/v2/form`,
      LOG_LEVEL: 'info',
      // The webhook delivery settings as set for the bench, so they can be compared.
      ...apiTuningFromEnvironment(),
      ...apiEnv,
    });
    processes.push(apiProcess);
    await waitForHttp(`${url}/healthz`);
    const api: OrderpayApi = {
      url,
      process: apiProcess,
      repeated503: 0,
      async checkout(orderId) {
        const started = performance.now();
        // A merchant's client repeats a checkout that answered 503 (checkout_pending: the order carries on;
        // temporal_unavailable: nothing happened yet); the round trip is counted until the answer that has the
        // payment URL, and every repeat is counted in `repeated503`.
        for (let attempt = 1; ; attempt += 1) {
          const response = await fetch(`${url}/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization },
            body: JSON.stringify({ orderId, amount: 1_000, currency: 'USD', gateway: 'stripe' }),
          });
          const body = (await response.json()) as CheckoutAnswer & { error?: { code?: string } };
          if (response.status === 503 && attempt < 30) {
            api.repeated503 += 1;
            await sleep(Number(response.headers.get('retry-after') ?? 2) * 1000);
            continue;
          }
          return { status: response.status === 200 ? 201 : response.status, body, ms: performance.now() - started };
        }
      },
      async refund(orderId) {
        const response = await fetch(`${url}/admin/orders/${orderId}/refunds`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${adminToken}`,
            'idempotency-key': `bench-refund-${orderId}`,
            'x-admin-actor': 'bench',
          },
          body: JSON.stringify({ reason: 'customer_request' }),
        });
        return { status: response.status, body: await response.text() };
      },
    };
    return api;
  };
  const logs = () => processes.map((p) => `--- ${p.name} ---\n${p.output()}`).join('\n');
  const stopAll = async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  };
  try {
    await waitForHttp(`${sandboxUrl}/_sandbox/faults`);
    const api = await startApi(apiPort, options.apiEnv ?? {});
    await waitForOutput(worker, 'worker started');
    return {
      api,
      sandboxUrl,
      taskQueue,
      worker,
      sandbox,
      addApi: async (apiEnv) => startApi(await freePort(), apiEnv),
      async pay(paymentUrl) {
        const response = await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
        if (response.status !== 303) throw new Error(`the sandbox page answered ${response.status} to pay`);
      },
      async dropWebhooks(rate) {
        const response = await fetch(`${sandboxUrl}/_sandbox/faults`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ webhookDropRate: rate }),
        });
        if (!response.ok) throw new Error(`/_sandbox/faults answered ${response.status}`);
      },
      logs,
      stop: stopAll,
    };
  } catch (error) {
    console.error(logs());
    await stopAll();
    throw error;
  }
}

const WORKER_TUNING = [
  'WORKER_MAX_CACHED_WORKFLOWS',
  'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS',
  'WORKER_MAX_CONCURRENT_ACTIVITIES',
  'WORKER_STICKY_TIMEOUT',
];

const API_TUNING = [
  'WEBHOOK_DELIVERY_CONCURRENCY',
  'WEBHOOK_DELIVERY_BUSY_CONCURRENCY',
  'WEBHOOK_INTAKE_BUSY_PER_SECOND',
  'WEBHOOK_DELIVERY_QUEUE_LIMIT',
];

/** The worker tuning variables set in the bench's own environment. */
export function workerTuningFromEnvironment(): Record<string, string> {
  return tuningFromEnvironment(WORKER_TUNING);
}

/** The API's webhook delivery variables set in the bench's own environment. */
export function apiTuningFromEnvironment(): Record<string, string> {
  return tuningFromEnvironment(API_TUNING);
}

function tuningFromEnvironment(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (process.env[name] ? [[name, process.env[name] ?? '']] : [])));
}
