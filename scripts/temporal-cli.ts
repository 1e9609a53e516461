// Finds the Temporal CLI that scripts/bootstrap.mjs provisioned: TEMPORAL_CLI_PATH, then PATH, then .tools/bin.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { projectPath } from '../config/paths';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.TEMPORAL_CLI_PATH,
    ...(env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'temporal')),
    projectPath('.tools', 'bin', 'temporal'),
  ].filter((candidate): candidate is string => Boolean(candidate));
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new Error(
      'The Temporal CLI was not found. Run `npm run bootstrap` (it builds it with ' +
        '`GOBIN=$PWD/.tools/bin go install github.com/temporalio/cli/cmd/temporal@v1.5.1`), or put `temporal` on PATH.',
    );
  }
  return found;
}
