// Hostile input found by fuzzing the running API, one test per finding: each request must get a 4xx in the one error
// shape and change nothing, and the process must keep running.
import { startApiHarness, http, type ApiHarness } from '../support/api-harness';
import type { RunningApiServer } from '../../api/server';

jest.setTimeout(120_000);

const ADMIN_TOKEN = 'hostile-admin-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'hostile-test' };
let harness: ApiHarness;
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness();
  api = await harness.startApi({ config: harness.config({ ADMIN_API_TOKEN: ADMIN_TOKEN, TEMPORAL_TASK_QUEUE: harness.worker.taskQueue }) });
});

afterAll(async () => {
  await harness?.stop();
});

describe('settlement uploads', () => {
  test('when an upload has a bad header and a body over 20 KB, then it is a 400 and the API keeps answering', async () => {
    const body = `nonsense,header\n${'x,y\n'.repeat(10_000)}`;
    for (let i = 0; i < 5; i++) {
      const upload = await http(
        api.url,
        'POST',
        `/admin/reconciliation/reports?gateway=stripe&windowStart=2026-01-01T00:00:00Z&windowEnd=2026-01-02T00:00:00Z`,
        { body, headers: { ...admin, 'content-type': 'text/csv' } },
      );
      expect(upload.status).toBe(400);
      expect(upload.body.error.code).toBe('invalid_report');
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const reports = await harness.pool.query('SELECT 1');
    expect(reports.rowCount).toBe(1);
    expect((await http(api.url, 'GET', '/healthz')).status).toBe(200);
  });
});
