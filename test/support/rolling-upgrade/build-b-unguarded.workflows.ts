// Build B's change WITHOUT patched(): what the rolling-upgrade test shows must not ship. Replaying a build-A history
// with it has to fail with a determinism error, which proves the test would catch a change that forgot patched().
import { sleep } from '@temporalio/workflow';
import { orderWorkflow as buildAOrderWorkflow } from '../../../workflows';

export * from '../../../workflows';

export async function orderWorkflow(
  ...args: Parameters<typeof buildAOrderWorkflow>
): ReturnType<typeof buildAOrderWorkflow> {
  // Started, not awaited, before the order's own code: B's first command is this timer, while the order's update
  // handlers are still registered in the first activation (an update that finds no handler by then is rejected).
  const buildBStep = sleep(1);
  const state = await buildAOrderWorkflow(...args);
  await buildBStep;
  return state;
}
