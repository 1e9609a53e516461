// The real api (LOG_LEVEL=debug), worker (info: debug adds the SDK's chatter) and sandbox processes: an order
// carrying card-like numbers and contact data in every free-text field is paid and then cancelled (a refund), and
// their combined output holds none of it, while the worker's activity lines name the order and its workflow.
import { orderWorkflowId } from '../../contracts/order.contract';
import { merchantAuthorization, TEST_API_KEY } from '../support/api-keys';
import { eventually } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const PLANTED = [
  '4111111111111111',
  '4242 4242 4242 4242',
  'ramona.q@example.test',
  '+977-9800000001',
  'Quimby',
  TEST_API_KEY,
];
const DIRTY = 'card 4111111111111111 / 4242 4242 4242 4242 for ramona.q@example.test, +977-9800000001';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack(
    { LOG_LEVEL: 'debug', POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' },
    { LOG_LEVEL: 'info' },
  );
});

afterAll(async () => {
  await stack?.stop();
});

async function orderStatus(orderId: string): Promise<string> {
  const body = (await (await stack.fetch(`/orders/${orderId}`)).json()) as { status: string };
  return body.status;
}

describe('logs of the real processes', () => {
  it('when an order with personal data is paid and refunded, then no process logs the data, and worker activity lines name the order and workflow', async () => {
    const orderId = uniqueId('e2e-logs');
    const created = await stack.fetch(`/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: merchantAuthorization },
      body: JSON.stringify({
        orderId,
        amount: 1_500,
        currency: 'USD',
        gateway: 'stripe',
        description: DIRTY,
        customer: { name: 'Ramona Quimby', email: 'ramona.q@example.test', phone: '+977-9800000001' },
      }),
    });
    expect(created.status).toBe(201);
    const { paymentUrl } = (await created.json()) as { paymentUrl: string };
    expect((await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(303);
    await eventually(async () => ((await orderStatus(orderId)) === 'PAID' ? true : undefined), { what: 'PAID' });
    const cancel = await stack.fetch(`/orders/${orderId}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: DIRTY }),
    });
    expect(cancel.status).toBe(200);
    await eventually(async () => ((await orderStatus(orderId)) === 'REFUNDED' ? true : undefined), {
      what: 'REFUNDED',
    });

    const output = stack.logs();
    for (const value of PLANTED) expect({ value, leaked: output.includes(value) }).toEqual({ value, leaked: false });
    expect(output).toContain('[redacted:card]');

    const workerLines = stack.worker
      .output()
      .split('\n')
      .flatMap((line): Record<string, unknown>[] => {
        // The captured output keeps the last 20 kB, so its first line may be cut.
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    const activityLines = workerLines.filter((line) => line.activity !== undefined && line.orderId === orderId);
    expect(activityLines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['order recorded', 'payment intent created', 'order transitioned']),
    );
    for (const line of activityLines) expect(line.workflowId).toBe(orderWorkflowId(orderId));
  });
});
