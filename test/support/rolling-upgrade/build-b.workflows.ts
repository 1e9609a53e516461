// "Build B" of the rolling-upgrade test: today's workflows with a change to the order workflow that adds a command
// before anything else (a timer), behind patched() as docs/workflow-changes.md requires. Orders that build A started
// replay without the marker and keep A's path; orders started on B take the new one. Bundled by the test, never
// shipped; it wraps the exported workflow rather than editing workflows/.
import { patched, sleep } from '@temporalio/workflow';
import { orderWorkflow as buildAOrderWorkflow } from '../../../workflows';

export * from '../../../workflows';

export const ROLLING_UPGRADE_PATCH = 'rolling-upgrade-build-b';

export async function orderWorkflow(
  ...args: Parameters<typeof buildAOrderWorkflow>
): ReturnType<typeof buildAOrderWorkflow> {
  // Started, not awaited, before the order's own code: B's first command is this timer, while the order's update
  // handlers are still registered in the first activation (an update that finds no handler by then is rejected).
  const buildBStep = patched(ROLLING_UPGRADE_PATCH) ? sleep(1) : undefined;
  const state = await buildAOrderWorkflow(...args);
  await buildBStep;
  return state;
}
