// The bench's one table, as Markdown, so a run's output can be pasted into bench/README.md as it is.
export interface TableRow {
  id: string;
  figure: string;
  orderpay: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** Whether the goal is met; absent for figures that are only reported. */
  met?: boolean;
}

const COLUMNS = ['', 'figure', 'orderpay', 'baseline (same run)', 'ratio', 'goal', 'met'] as const;

export function formatTable(rows: readonly TableRow[]): string {
  const cells = rows.map((row) => [
    row.id,
    row.figure,
    row.orderpay,
    row.baseline,
    row.ratio,
    row.goal,
    row.met === undefined ? '' : row.met ? 'yes' : 'no',
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    `| ${values.map((value, i) => value.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(COLUMNS), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}
