// P4: many orders awaiting payment at once on one worker, with the production poll cadence (the API's defaults) and
// the given TTL: the worker's memory, how late expiries fire, checkout throughput with the orders open against
// with none open, how long reaching N took, and the Temporal server's CPU while they wait.
import { randomBytes } from 'node:crypto';
import type { Pool } from '../../db/pool';
import { quantile, runConcurrently } from '../support/measure';
import { cpuSecondsOf, memoryOf, sleep } from '../support/processes';
import type { BenchEnvironment } from '../support/stack';
import { startOrderpayStack } from '../support/stack';
import { orderpayCheckouts } from './checkout.bench';

export interface OpenOrdersLoad {
  orders: number;
  /** ORDER_TTL of the API, e.g. 15m (the production default). */
  ttl: string;
  /** Concurrency of the checkouts that open the orders. */
  concurrency: number;
  /** Paid checkouts per throughput probe (none open, then N open). */
  probeOrders: number;
}

export interface OpenOrdersFigures {
  orders: number;
  /** The most orders awaiting payment at once (sampled every 5 s). */
  peakOpen: number;
  ttl: string;
  secondsToOpen: number;
  workerRssIdleMiB: number;
  workerRssPeakMiB: number;
  expiryLatenessP50S: number;
  expiryLatenessP99S: number;
  expiryLatenessMaxS: number;
  expired: number;
  throughputNoneOpen: number;
  throughputAllOpen: number;
  serverCpuIdlePercent: number;
  serverCpuOpenPercent: number;
  /** Checkouts a merchant's client would have repeated after a 503 while opening and probing. */
  repeated503: number;
  /** Checkouts still answered 503 after a minute of repeats while opening. */
  unanswered: number;
}

export async function measureOpenOrders(
  environment: BenchEnvironment,
  pool: Pool,
  temporalPid: number,
  load: OpenOrdersLoad,
  progress: (line: string) => void,
): Promise<OpenOrdersFigures> {
  const stack = await startOrderpayStack(environment, { apiEnv: { ORDER_TTL: load.ttl } });
  const run = randomBytes(3).toString('hex');
  const prefix = `bench-p4-${run}-`;
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, memoryOf(stack.worker.pid).rssMiB);
  }, 1_000);
  // When opening N takes longer than the TTL, the first orders expire before the last are opened: the figure that
  // matters is how many were open at once.
  let peakOpen = 0;
  const openSampler = setInterval(() => {
    pool
      .query<{ n: number }>(
        `SELECT count(*)::int AS n FROM orders WHERE order_id LIKE $1 AND status IN ('PENDING', 'AWAITING_PAYMENT')`,
        [`${prefix}%`],
      )
      .then(
        ({ rows }) => {
          peakOpen = Math.max(peakOpen, rows[0]?.n ?? 0);
        },
        () => undefined,
      );
  }, 5_000);
  try {
    const probe = { orders: load.probeOrders, concurrency: 10, warmup: 10 };
    const noneOpen = await orderpayCheckouts(stack, pool, probe);
    const workerRssIdleMiB = memoryOf(stack.worker.pid).rssMiB;
    const serverCpuIdlePercent = await cpuPercent(temporalPid, 10_000);
    progress(`P4: ${noneOpen.ordersPerSecond.toFixed(2)} paid/s with none open; opening ${load.orders} orders…`);

    const openStarted = performance.now();
    let opened = 0;
    let unanswered = 0;
    await runConcurrently(load.orders, load.concurrency, async (i) => {
      const answer = await stack.api.checkout(`${prefix}${i}`);
      // Still 503 after a minute of repeats: the order exists and carries on (it will expire); counted, not fatal.
      if (answer.status === 503) unanswered += 1;
      else if (answer.status !== 201) {
        throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      }
      opened += 1;
      if (opened % 1_000 === 0)
        progress(`P4: ${opened} open, worker RSS ${memoryOf(stack.worker.pid).rssMiB.toFixed(0)} MiB`);
    });
    const secondsToOpen = (performance.now() - openStarted) / 1000;
    progress(`P4: ${load.orders} open after ${secondsToOpen.toFixed(0)} s; probing throughput…`);
    const allOpen = await orderpayCheckouts(stack, pool, probe);

    const cpuBefore = cpuSecondsOf(temporalPid);
    const waitStarted = performance.now();
    const lastExpiry = await pool.query<{ last: Date }>(
      `SELECT max(expires_at) AS last FROM orders WHERE order_id LIKE $1`,
      [`${prefix}%`],
    );
    // Every expiry is due by the last expires_at; lateness beyond ten minutes is reported as not expired.
    const deadline = (lastExpiry.rows[0]?.last.getTime() ?? Date.now()) + 10 * 60_000;
    let expired = 0;
    while (Date.now() < deadline) {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM orders WHERE order_id LIKE $1 AND status = 'EXPIRED'`,
        [`${prefix}%`],
      );
      expired = rows[0]?.n ?? 0;
      if (expired >= load.orders) break;
      await sleep(2_000);
    }
    const serverCpuOpenPercent =
      ((cpuSecondsOf(temporalPid) - cpuBefore) / ((performance.now() - waitStarted) / 1000)) * 100;
    const lateness = await pool.query<{ seconds: number }>(
      `SELECT extract(epoch FROM h.at - o.expires_at)::float8 AS seconds
         FROM orders o JOIN order_status_history h ON h.order_id = o.order_id AND h.to_status = 'EXPIRED'
        WHERE o.order_id LIKE $1`,
      [`${prefix}%`],
    );
    const seconds = lateness.rows.map((row) => row.seconds);
    return {
      orders: load.orders,
      peakOpen,
      ttl: load.ttl,
      secondsToOpen,
      workerRssIdleMiB,
      workerRssPeakMiB: peakRss,
      expiryLatenessP50S: quantile(seconds, 0.5),
      expiryLatenessP99S: quantile(seconds, 0.99),
      expiryLatenessMaxS: Math.max(...seconds),
      expired,
      throughputNoneOpen: noneOpen.ordersPerSecond,
      throughputAllOpen: allOpen.ordersPerSecond,
      serverCpuIdlePercent,
      serverCpuOpenPercent,
      repeated503: stack.api.repeated503,
      unanswered,
    };
  } finally {
    clearInterval(sampler);
    clearInterval(openSampler);
    await stack.stop();
  }
}

/** CPU use of a process over a window, in percent of one core. */
async function cpuPercent(pid: number, windowMs: number): Promise<number> {
  const before = cpuSecondsOf(pid);
  await sleep(windowMs);
  return ((cpuSecondsOf(pid) - before) / (windowMs / 1000)) * 100;
}
