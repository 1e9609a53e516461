// How many webhook deliveries may be in flight, given how busy the intake is. Every delivery is database writes in
// this API (claim, outcome) plus a signal the Temporal server and the worker must process, on the same machines that
// answer the gateway; during a burst those compete with the acknowledgements the gateway is waiting for. So while
// more than `busyAbovePerSecond` webhooks arrived in the last second, only `busyConcurrency` deliveries run, and the
// full `concurrency` again as soon as the last second was quieter. The backlog this leaves is stored and waits in the
// queue or for the sweeper: a burst trades delivery lag for acknowledgement latency, and loses nothing.

export interface DeliveryPacingSettings {
  /** Deliveries in flight while the intake is quiet. */
  concurrency: number;
  /** Deliveries in flight while it is busy; at least 1, so a burst that never ends still drains. */
  busyConcurrency: number;
  /** Webhooks in the last second above which the intake is busy; 0: never paced. */
  busyAbovePerSecond: number;
}

export interface DeliveryPacer {
  /** One webhook taken in now. */
  noteArrival(): void;
  /** Deliveries allowed in flight now. */
  concurrency(): number;
}

const WINDOW_MS = 1_000;

/** `now`: milliseconds on a monotonic clock (performance.now in production; tests pass their own). */
export function createDeliveryPacer(settings: DeliveryPacingSettings, now: () => number): DeliveryPacer {
  const { concurrency, busyConcurrency, busyAbovePerSecond } = settings;
  if (busyAbovePerSecond === 0) return { noteArrival: () => undefined, concurrency: () => concurrency };
  // The times of the last busyAbovePerSecond + 1 arrivals, oldest overwritten first: the intake is busy exactly when
  // the oldest of them is less than a second old. Memory is fixed whatever the rate.
  const arrivals = new Float64Array(busyAbovePerSecond + 1).fill(Number.NEGATIVE_INFINITY);
  let next = 0;
  return {
    noteArrival() {
      arrivals[next] = now();
      next = (next + 1) % arrivals.length;
    },
    concurrency() {
      // `next` is the slot written longest ago.
      const oldest = arrivals[next] ?? Number.NEGATIVE_INFINITY;
      return now() - oldest < WINDOW_MS ? Math.min(busyConcurrency, concurrency) : concurrency;
    },
  };
}
