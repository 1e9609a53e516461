// The docs are the newcomer's map: the README stays short, every relative link lands on a file and heading that
// exist, the README's folder map names real folders, and the configuration reference lists every variable the
// processes parse. Plain file reads, no servers.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { apiConfigSchema, sandboxConfigSchema, workerConfigSchema } from '../../config/env';
import { startConfigSchema } from '../../scripts/start-config';

const root = path.resolve(__dirname, '../..');
const README = 'README.md';
const MAX_README_LINES = 150;

function read(file: string): string {
  return readFileSync(path.join(root, file), 'utf8');
}

/** The markdown files whose links are checked, relative to the repository root. */
function documentedFiles(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return [README, ...docs, 'bench/README.md'];
}

/** The lines outside fenced code blocks, so shell snippets and JSON are never read as markdown. */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) lines.push(line);
  }
  return lines;
}

/** GitHub's heading anchor: lower case, formatting and punctuation dropped, spaces to hyphens, repeats numbered. */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .toLowerCase();
    const base = text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    slugs.add(count === 0 ? base : `${base}-${count}`);
  }
  return slugs;
}

interface Link {
  file: string;
  target: string;
}

/** Every inline link and image target outside code (fenced blocks and `inline code`). */
function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  for (const line of proseLines(read(file))) {
    const withoutCode = line.replace(/`[^`]*`/g, '');
    for (const match of withoutCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1] as string;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      links.push({ file, target });
    }
  }
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenReason({ file, target }: Link): string | undefined {
  const [pathPart = '', anchor] = target.split('#', 2);
  const resolved = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), pathPart));
  if (resolved.startsWith('..')) return `${target} leaves the repository`;
  if (!existsSync(path.join(root, resolved))) return `${resolved} does not exist`;
  if (anchor === undefined) return undefined;
  if (!resolved.endsWith('.md')) return undefined;
  const slugs = headingSlugs(read(resolved));
  return slugs.has(decodeURIComponent(anchor)) ? undefined : `${resolved} has no heading #${anchor}`;
}

/** The paths in the folder column of the README's folder map (the table under "Where things are"). */
function folderMapPaths(): string[] {
  const lines = proseLines(read(README));
  const start = lines.findIndex((line) => /^##\s+Where things are/.test(line));
  if (start < 0) throw new Error('README has no "Where things are" section');
  const rows: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^##\s/.test(line)) break;
    if (line.startsWith('|')) rows.push(line);
  }
  const bodyRows = rows.slice(2); // header and separator
  const paths = bodyRows.flatMap((row) => {
    const folders = row.split('|')[2] ?? '';
    return [...folders.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
  });
  // `gateways/<name>/` stands for every gateway's folder, not a path.
  return paths.filter((entry) => !entry.includes('<'));
}

/** The variables named in the first column of the configuration reference's tables. */
function documentedVariables(): Set<string> {
  const names = new Set<string>();
  for (const line of proseLines(read('docs/configuration.md'))) {
    const firstCell = line.startsWith('|') ? (line.split('|')[1] ?? '') : '';
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(match[1] as string);
  }
  return names;
}

describe('README and docs', () => {
  it(`when the README is read, then it has at most ${MAX_README_LINES} lines`, () => {
    const lines = read(README).replace(/\n$/, '').split('\n');
    expect(lines.length).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it('when GitHub slugs are computed, then they follow its rules for code, punctuation and repeats', () => {
    const slugs = headingSlugs(
      [
        '## eSewa ePay v2 (`gateways/esewa/`)',
        '### Which orders need me right now? (through HTTP)',
        '## A',
        '## A',
      ].join('\n'),
    );
    expect([...slugs]).toEqual([
      'esewa-epay-v2-gatewaysesewa',
      'which-orders-need-me-right-now-through-http',
      'a',
      'a-1',
    ]);
  });

  it('when every relative link in README.md, docs/*.md and bench/README.md is followed, then it lands', () => {
    const links = documentedFiles().flatMap(relativeLinks);
    expect(links.length).toBeGreaterThan(20);
    const broken = links.flatMap((link) => {
      const reason = brokenReason(link);
      return reason === undefined ? [] : [`${link.file}: (${link.target}) ${reason}`];
    });
    expect(broken).toEqual([]);
  });

  it("when the README's folder map is read, then every folder and file it names exists", () => {
    const paths = folderMapPaths();
    expect(paths.length).toBeGreaterThan(30);
    const missing = paths.filter((entry) => !existsSync(path.join(root, entry)));
    expect(missing).toEqual([]);
  });

  it('when the processes parse their environment, then docs/configuration.md lists every variable', () => {
    const documented = documentedVariables();
    const parsed = [apiConfigSchema, workerConfigSchema, sandboxConfigSchema, startConfigSchema].flatMap((schema) =>
      Object.keys(schema.shape),
    );
    const undocumented = [...new Set(parsed)].filter((name) => !documented.has(name)).sort();
    expect(undocumented).toEqual([]);
  });
});
