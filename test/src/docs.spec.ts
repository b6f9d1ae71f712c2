/**
 * The documentation against what the software does: every relative link of
 * README.md and docs/ reaches a file (and a heading, where it names one); the
 * operator guide's configuration table and `fl-coordinator --help`, the partner
 * guide's `fl-agent run` table and exit statuses and `fl-agent --help`, and the
 * option tables of fl-sim and the demo and their `--help`, name the same flags,
 * variables and defaults in both directions. A flag added to the code and not
 * to its page, or left on the page after it went, fails here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './harness';
import { AGENT_CLI, COORDINATOR_CLI } from './processes';

const DOCS = path.join(REPO_ROOT, 'docs');
const SIM_CLI = path.join(REPO_ROOT, 'test', 'dist', 'sim', 'cli.js');
const DEMO_CLI = path.join(REPO_ROOT, 'test', 'dist', 'demo.js');

function help(cli: string, ...args: string[]): string {
  const result = spawnSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${path.basename(cli)} ${args.join(' ')} --help exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const page = (name: string) => fs.readFileSync(path.join(REPO_ROOT, name), 'utf8');

/** Text outside fenced code blocks, whose brackets and pipes are code, not Markdown. */
const prose = (markdown: string) => markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');

/** The rows of the first table whose header row is exactly these cells, each row as its cells; `\|` is a pipe inside a cell. */
function table(markdown: string, header: string[]): string[][] {
  const lines = markdown.split('\n');
  const cells = (line: string) => line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((cell) => cell.trim());
  const start = lines.findIndex((line) => line.startsWith('|') && JSON.stringify(cells(line)) === JSON.stringify(header));
  if (start < 0) throw new Error(`no table with the header | ${header.join(' | ')} |`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(cells(line));
  }
  return rows;
}

const unticked = (text: string) => text.replace(/`/g, '');
const sorted = (values: Iterable<string>) => [...values].sort();

/** Each `--flag` line of a --help text, with the lines that continue its description. */
function helpEntries(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const flag = /^ {2}--([a-z][a-z0-9-]*)/.exec(line);
    if (flag) {
      current = flag[1];
      entries.set(current, line);
    } else if (current && /^ {3,}\S/.test(line)) entries.set(current, `${entries.get(current)}\n${line}`);
    else current = undefined;
  }
  entries.delete('help');
  return entries;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens; repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
    const slug = text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    found.add(n ? `${slug}-${n}` : slug);
  }
  return found;
}

function markdownFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(file);
    return entry.name.endsWith('.md') ? [file] : [];
  });
}

describe('links between the pages', () => {
  it('every relative link of README.md and docs/ reaches a file, and the heading it names', () => {
    const broken: string[] = [];
    for (const file of [path.join(REPO_ROOT, 'README.md'), ...markdownFiles(DOCS)]) {
      for (const [, link] of prose(fs.readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
        const [target, anchor] = link.split('#');
        const resolved = target ? path.resolve(path.dirname(file), decodeURIComponent(target)) : file;
        const where = `${path.relative(REPO_ROOT, file)}: ${link}`;
        if (!fs.existsSync(resolved)) broken.push(`${where}: no such file`);
        else if (anchor && resolved.endsWith('.md') && !anchors(fs.readFileSync(resolved, 'utf8')).has(anchor)) broken.push(`${where}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('docs/operator-guide.md and fl-coordinator --help', () => {
  const rows = table(page('docs/operator-guide.md'), ['flag', 'environment', 'default', 'what']);
  const documented = new Map(rows.map(([flag, env, byDefault]) => [unticked(flag).replace(/^--/, ''), { env: unticked(env), byDefault: unticked(byDefault) }]));
  const entries = helpEntries(help(COORDINATOR_CLI).split('\n\nOperator commands')[0]);

  it('the configuration table lists every flag --help lists, and no other', () => {
    expect(sorted(documented.keys())).toEqual(sorted(entries.keys()));
  });

  it('each flag has the environment variable --help names', () => {
    for (const [flag, line] of entries) expect([flag, documented.get(flag)?.env]).toEqual([flag, /\[(FL_[A-Z_]+)\]$/m.exec(line)?.[1]]);
  });

  it('each flag has the default --help shows', () => {
    // The first word of each: "67108864 (64 MiB)" and "67108864"; "none: coordinator-key.json made …" and "none; coordinator-key.json made …".
    const firstWord = (text: string) => text.split(/[;,\s]/)[0].replace(/:$/, '');
    for (const [flag, line] of entries) {
      const shown = /\(default:? (.*)\) \[FL_[A-Z_]+\]$/m.exec(line)?.[1] ?? 'none';
      expect([flag, firstWord(documented.get(flag)?.byDefault ?? '')]).toEqual([flag, firstWord(shown)]);
    }
  });
});

describe('docs/partner-guide.md and fl-agent --help', () => {
  const guide = page('docs/partner-guide.md');

  it('the table of fl-agent run lists every flag of fl-agent run --help, with its value and variable, and no other', () => {
    const rows = table(guide, ['option', 'environment', 'what']);
    const documented = new Map(rows.map(([option, env]) => {
      const [flag, value] = unticked(option).split(' ');
      return [flag.replace(/^--/, ''), { value, env: sorted(env.match(/FL_[A-Z_]+/g) ?? []) }];
    }));
    const entries = helpEntries(help(AGENT_CLI, 'run'));
    expect(sorted(documented.keys())).toEqual(sorted(entries.keys()));
    for (const [flag, line] of entries) {
      const value = /^ {2}--[a-z-]+ ([A-Z]+)/.exec(line)?.[1];
      expect([flag, documented.get(flag)]).toEqual([flag, { value, env: sorted(line.match(/FL_[A-Z_]+/g) ?? []) }]);
    }
  });

  it('the exit statuses are those fl-agent --help names', () => {
    const documented = table(guide, ['status', 'meaning']).map(([status]) => Number(status));
    const exitLine = /Exit status: (.*)/.exec(help(AGENT_CLI))![1];
    expect([...exitLine.matchAll(/(?:^|, )(\d+) /g)].map((m) => Number(m[1]))).toEqual(documented);
  });
});

describe('the option tables of fl-sim and the demo and their --help', () => {
  /** The flags a table's first column names, a row naming one or several. */
  const flagsOf = (rows: string[][]) => rows.flatMap(([option]) => [...option.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]));

  it('docs/simulation.md lists every flag of fl-sim --help, with its default, and no other', () => {
    const rows = table(page('docs/simulation.md'), ['option', 'default', 'what']);
    const entries = helpEntries(help(SIM_CLI));
    expect(sorted(flagsOf(rows))).toEqual(sorted(entries.keys()));
    // A default given as one number or word (30, iid, fedavg) is the one --help gives.
    for (const [option, byDefault] of rows) {
      const flag = /^`--([a-z0-9-]+)[^`]*`$/.exec(option)?.[1];
      const word = unticked(byDefault);
      if (!flag || !/^[\w.]+$/.test(word) || ['required', 'none', 'off'].includes(word)) continue;
      expect([flag, entries.get(flag)]).toEqual([flag, expect.stringMatching(new RegExp(`\\(default:? ${word.replace('.', '\\.')}[;)]`))]);
    }
  });

  it('docs/quickstart.md lists every option of the demo --help, and no other', () => {
    const rows = table(page('docs/quickstart.md'), ['option', 'what']);
    expect(sorted(flagsOf(rows).filter((flag) => flag !== 'help'))).toEqual(sorted(helpEntries(help(DEMO_CLI)).keys()));
  });
});
