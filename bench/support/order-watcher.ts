// Waits for orders to reach a status by reading the orders table (one query for every waiting order), so that
// watching hundreds of orders costs the API nothing.
import type { Pool } from '../../db/pool';

export interface OrderWatcher {
  /** Resolves with the time (ms since the epoch) the watcher first saw the order in one of the statuses. */
  waitFor(orderId: string, timeoutMs?: number): Promise<number>;
  stop(): void;
}

export function watchOrders(pool: Pool, statuses: readonly string[], intervalMs = 50): OrderWatcher {
  const waiting = new Map<string, { resolve(at: number): void; reject(error: Error): void; deadline: number }>();
  let stopped = false;
  const tick = async () => {
    while (!stopped) {
      if (waiting.size > 0) {
        const ids = [...waiting.keys()];
        // The PostgreSQL is shared: a refused connection or a slow query is waited out, not fatal; each waiter's
        // deadline still applies.
        const rows = await pool
          .query<{ order_id: string }>('SELECT order_id FROM orders WHERE order_id = ANY($1) AND status = ANY($2)', [
            ids,
            statuses,
          ])
          .then(
            (result) => result.rows,
            () => [],
          );
        const now = Date.now();
        for (const row of rows) {
          waiting.get(row.order_id)?.resolve(now);
          waiting.delete(row.order_id);
        }
        for (const [id, waiter] of waiting) {
          if (now > waiter.deadline) {
            waiter.reject(new Error(`order ${id} did not reach ${statuses.join('/')} in time`));
            waiting.delete(id);
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  };
  const running = tick().catch((error: unknown) => {
    for (const waiter of waiting.values()) waiter.reject(error instanceof Error ? error : new Error(String(error)));
  });
  return {
    waitFor(orderId, timeoutMs = 300_000) {
      return new Promise((resolve, reject) => {
        waiting.set(orderId, { resolve, reject, deadline: Date.now() + timeoutMs });
      });
    },
    stop() {
      stopped = true;
      void running;
    },
  };
}
