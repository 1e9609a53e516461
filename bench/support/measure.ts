// Small statistics and load helpers shared by the scenarios.
import http from 'node:http';

/** The q-quantile (0..1) of the samples by nearest rank; NaN for none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Runs `work(i)` for i in [0, count) with at most `concurrency` at a time; returns the elapsed seconds. */
export async function runConcurrently(
  count: number,
  concurrency: number,
  work: (index: number) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await work(index);
    }
  });
  await Promise.all(lanes);
  return (performance.now() - started) / 1000;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** A POST over a kept-alive connection; resolves with the status once the whole answer is read. */
export function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent: keepAlive, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

/**
 * An open-loop load: request i is due at start + i / rate, whether or not earlier ones have answered, and its latency
 * is counted from when it was due (so a stalled server is not hidden by a stalled generator).
 */
export async function openLoop(
  count: number,
  ratePerSecond: number,
  send: (index: number) => Promise<number>,
): Promise<{ latenciesMs: number[]; statuses: Map<number, number>; seconds: number }> {
  const started = performance.now();
  const latenciesMs: number[] = [];
  const statuses = new Map<number, number>();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i += 1) {
    const due = started + (i * 1000) / ratePerSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      send(i).then(
        (status) => {
          latenciesMs.push(performance.now() - due);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        },
        () => {
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return { latenciesMs, statuses, seconds: (performance.now() - started) / 1000 };
}

export function describeStatuses(statuses: Map<number, number>): string {
  return [...statuses.entries()].map(([status, n]) => `${status}×${n}`).join(' ');
}
