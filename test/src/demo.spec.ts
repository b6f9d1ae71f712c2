/**
 * The demo as a user runs it: real fl-coordinator and fl-agent processes, keys made
 * by `fl-agent enroll`, one partner joining through a mapping file; a second run
 * beside the first, and command lines the demo must refuse before starting anything.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, tempDir } from './harness';
import { COORDINATOR_CLI } from './processes';

jest.setTimeout(180_000);

const DEMO = path.join(REPO_ROOT, 'test', 'dist', 'demo.js');

/** Runs the demo to its end in `cwd`; resolves with its exit status and output, whatever the status. */
function demo(args: string[], cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DEMO, ...args], { cwd, timeout: 170_000 }, (err, stdout, stderr) => {
      const status = err ? ((err as { code?: number }).code ?? -1) : 0;
      resolve({ status: typeof status === 'number' ? status : -1, stdout, stderr });
    });
  });
}

/** The directory a run says it keeps its data in, resolved against where it ran. */
function dataDirOf(stdout: string, cwd: string): string {
  const match = /^this run's data directory: (\S+)$/m.exec(stdout);
  if (!match) throw new Error(`the demo named no data directory:\n${stdout}`);
  return path.resolve(cwd, match[1]);
}

async function auditVerify(dir: string): Promise<string> {
  return (await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir])).stdout;
}

describe('npm run demo', () => {
  const cwd = tempDir('demo');
  let first = { status: -1, stdout: '', stderr: '' };
  let dir = '';

  beforeAll(async () => {
    first = await demo(['--rounds', '3'], cwd);
    dir = dataDirOf(first.stdout, cwd);
  });

  it('runs in a new directory under .demo/, named at the start and at the end', () => {
    expect(first.status).toBe(0);
    expect(path.dirname(dir)).toBe(path.join(cwd, '.demo'));
    const named = first.stdout.match(/^this run's data directory: (\S+)/gm)!;
    expect(named).toHaveLength(2);
    expect(first.stdout).toContain(`npx fl-coordinator audit verify --data-dir ${path.relative(cwd, dir)}`);
  });

  it('prints every round and scores the model on held-out rows', () => {
    expect(first.stdout).toMatch(/round {2}1\/3 {2}train loss \d\.\d{4}/);
    expect(first.stdout).toMatch(/round {2}3\/3 .* 3 participants/);
    const accuracy = Number(/accuracy (\d\.\d+) on 891 held-out rows/.exec(first.stdout)![1]);
    expect(accuracy).toBeGreaterThan(0.75);
  });

  it("keeps each party's data, key (mode 0600) and the Madrid mapping in its own folder", () => {
    const madrid = path.join(dir, 'parties', 'lender-madrid');
    expect(fs.readFileSync(path.join(madrid, 'loans.csv'), 'utf8').split('\n')[0]).toContain('Vivienda');
    expect(JSON.parse(fs.readFileSync(path.join(madrid, 'mapping.json'), 'utf8')).columns).toEqual({ Vivienda: 'Home', EstadoCivil: 'Marital' });
    for (const party of ['bank-lisbon', 'bank-lyon', 'lender-madrid']) {
      expect(fs.statSync(path.join(dir, 'parties', party, 'key.json')).mode & 0o777).toBe(0o600);
    }
  });

  it('stores the model where it says', () => {
    const model = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(model.round).toBe(3);
    expect(fs.existsSync(path.join(dir, 'coordinator.sqlite'))).toBe(true);
  });

  it('enrolls each lender with an invitation, and its audit log verifies, every round recomputed', async () => {
    expect(first.stdout).toMatch(/bank-lisbon +Banco do Atlântico: invited, enrolled, approved/);
    expect(first.stdout).toMatch(/3 recomputed/);
    // Afterwards, as an operator would: the data directory verifies on its own.
    expect(await auditVerify(dir)).toMatch(/3 recomputed/);
  });

  describe('a second run', () => {
    let second = { status: -1, stdout: '', stderr: '' };
    let before: string[] = [];

    beforeAll(async () => {
      before = fs.readdirSync(dir).sort();
      second = await demo(['--rounds', '1'], cwd);
    });

    it('runs in a directory of its own and leaves the first run auditable as it was', async () => {
      expect(second.status).toBe(0);
      const secondDir = dataDirOf(second.stdout, cwd);
      expect(secondDir).not.toBe(dir);
      expect(path.dirname(secondDir)).toBe(path.join(cwd, '.demo'));
      expect(JSON.parse(fs.readFileSync(path.join(secondDir, 'model.json'), 'utf8')).round).toBe(1);
      expect(fs.readdirSync(dir).sort()).toEqual(before);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).round).toBe(3);
      expect(await auditVerify(dir)).toMatch(/3 recomputed/);
    });

    it('is refused, before anything starts, when told to use the first run\'s directory', async () => {
      const reused = await demo(['--data-dir', dir, '--rounds', '1'], cwd);
      expect(reused.status).toBe(64);
      expect(reused.stderr).toMatch(/is not an empty directory .*give a new or empty directory/);
      expect(reused.stdout).toBe('');
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).round).toBe(3);
      expect(await auditVerify(dir)).toMatch(/3 recomputed/);
    });
  });
});

describe('npm run demo with a wrong command line', () => {
  const cwd = tempDir('demo-usage');

  it.each([
    [['--rounds', 'abc'], '--rounds must be a whole number from 1 to 100000, not "abc"'],
    [['--rounds', '0'], '--rounds must be a whole number from 1 to 100000, not "0"'],
    [['--rounds=-3'], '--rounds must be a whole number from 1 to 100000, not "-3"'],
    [['--rounds', '2.5'], '--rounds must be a whole number from 1 to 100000, not "2.5"'],
    [['--rounds', '-3'], '--rounds needs a value; one that starts with a dash is written --rounds=-VALUE'],
    [['--rounds'], '--rounds needs a value'],
    [['--data-dir'], '--data-dir needs a value'],
    [['--data-dir', ''], '--data-dir needs a directory'],
    [['--colour', 'red'], 'unknown option --colour'],
    [['ten'], 'unexpected argument ten; every value follows its option'],
    [['--keep-open=yes'], '--keep-open takes no value'],
  ])('%j is refused with a usage message and status 64, and nothing is made', async (args, message) => {
    const { status, stdout, stderr } = await demo(args, cwd);
    expect(status).toBe(64);
    expect(stderr.split('\n')[0]).toBe(`demo: ${message}`);
    expect(stderr).toContain('Usage: npm run demo -- [--data-dir DIR] [--rounds N] [--keep-open]');
    expect(stdout).toBe('');
    expect(fs.readdirSync(cwd)).toEqual([]);
  });

  it('--help prints the usage and exits 0', async () => {
    const { status, stdout } = await demo(['--help'], cwd);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: npm run demo -- /);
    expect(stdout).toContain('--rounds N');
  });
});
