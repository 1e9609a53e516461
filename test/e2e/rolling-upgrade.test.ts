// Rolling upgrade: orders start on worker build A (today's bundle, dist/workflow-bundle.js); build B, whose order
// workflow adds a command behind patched() (test/support/rolling-upgrade/build-b.workflows.ts), starts in its own
// worker process beside A; A is SIGKILLed; every order A left in flight must then finish on B with no determinism
// error, while orders started on B take B's new path. The same change without patched() must fail to replay A's
// histories, so this test would catch a change that forgot it.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { orderWorkflowId } from '../../contracts/order.contract';
import { createPool, type Pool } from '../../db/pool';
import { testDataConverter } from '../support/codec';
import { ROLLING_UPGRADE_PATCH } from '../support/rolling-upgrade/build-b.workflows';
import { eventually, type RunningProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { connectTestClient, uniqueId } from '../support/temporal';

jest.setTimeout(300_000);

const quiet = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};

let stack: Stack;
let client: Client;
let db: Pool;
let bundleDir: string;

beforeAll(async () => {
  // Long TTL and no status polls: the orders stay in flight until the test moves them.
  stack = await startStack({ CHECKOUT_TIMEOUT: '60s', POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' });
  client = await connectTestClient();
  db = createPool(String(process.env.DATABASE_URL));
  bundleDir = mkdtempSync(path.join(tmpdir(), 'orderpay-build-b-'));
});

afterAll(async () => {
  await stack?.stop();
  await client?.connection.close();
  await db?.end();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

async function bundle(module: string): Promise<{ code: string; file: string }> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.resolve(__dirname, '../support/rolling-upgrade', module),
    logger: quiet,
  });
  const file = path.join(bundleDir, module.replace(/\.ts$/, '.js'));
  writeFileSync(file, code);
  return { code, file };
}

async function checkout(orderId: string): Promise<string> {
  const response = await stack.fetch('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 3_000, currency: 'EUR', gateway: 'stripe' }),
  });
  if (response.status !== 201) console.error(await response.text(), stack.logs());
  expect(response.status).toBe(201);
  return ((await response.json()) as { paymentUrl: string }).paymentUrl;
}

async function waitForStatus(orderId: string, status: string): Promise<void> {
  await eventually(
    async () => {
      const result = await db.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [orderId]);
      return result.rows[0]?.status === status ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `${orderId} ${status}` },
  ).catch((error: unknown) => {
    console.error(stack.logs());
    throw error;
  });
}

async function pay(paymentUrl: string): Promise<void> {
  const page = await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
  expect(page.status).toBe(303);
}

const history = (orderId: string) => client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();

function completedBy(events: temporal.api.history.v1.IHistoryEvent[]): string[] {
  return events.flatMap((event) => event.workflowTaskCompletedEventAttributes?.identity ?? []);
}

function determinismFailures(events: temporal.api.history.v1.IHistoryEvent[]): string[] {
  return events.flatMap((event) => {
    const failed = event.workflowTaskFailedEventAttributes;
    if (!failed) return [];
    const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause ?? 0] ?? String(failed.cause);
    return /NON_DETERMINISTIC|UNHANDLED/.test(cause) ? [`${cause}: ${failed.failure?.message ?? ''}`] : [];
  });
}

/** Build B's patch marker (the order workflow has patches of its own; only B's id counts here). */
const hasPatchMarker = (events: temporal.api.history.v1.IHistoryEvent[]) =>
  events.some((event) => {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return false;
    // Core writes the marker's patch id as a plain JSON payload, outside the payload codec.
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
    return data ? Buffer.from(data).toString('utf8').includes(ROLLING_UPGRADE_PATCH) : false;
  });

describe('rolling upgrade from build A to build B', () => {
  it('when build B (a patched() change) replaces a SIGKILLed build A, then every order A left in flight completes on B without a determinism error, and new orders take B’s path', async () => {
    const buildA = stack.worker;
    const runId = uniqueId('upgrade');
    // In flight on A: two awaiting payment, one to be cancelled, one already PAID (open for its grace window).
    const awaiting = [`${runId}-pay-1`, `${runId}-pay-2`];
    const toCancel = `${runId}-cancel`;
    const paidOnA = `${runId}-paid-on-a`;
    const paymentUrls = new Map<string, string>();
    for (const orderId of [...awaiting, toCancel, paidOnA]) paymentUrls.set(orderId, await checkout(orderId));
    await pay(String(paymentUrls.get(paidOnA)));
    await waitForStatus(paidOnA, 'PAID');
    const buildAIdentity = `${buildA.child.pid}@`;
    for (const orderId of [...awaiting, toCancel, paidOnA]) {
      expect(completedBy((await history(orderId)).events ?? []).every((id) => id.startsWith(buildAIdentity))).toBe(
        true,
      );
    }

    const buildB = await bundle('build-b.workflows.ts');
    const unguarded = await bundle('build-b-unguarded.workflows.ts');
    const workerB: RunningProcess = stack.startWorker({ WORKER_WORKFLOW_BUNDLE: buildB.file });
    // B polls beside A for a moment, as in a rolling deploy; then A dies without a goodbye.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await buildA.stop('SIGKILL');

    for (const orderId of awaiting) await pay(String(paymentUrls.get(orderId)));
    const cancelled = await stack.fetch(`/orders/${toCancel}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'customer' }),
    });
    expect(cancelled.status).toBeLessThan(300);
    const refunded = await stack.fetch(`/orders/${paidOnA}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'customer' }),
    });
    expect(refunded.status).toBeLessThan(300);
    for (const orderId of awaiting) await waitForStatus(orderId, 'PAID');
    await waitForStatus(toCancel, 'CANCELLED');
    await waitForStatus(paidOnA, 'REFUNDED');

    const buildBIdentity = `${workerB.child.pid}@`;
    const inFlight = [...awaiting, toCancel, paidOnA];
    const histories = await Promise.all(
      inFlight.map(async (orderId) => ({ orderId, history: await history(orderId) })),
    );
    for (const { orderId, history: recorded } of histories) {
      const events = recorded.events ?? [];
      expect({ orderId, failures: determinismFailures(events) }).toEqual({ orderId, failures: [] });
      // B moved the order on, on A's path: no patch marker in a history A started.
      expect(completedBy(events).some((id) => id.startsWith(buildBIdentity))).toBe(true);
      expect(hasPatchMarker(events)).toBe(false);
    }

    // An order started after the upgrade takes B's new path, marked in its history.
    const newOrder = `${runId}-new-on-b`;
    await pay(await checkout(newOrder));
    await waitForStatus(newOrder, 'PAID');
    const newEvents = (await history(newOrder)).events ?? [];
    expect(hasPatchMarker(newEvents)).toBe(true);
    expect(determinismFailures(newEvents)).toEqual([]);

    // Every history replays on B; A's histories do not replay on the same change without patched().
    const dataConverter = testDataConverter();
    for (const { orderId, history: recorded } of histories) {
      await Worker.runReplayHistory(
        { workflowBundle: { code: buildB.code }, dataConverter },
        recorded,
        orderWorkflowId(orderId),
      );
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: { code: unguarded.code }, dataConverter },
          recorded,
          orderWorkflowId(orderId),
        ),
      ).rejects.toMatchObject({ name: 'DeterminismViolationError' });
    }
  });
});
