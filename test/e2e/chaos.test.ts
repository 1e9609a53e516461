// The chaos run of `npm run chaos` (scripts/chaos/run.ts), CI-sized: Stripe, Khalti and eSewa orders with seeded
// fates while workers, an API replica and the Temporal server are killed, orderpay's database connections are cut
// and the sandbox misbehaves; then the gateway ledger, PostgreSQL and every workflow must agree and every history
// must replay. The embedded dev server by default (CI does not build the Temporal server); a longer run, or the
// cluster topology: `CHAOS_ORDERS=300 CHAOS_SEED=7 CHAOS_TOPOLOGY=cluster npx jest test/e2e/chaos.test.ts`, or
// `npm run chaos`.
import { formatChaosReport, runChaos } from '../../scripts/chaos/run';

const ORDER_COUNT = Number(process.env.CHAOS_ORDERS ?? 24);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
const TOPOLOGY = process.env.CHAOS_TOPOLOGY === 'cluster' ? 'cluster' : 'embedded';

jest.setTimeout(Math.max(600_000, ORDER_COUNT * 4_000));

describe('chaos run (Stripe, Khalti and eSewa)', () => {
  it('when orders run under killed workers, API replicas and Temporal server, cut database connections and a faulty gateway, then no money is lost, taken twice or over-refunded, and every source agrees', async () => {
    const report = await runChaos({
      orders: ORDER_COUNT,
      seed: SEED,
      topology: TOPOLOGY,
      apiReplicas: 2,
      workers: 2,
      adminUrl: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      spacingMs: 150,
      log: () => undefined,
    });
    console.log(formatChaosReport(report));
    if (report.violations.length > 0) console.error(report.logs);
    // Every fate was played and every kind of fault happened at least once.
    expect([...report.outcomes.values()].reduce((sum, count) => sum + count, 0)).toBe(ORDER_COUNT);
    expect(report.faults.workerKills).toBeGreaterThan(0);
    expect(report.faults.temporalRestarts).toBeGreaterThan(0);
    expect(report.faults.databaseCuts).toBeGreaterThan(0);
    expect(report.violations).toEqual([]);
  });
});
