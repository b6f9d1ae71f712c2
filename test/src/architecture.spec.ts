/**
 * The import rules of the repository (test/dependency-rules.cjs), checked over
 * every package's sources with dependency-cruiser: no import cycles anywhere,
 * the dashboard reads the admin API only through @fl/shared, whose browser
 * entry reaches no Node module, shared imports no other package, and the
 * coordinator and the agent import each other nowhere.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const PACKAGES = ['shared/src', 'coordinator/src', 'coordinator/dashboard/src', 'participant-agent/src', 'test/src', 'bench/src'];

interface Violation {
  type: string;
  from: string;
  to: string;
  rule: { name: string };
  cycle?: (string | { name: string })[];
  via?: (string | { name: string })[];
}

/** Each broken rule as one line: the rule, then the cycle or the import that breaks it. */
function violations(paths: string[]): string[] {
  // dependency-cruiser is an ES module only: it runs as its own command rather than inside jest.
  const cli = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  let output: string;
  try {
    output = execFileSync(process.execPath, [cli, '--config', 'test/dependency-rules.cjs', '--output-type', 'json', ...paths], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (err) {
    // It may exit with the number of errors found; the report is still on its output.
    const stdout = (err as { stdout?: string }).stdout;
    if (!stdout) throw err;
    output = stdout;
  }
  const found = (JSON.parse(output) as { summary: { violations: Violation[] } }).summary.violations;
  const name = (step: string | { name: string }) => (typeof step === 'string' ? step : step.name);
  return found.map((v) => {
    if (v.via?.length) return `${v.rule.name}: ${[v.from, ...v.via.map(name)].join(' -> ')}`;
    if (v.cycle?.length) return `${v.rule.name}: ${[v.from, ...v.cycle.map(name)].join(' -> ')}`;
    return `${v.rule.name}: ${v.from} imports ${v.to}`;
  });
}

describe('the architecture', () => {
  it('has no import cycle, and every import goes the way the packages allow', () => {
    expect(violations(PACKAGES)).toEqual([]);
  }, 60_000);

  it('names a cycle when there is one', () => {
    expect(violations(['test/fixtures/import-cycle'])).toEqual(
      expect.arrayContaining(['no-cycle: test/fixtures/import-cycle/first.ts -> test/fixtures/import-cycle/second.ts -> test/fixtures/import-cycle/first.ts']),
    );
  }, 60_000);
});
