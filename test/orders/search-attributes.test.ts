// What operators see in the Temporal Web UI and `temporal workflow list`: orders checked out through the real API,
// moved by a real worker, then found through the client's list API (the same visibility queries as the Web UI).
// After every transition all seven search attributes hold the order's values, and the summary, details and memo
// name the order without any customer data. The dev server's visibility store is eventually consistent, so each
// check polls until the listing matches.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { RunningApiServer } from '../../api/server';
import {
  orderSearchAttributes,
  orderWorkflowId,
  paymentEventSignal,
  refundOrderUpdate,
} from '../../contracts/order.contract';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { eventually } from '../support/processes';
import { uniqueId } from '../support/temporal';

jest.setTimeout(90_000);

let harness: ApiHarness;
let temporal: Client;
let api: RunningApiServer;

const CUSTOMER = { name: 'Ramona Quimby', email: 'ramona.q@example.test', phone: '+977-9800000000' };

beforeAll(async () => {
  harness = await startApiHarness();
  temporal = harness.temporal;
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

interface Attributes {
  OrderStatus: unknown;
  Gateway: unknown;
  OrderId: unknown;
  AmountMinor: unknown;
  Currency: unknown;
  ExpiresAt: unknown;
  NeedsAttention: unknown;
}

function attributesOf(info: WorkflowExecutionInfo): Attributes {
  const get = info.typedSearchAttributes;
  const expiresAt = get.get(orderSearchAttributes.expiresAt);
  return {
    OrderStatus: get.get(orderSearchAttributes.orderStatus),
    Gateway: get.get(orderSearchAttributes.gateway),
    OrderId: get.get(orderSearchAttributes.orderId),
    AmountMinor: get.get(orderSearchAttributes.amountMinor),
    Currency: get.get(orderSearchAttributes.currency),
    ExpiresAt: expiresAt instanceof Date ? expiresAt.toISOString() : expiresAt,
    NeedsAttention: get.get(orderSearchAttributes.needsAttention),
  };
}

async function list(query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const info of temporal.workflow.list({ query })) found.push(info);
  return found;
}

/** Polls the list API with `query` until its only result has exactly `expected` as search attributes. */
async function expectListed(query: string, expected: Attributes): Promise<WorkflowExecutionInfo> {
  let last: unknown;
  try {
    return await eventually(
      async () => {
        const found = await list(query);
        last = found.map(attributesOf);
        const [only] = found;
        return found.length === 1 && only && JSON.stringify(attributesOf(only)) === JSON.stringify(expected)
          ? only
          : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: `listing of ${query}` },
    );
  } catch (error) {
    // Show what the listing held instead, so a failure says which attribute is wrong.
    expect({ query, listed: last }).toEqual({ query, listed: [expected] });
    throw error;
  }
}

async function checkout(overrides: Record<string, unknown> = {}) {
  const orderId = uniqueId('sa');
  const body = {
    orderId,
    amount: 4_200,
    currency: 'EUR',
    gateway: 'stripe',
    description: `Gift for ${CUSTOMER.name}`,
    customer: CUSTOMER,
    ...overrides,
  };
  const response = await postJson(api.url, '/orders', body);
  return { orderId, response };
}

function expectedFor(orderId: string, expiresAt: string, status: string, needsAttention = false): Attributes {
  return {
    OrderStatus: status,
    Gateway: 'stripe',
    OrderId: orderId,
    AmountMinor: 4_200,
    Currency: 'EUR',
    ExpiresAt: expiresAt,
    NeedsAttention: needsAttention,
  };
}

describe('search attributes through the list API', () => {
  it('when an order is checked out, paid, partly and then fully refunded, then each status is listed with every attribute', async () => {
    const { orderId, response } = await checkout();
    expect(response.status).toBe(201);
    const expiresAt = String(response.body.expiresAt);
    const byOrder = `OrderId="${orderId}"`;

    await expectListed(byOrder, expectedFor(orderId, expiresAt, 'AWAITING_PAYMENT'));
    // The operator's query for orders past their expiry, and its negative.
    const later = new Date(Date.parse(expiresAt) + 1_000).toISOString();
    const earlier = new Date(Date.parse(expiresAt) - 1_000).toISOString();
    await expectListed(
      `OrderStatus="AWAITING_PAYMENT" AND ExpiresAt < "${later}" AND ${byOrder}`,
      expectedFor(orderId, expiresAt, 'AWAITING_PAYMENT'),
    );
    expect(await list(`OrderStatus="AWAITING_PAYMENT" AND ExpiresAt < "${earlier}" AND ${byOrder}`)).toEqual([]);

    harness.gateway.payerPays(orderId);
    const handle = temporal.workflow.getHandle(orderWorkflowId(orderId));
    await handle.signal(paymentEventSignal, harness.gateway.eventFor(orderId));
    await expectListed(`OrderStatus="PAID" AND ${byOrder}`, expectedFor(orderId, expiresAt, 'PAID'));

    await handle.executeUpdate(refundOrderUpdate, {
      args: [{ requestId: 'partial-1', amountMinor: 1_000, reason: 'one item returned' }],
    });
    await expectListed(
      `OrderStatus="PARTIALLY_REFUNDED" AND ${byOrder}`,
      expectedFor(orderId, expiresAt, 'PARTIALLY_REFUNDED'),
    );

    await handle.executeUpdate(refundOrderUpdate, { args: [{ requestId: 'rest-1', reason: 'all returned' }] });
    await expectListed(`OrderStatus="REFUNDED" AND ${byOrder}`, expectedFor(orderId, expiresAt, 'REFUNDED'));
  });

  it('when the payer pays another amount, then once refunded it is still listed under NeedsAttention=true', async () => {
    const { orderId, response } = await checkout();
    expect(response.status).toBe(201);
    const expiresAt = String(response.body.expiresAt);

    harness.gateway.payerPays(orderId, { amountMinor: 4_100 });
    await temporal.workflow
      .getHandle(orderWorkflowId(orderId))
      .signal(paymentEventSignal, harness.gateway.eventFor(orderId));

    await expectListed(
      `NeedsAttention=true AND OrderId="${orderId}"`,
      expectedFor(orderId, expiresAt, 'REFUNDED', true),
    );
    expect(await list(`NeedsAttention=false AND OrderId="${orderId}"`)).toEqual([]);
  });

  it('when an order is cancelled through the API, then it is listed CANCELLED', async () => {
    const { orderId, response } = await checkout();
    const expiresAt = String(response.body.expiresAt);
    expect((await postJson(api.url, `/orders/${orderId}/cancel`, { reason: 'changed mind' })).status).toBe(200);
    await expectListed(
      `OrderStatus="CANCELLED" AND OrderId="${orderId}"`,
      expectedFor(orderId, expiresAt, 'CANCELLED'),
    );
  });

  it('when an order reaches its TTL unpaid, then it is listed EXPIRED', async () => {
    const shortLived = await harness.startApi({
      config: harness.config({ ORDER_TTL: '2s', TEMPORAL_TASK_QUEUE: harness.worker.taskQueue }),
    });
    const orderId = uniqueId('sa-exp');
    const response = await postJson(shortLived.url, '/orders', {
      orderId,
      amount: 4_200,
      currency: 'EUR',
      gateway: 'stripe',
    });
    expect(response.status).toBe(201);
    await expectListed(
      `OrderStatus="EXPIRED" AND OrderId="${orderId}"`,
      expectedFor(orderId, String(response.body.expiresAt), 'EXPIRED'),
    );
  });

  it('when the gateway refuses the intent, then the order is listed FAILED', async () => {
    const orderId = uniqueId('sa-rej');
    harness.gateway.rejectNextCalls('createIntent', 1, { orderId });
    const response = await postJson(api.url, '/orders', { orderId, amount: 4_200, currency: 'EUR', gateway: 'stripe' });
    expect(response.status).toBe(502);
    const order = await http(api.url, 'GET', `/orders/${orderId}`);
    await expectListed(
      `OrderStatus="FAILED" AND OrderId="${orderId}"`,
      expectedFor(orderId, String(order.body.expiresAt), 'FAILED'),
    );
  });

  it('when an order is started, then its summary, details and memo name the order, amount and gateway but no customer data', async () => {
    const { orderId, response } = await checkout();
    expect(response.status).toBe(201);
    const described = await temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
    const summary = await described.staticSummary();
    const details = await described.staticDetails();

    expect(summary).toBe(`Order ${orderId}: 4200 EUR (minor units) via stripe`);
    expect(details).toContain(`GET /orders/${orderId}`);
    expect(described.memo).toEqual({ orderId, gateway: 'stripe', amountMinor: 4_200, currency: 'EUR' });
    const shown = JSON.stringify({ summary, details, memo: described.memo });
    for (const personal of [CUSTOMER.name, CUSTOMER.email, CUSTOMER.phone, 'Gift for']) {
      expect(shown).not.toContain(personal);
    }
    // The listing carries the memo too, for the Web UI's list view.
    const [listed] = await eventually(
      async () => {
        const found = await list(`OrderId="${orderId}"`);
        return found.length === 1 ? found : undefined;
      },
      { what: 'order listed' },
    );
    expect(listed?.memo).toEqual(described.memo);
  });
});
