// Builds the order worker (orders and reconciliation share its task queue) and the merchant event worker from
// injected parts; worker/main.ts wires the real ones, tests wire their own.
import type { DataConverter } from '@temporalio/common';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { MerchantEventActivities } from '../activities/merchant-events/merchant-event-activity.types';
import type { OrderActivities } from '../activities/orders/order-activity.types';
import type { OrderRefundActivities } from '../activities/refunds/order-refund-activity.types';
import type { ReconciliationActivities } from '../activities/reconciliation/reconciliation-activity.types';
import { projectPath } from '../config/paths';

/** The prebuilt bundle written by scripts/build-workflow-bundle.ts (`npm run build`). */
export const WORKFLOW_BUNDLE_PATH = projectPath('dist', 'workflow-bundle.js');
const WORKFLOWS_PATH = projectPath('workflows', 'index.ts');

/**
 * How the workflow code is bundled, by the build and by tests alike. The workflow modules are preloaded: the SDK's
 * reusable context then evaluates them once and shares them (frozen) between workflows, where otherwise every
 * workflow in the cache holds its own copy of each module. They hold no per-workflow state at module scope (state
 * lives in each run's objects), which is what sharing them needs.
 */
export const WORKFLOW_BUNDLE_OPTIONS = { workflowsPath: WORKFLOWS_PATH, preloadModules: [WORKFLOWS_PATH] };

export interface OrderWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /**
   * The order activities, the refund workflow's (refunds after the order workflow closed) and the reconciliation ones
   * where the worker also runs reconciliation.
   */
  activities: OrderActivities & Partial<OrderRefundActivities> & Partial<ReconciliationActivities>;
  /**
   * The prebuilt bundle's path in production (fast start, what was tested is what runs); tests pass a bundle made
   * with WORKFLOW_BUNDLE_OPTIONS.
   */
  workflowCode: { bundlePath: string } | { bundle: WorkerOptions['workflowBundle'] };
  shutdownGraceTimeMs?: number;
  /** The payload codec (config/payload-codec.ts): the worker decrypts what clients encrypt, and the reverse. */
  dataConverter?: DataConverter;
  tuning?: Pick<
    WorkerOptions,
    | 'maxCachedWorkflows'
    | 'maxConcurrentActivityTaskExecutions'
    | 'maxConcurrentWorkflowTaskExecutions'
    | 'stickyQueueScheduleToStartTimeout'
  >;
}

/** What every orderpay worker is made of; the two kinds differ only in task queue, activities and tuning. */
type WorkerParts = Omit<OrderWorkerOptions, 'activities'> & { activities: object };

function createWorker(options: WorkerParts): Promise<Worker> {
  const { workflowCode } = options;
  const workflowBundle: WorkerOptions['workflowBundle'] =
    'bundlePath' in workflowCode ? { codePath: workflowCode.bundlePath } : workflowCode.bundle;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: { ...options.activities },
    shutdownGraceTime: options.shutdownGraceTimeMs ?? 10_000,
    dataConverter: options.dataConverter,
    workflowBundle,
    // Unset settings are left out, so the SDK's defaults apply rather than an explicit undefined.
    ...Object.fromEntries(Object.entries(options.tuning ?? {}).filter(([, value]) => value !== undefined)),
  });
}

export async function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  return createWorker(options);
}

export interface MerchantEventWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** merchantEventTaskQueue(the order task queue): deliveries never take an order activity's slot. */
  taskQueue: string;
  activities: MerchantEventActivities;
  workflowCode: OrderWorkerOptions['workflowCode'];
  shutdownGraceTimeMs?: number;
  dataConverter?: DataConverter;
  /** Deliveries wait on merchants' endpoints (up to the request timeout each): many may be in flight at once. */
  maxConcurrentActivityTaskExecutions?: number;
}

/** The worker of the merchant event delivery and sweep workflows, on their own task queue. */
export async function createMerchantEventWorker(options: MerchantEventWorkerOptions): Promise<Worker> {
  const { maxConcurrentActivityTaskExecutions, ...parts } = options;
  return createWorker({
    ...parts,
    tuning: { maxConcurrentActivityTaskExecutions: maxConcurrentActivityTaskExecutions ?? 200 },
  });
}
