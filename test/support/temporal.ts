// Real Temporal for tests: a client and workers against the dev server started by global-setup.
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import type { MerchantEventActivities } from '../../activities/merchant-events/merchant-event-activity.types';
import type { OrderActivities } from '../../activities/orders/order-activity.types';
import type { OrderRefundActivities } from '../../activities/refunds/order-refund-activity.types';
import type { ReconciliationActivities } from '../../activities/reconciliation/reconciliation-activity.types';
import {
  createMerchantEventWorker,
  createOrderWorker,
  type OrderWorkerOptions,
  WORKFLOW_BUNDLE_OPTIONS,
} from '../../worker/create-worker';
import { testDataConverter } from './codec';

let runtimeInstalled = false;
/** Worker logs at WARN, so test output shows failures rather than every state change. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // A Runtime already exists in this process (another helper connected first); keep its logger.
  }
}

export function testTemporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: is test/support/global-setup.ts configured?');
  return address;
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function connectTestClient(): Promise<Client> {
  const connection = await Connection.connect({ address: testTemporalAddress() });
  return new Client({ connection, namespace: 'default', dataConverter: testDataConverter() });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundles the workflow sources once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};

export interface RunningTestWorker {
  worker: Worker;
  taskQueue: string;
  stop(): Promise<void>;
}

/** Starts an order worker on its own task queue with the given activities; stop() waits for it to finish. */
export async function startTestWorker(
  activities: OrderActivities & Partial<OrderRefundActivities> & Partial<ReconciliationActivities>,
  taskQueue = uniqueId('tq'),
): Promise<RunningTestWorker> {
  return runTestWorker(taskQueue, (common) => createOrderWorker({ ...common, activities }));
}

/** Starts a merchant event worker (delivery and sweep workflows) on its own task queue. */
export async function startTestMerchantEventWorker(
  activities: MerchantEventActivities,
  taskQueue = uniqueId('merchant-tq'),
): Promise<RunningTestWorker> {
  return runTestWorker(taskQueue, (common) => createMerchantEventWorker({ ...common, activities }));
}

type CommonWorkerOptions = Omit<OrderWorkerOptions, 'activities'>;

async function runTestWorker(
  taskQueue: string,
  create: (common: CommonWorkerOptions) => Promise<Worker>,
): Promise<RunningTestWorker> {
  installQuietRuntime();
  const connection = await NativeConnection.connect({ address: testTemporalAddress() });
  const worker = await create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowCode: { bundle: await workflowBundle() },
    shutdownGraceTimeMs: 1_000,
    dataConverter: testDataConverter(),
  });
  const running = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    worker,
    taskQueue,
    // Idempotent: a test may stop its worker early and the harness stops it again.
    stop() {
      stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await connection.close();
      })();
      return stopped;
    },
  };
}
