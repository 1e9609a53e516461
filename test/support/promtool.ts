// promtool (Debian's `prometheus` package) for the tests that check metrics output and alert rules. A missing
// promtool fails those tests with the way to install it; it never skips them.
import { spawnSync } from 'node:child_process';

export const PROMTOOL_INSTALL_HINT =
  'promtool is not installed: `apt-get install -y prometheus` (Debian/Ubuntu; `.ci/run` does this when run as root), ' +
  'or put promtool from https://prometheus.io/download/ on PATH, or set PROMTOOL_PATH';

export interface PromtoolResult {
  status: number | null;
  output: string;
}

export function promtool(args: string[], input?: string): PromtoolResult {
  const executable = process.env.PROMTOOL_PATH ?? 'promtool';
  const result = spawnSync(executable, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(PROMTOOL_INSTALL_HINT);
  }
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
