// Proves that the current workflow code replays every saved history of every order path without a
// non-determinism error, so a change that would break running orders fails CI before it is deployed.
// Histories are produced by the workflow tests with `npm run replay:record`.
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { testDataConverter } from '../support/codec';
import { HISTORIES_DIR } from '../support/histories';
import { workflowBundle } from '../support/temporal';

const files = readdirSync(HISTORIES_DIR).filter((file) => file.endsWith('.json'));
/** Replay time grows with every history added (about 0.1–0.25 s each on a loaded 2-core machine). */
const REPLAY_TIMEOUT_MS = 60_000 + files.length * 500;

describe('replay of saved order histories', () => {
  it('when the suite runs, then histories of the order paths are present', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it(
    'when every saved history is replayed with the current workflow code, then none fails',
    async () => {
      const histories = files.map((file) => ({
        workflowId: path.basename(file, '.json'),
        history: JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as object,
      }));
      const failures: string[] = [];
      for await (const result of Worker.runReplayHistories(
        // Histories recorded before encryption pass through the codec unchanged; later ones carry the test key.
        { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() },
        histories,
      )) {
        if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
      }
      expect(failures).toEqual([]);
    },
    REPLAY_TIMEOUT_MS,
  );
});
