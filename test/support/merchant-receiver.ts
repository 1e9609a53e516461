// A merchant's webhook receiver as a real HTTP server, written like the one in docs/merchant-events.md (verify with
// standardwebhooks, de-duplicate by event ID, ignore stale sequence numbers), with fault knobs: answer the first N
// deliveries with an error, be down (connection refused) for a while, answer slowly, or answer 410 Gone.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedDelivery {
  /** When the request arrived and when it was answered (ms since epoch). */
  receivedAt: number;
  answeredAt: number;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The verified event, when the signature verified. */
  event?: ReceivedEvent;
}

export interface ReceivedEvent {
  id: string;
  type: string;
  timestamp: string;
  sequence: number;
  data: { order: { orderId: string; status: string }; reason?: string; refund?: { refundId: string } } & Record<
    string,
    unknown
  >;
}

export interface ReceiverFaults {
  /** Answer this many of the next deliveries with `failStatus` (default 500). */
  failNext?: number;
  failStatus?: number;
  /** Only deliveries of this order count towards failNext (other suites' or tests' stragglers pass). */
  failOnlyOrderId?: string;
  /** Answer every delivery after this long. */
  slowMs?: number;
  /** Answer 410 Gone to everything. */
  gone?: boolean;
}

export interface MerchantReceiver {
  url: string;
  /** Every request, in arrival order (including refused or failed ones). */
  deliveries: ReceivedDelivery[];
  /** Events the receiver processed: verified, first time seen, not older than what it had for the order. */
  processed: ReceivedEvent[];
  /** Verified events dropped as duplicates (same ID) or as stale (lower sequence than the order's last). */
  duplicates: ReceivedEvent[];
  stale: ReceivedEvent[];
  setFaults(faults: ReceiverFaults): void;
  /** Refuses connections for `ms` (the port is closed), then listens on the same port again. */
  goDown(ms: number): Promise<void>;
  /** Resolves when a request arrives (for tests that act while a delivery is in flight). */
  nextRequest(): Promise<void>;
  eventsOf(orderId: string): ReceivedEvent[];
  stop(): Promise<void>;
}

export async function startMerchantReceiver(secret: string): Promise<MerchantReceiver> {
  const webhook = new Webhook(secret);
  const seenIds = new Set<string>();
  const lastSequence = new Map<string, number>();
  const deliveries: ReceivedDelivery[] = [];
  const processed: ReceivedEvent[] = [];
  const duplicates: ReceivedEvent[] = [];
  const stale: ReceivedEvent[] = [];
  let faults: ReceiverFaults = {};
  let waiters: (() => void)[] = [];

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : (value ?? ''),
      ]),
    );
    const notify = waiters;
    waiters = [];
    for (const resolve of notify) resolve();
    if (faults.slowMs) await new Promise((resolve) => setTimeout(resolve, faults.slowMs));
    let status = 204;
    let event: ReceivedEvent | undefined;
    if (faults.gone) status = 410;
    else if ((faults.failNext ?? 0) > 0 && (!faults.failOnlyOrderId || orderIdIn(body) === faults.failOnlyOrderId)) {
      faults = { ...faults, failNext: (faults.failNext ?? 0) - 1 };
      status = faults.failStatus ?? 500;
    } else {
      try {
        event = webhook.verify(body, headers) as ReceivedEvent;
      } catch {
        status = 400;
      }
      if (event) {
        const orderId = event.data.order.orderId;
        if (seenIds.has(event.id)) duplicates.push(event);
        else if (event.sequence <= (lastSequence.get(orderId) ?? 0)) {
          seenIds.add(event.id);
          stale.push(event);
        } else {
          seenIds.add(event.id);
          lastSequence.set(orderId, event.sequence);
          processed.push(event);
        }
      }
    }
    res.writeHead(status).end();
    deliveries.push({ receivedAt, answeredAt: Date.now(), status, headers, body, ...(event ? { event } : {}) });
  };

  let server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const close = (target: http.Server) =>
    new Promise<void>((resolve) => {
      target.closeAllConnections();
      target.close(() => resolve());
    });

  return {
    url: `http://127.0.0.1:${port}/orderpay-events`,
    deliveries,
    processed,
    duplicates,
    stale,
    setFaults(next) {
      faults = { ...next };
    },
    async goDown(ms) {
      await close(server);
      setTimeout(() => {
        server = http.createServer((req, res) => void handle(req, res));
        server.listen(port, '127.0.0.1');
      }, ms);
    },
    nextRequest: () => new Promise<void>((resolve) => waiters.push(resolve)),
    eventsOf: (orderId) => processed.filter((event) => event.data.order.orderId === orderId),
    stop: () => close(server),
  };
}

/** The order a delivery is about, read without verifying (only to aim a fault). */
function orderIdIn(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { data?: { order?: { orderId?: string } } }).data?.order?.orderId;
  } catch {
    return undefined;
  }
}
