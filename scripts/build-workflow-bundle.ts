// Bundles the workflow code once at build time, so workers start fast and run exactly what was built.
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { projectPath } from '../config/paths';
import { WORKFLOW_BUNDLE_OPTIONS, WORKFLOW_BUNDLE_PATH } from '../worker/create-worker';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode(WORKFLOW_BUNDLE_OPTIONS);
  await mkdir(path.dirname(WORKFLOW_BUNDLE_PATH), { recursive: true });
  await writeFile(WORKFLOW_BUNDLE_PATH, code);
  console.log(`workflow bundle written to ${path.relative(projectPath(), WORKFLOW_BUNDLE_PATH)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
