// The benchmark must not rot: `npm run bench -- --quick` (the built dist/bench/main.js, as `npm run bench` runs it
// after building) starts its own Temporal, database and processes and prints the table with every P1–P6 row, each
// with numbers. No timing is asserted: figures on a shared machine prove nothing in a test.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { projectPath } from '../../config/paths';

jest.setTimeout(300_000);

/** Each figure's rows, in table order, by the start of their `figure` cell. */
const EXPECTED_ROWS: Array<[string, string]> = [
  ['P1', 'checkout→PAID orders/s'],
  ['P2', 'POST /orders p50'],
  ['P2', 'POST /orders p99'],
  ['P3', 'webhook ack p50'],
  ['P3', 'webhook ack p99'],
  ['P3', 'webhook ack p99 against a handler that also signals'],
  ['P3', 'webhook delivery after the answer'],
  ['P3', 'webhook to PAID'],
  ['P4', 'worker RSS, peak'],
  ['P4', 'expiry lateness p99'],
  ['P4', 'checkout→PAID orders/s with'],
  ['P4', 'time to open'],
  ['P4', 'Temporal server CPU'],
  ['P5', 'reconciliation of'],
  ['P5', 'the same file with its repairs'],
  ['P5', 'peak RSS of the reconciliation process'],
  ['P6', 'history: paid by webhook'],
  ['P6', 'history: paid by poll'],
  ['P6', 'history: refunded'],
  ['P6', "history: expired, 30-minute TTL, Stripe's default cadence"],
  ['P6', "history: expired, 30-minute TTL, GATEWAY_POLL_CADENCE=''"],
  ['P6', 'history: expired, 30-minute TTL, POLL_* defaults, a gateway that cannot close its intents'],
];

/** Figures that have nothing to set beside them (their goal is an absolute limit). */
const WITHOUT_BASELINE = ['peak RSS of the reconciliation process'];

function runQuickBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [projectPath('dist', 'bench', 'main.js'), '--quick'], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface ParsedRow {
  id: string;
  figure: string;
  orderpay: string;
  baseline: string;
}

function tableRows(stdout: string): ParsedRow[] {
  return stdout
    .split('\n')
    .filter((line) => /^\| P\d /.test(line))
    .map((line) => {
      const [id = '', figure = '', orderpay = '', baseline = ''] = line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim());
      return { id, figure, orderpay, baseline };
    });
}

describe('npm run bench -- --quick', () => {
  it('when the CI-sized bench runs, then it prints every P1–P6 row with numbers beside its baseline', async () => {
    const entry = projectPath('dist', 'bench', 'main.js');
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);

    const { code, stdout, stderr } = await runQuickBench();
    if (code !== 0) throw new Error(`the bench exited with ${code}:\n${stderr.slice(-4_000)}`);

    const rows = tableRows(stdout);
    expect(rows.map((row) => row.id)).toEqual(EXPECTED_ROWS.map(([id]) => id));
    rows.forEach((row, i) => {
      expect(row.figure.startsWith(EXPECTED_ROWS[i]?.[1] ?? '?')).toBe(true);
      expect(row.orderpay).toMatch(/^\d+(\.\d+)?\b/);
      if (!WITHOUT_BASELINE.some((figure) => row.figure.startsWith(figure))) expect(row.baseline).toMatch(/\d/);
    });
    expect(stdout).not.toMatch(/NaN|Infinity/);
    expect(stdout).toMatch(/machine: \d+ cores/);
    expect(stdout).toMatch(/load average/);
  });
});
