// The delivery workflow on the real Temporal dev server with in-memory activities: it sends an (endpoint, order)'s
// pending events in sequence order, sleeps until signalled about new ones, gives an event up when its retry window
// passes and goes on with the next, and stops for a disabled endpoint. With RECORD_HISTORIES=1 each path saves its
// history for the replay suite (test/replay).
import { type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { MerchantEventActivities } from '../../activities/merchant-events/merchant-event-activity.types';
import {
  MERCHANT_EVENT_DELIVERY_WORKFLOW_TYPE,
  MERCHANT_EVENT_ERROR_TYPES,
  merchantDeliveryWorkflowId,
  merchantEventsRecordedSignal,
  type MerchantDeliveryWorkflowInput,
  type MerchantDeliveryWorkflowResult,
} from '../../contracts/merchant-events.contract';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/processes';
import { connectTestClient, type RunningTestWorker, startTestMerchantEventWorker, uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

/** Per order: the pending event IDs in sequence order, those that always fail, and what was sent. */
const pending = new Map<string, string[]>();
const failing = new Set<string>();
const sent: string[] = [];
const gaveUp: string[] = [];
let endpointEnabled = true;

const activities: MerchantEventActivities = {
  async listPendingMerchantDeliveries({ orderId }) {
    return endpointEnabled
      ? { endpointEnabled, eventIds: [...(pending.get(orderId) ?? [])] }
      : { endpointEnabled, eventIds: [] };
  },
  async deliverMerchantEvent({ eventId }) {
    if (!endpointEnabled) return { outcome: 'endpoint_disabled' };
    if (failing.has(eventId)) {
      throw ApplicationFailure.create({ type: MERCHANT_EVENT_ERROR_TYPES.deliveryRejected, message: 'answered 503' });
    }
    sent.push(eventId);
    for (const [orderId, ids] of pending)
      pending.set(
        orderId,
        ids.filter((id) => id !== eventId),
      );
    return { outcome: 'delivered' };
  },
  async giveUpMerchantDelivery({ eventId }) {
    gaveUp.push(eventId);
    for (const [orderId, ids] of pending)
      pending.set(
        orderId,
        ids.filter((id) => id !== eventId),
      );
  },
  async sweepMerchantDeliveries() {
    return { started: 0, alreadyRunning: 0 };
  },
};

let client: Client;
let worker: RunningTestWorker;

beforeAll(async () => {
  worker = await startTestMerchantEventWorker(activities);
  client = await connectTestClient();
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
});

function input(orderId: string, overrides: Partial<MerchantDeliveryWorkflowInput> = {}): MerchantDeliveryWorkflowInput {
  return {
    endpointId: 'shop',
    orderId,
    retry: { initialIntervalMs: 100, backoffCoefficient: 2, maximumIntervalMs: 200, giveUpAfterMs: 60_000 },
    attemptTimeoutMs: 5_000,
    idleMs: 1_000,
    ...overrides,
  };
}

async function start(orderId: string, overrides: Partial<MerchantDeliveryWorkflowInput> = {}): Promise<WorkflowHandle> {
  return client.workflow.signalWithStart(MERCHANT_EVENT_DELIVERY_WORKFLOW_TYPE, {
    workflowId: merchantDeliveryWorkflowId('shop', orderId),
    taskQueue: worker.taskQueue,
    args: [input(orderId, overrides)],
    signal: merchantEventsRecordedSignal,
    signalArgs: [],
  });
}

describe('merchantEventDeliveryWorkflow', () => {
  it('when events are pending and more are signalled, then they go in sequence order and the run ends once idle', async () => {
    const orderId = uniqueId('order');
    pending.set(orderId, [`${orderId}-1`, `${orderId}-2`]);
    const handle = await start(orderId, { idleMs: 5_000 });
    await eventually(async () => (sent.includes(`${orderId}-2`) ? true : undefined), { what: 'first events' });
    pending.set(orderId, [`${orderId}-3`]);
    await handle.signal(merchantEventsRecordedSignal);

    const result = (await handle.result()) as MerchantDeliveryWorkflowResult;
    expect(result).toEqual({ delivered: 3, gaveUp: 0, stopped: 'idle' });
    expect(sent.filter((id) => id.startsWith(orderId))).toEqual([`${orderId}-1`, `${orderId}-2`, `${orderId}-3`]);
    await recordHistoryIfAsked(handle, 'merchant-delivery-in-sequence');
  });

  it('when an event is refused until its retry window passes, then it is given up and the next one is delivered', async () => {
    const orderId = uniqueId('order');
    pending.set(orderId, [`${orderId}-1`, `${orderId}-2`]);
    failing.add(`${orderId}-1`);
    const handle = await start(orderId, {
      retry: { initialIntervalMs: 100, backoffCoefficient: 2, maximumIntervalMs: 200, giveUpAfterMs: 1_500 },
    });
    const result = (await handle.result()) as MerchantDeliveryWorkflowResult;
    expect(result).toEqual({ delivered: 1, gaveUp: 1, stopped: 'idle' });
    expect(gaveUp).toContain(`${orderId}-1`);
    expect(sent).toContain(`${orderId}-2`);
    expect(sent).not.toContain(`${orderId}-1`);
    await recordHistoryIfAsked(handle, 'merchant-delivery-gives-up');
  });

  it('when the endpoint is disabled, then the workflow stops without sending', async () => {
    const orderId = uniqueId('order');
    pending.set(orderId, [`${orderId}-1`]);
    endpointEnabled = false;
    try {
      const handle = await start(orderId);
      expect(await handle.result()).toEqual({ delivered: 0, gaveUp: 0, stopped: 'endpoint_disabled' });
      expect(sent).not.toContain(`${orderId}-1`);
      await recordHistoryIfAsked(handle, 'merchant-delivery-endpoint-disabled');
    } finally {
      endpointEnabled = true;
    }
  });
});
