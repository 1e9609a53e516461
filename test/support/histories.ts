// Saves workflow histories for the replay suite when RECORD_HISTORIES=1 (`npm run replay:record`).
// Exported with the Temporal CLI, in the same JSON form an operator gets from `temporal workflow show -o json`.
import type { WorkflowHandle } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { projectPath } from '../../config/paths';
import { findTemporalCli } from '../../scripts/temporal-cli';
import { testTemporalAddress } from './temporal';

export const HISTORIES_DIR = projectPath('test', 'replay', 'histories');

export async function recordHistoryIfAsked(handle: WorkflowHandle, pathName: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const { stdout } = await promisify(execFile)(
    findTemporalCli(),
    ['workflow', 'show', '--workflow-id', handle.workflowId, '--address', testTemporalAddress(), '--output', 'json'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  // 'wx': a recorded history stands for orders in flight and is never replaced; record a new path under a new name.
  // After a change to the process, RECORD_HISTORIES_SUFFIX records every path again under new names beside the old.
  const suffix = process.env.RECORD_HISTORIES_SUFFIX ?? '';
  await writeFile(`${HISTORIES_DIR}/${pathName}${suffix}.json`, stdout, { flag: 'wx' });
}
