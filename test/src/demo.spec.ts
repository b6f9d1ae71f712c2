/**
 * The demo as a user runs it: real fl-coordinator and fl-agent processes, keys made
 * by `fl-agent keygen`, one partner joining through a mapping file.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, tempDir } from './harness';
import { COORDINATOR_CLI } from './processes';

jest.setTimeout(180_000);

describe('npm run demo', () => {
  const dir = path.join(tempDir('demo'), 'run');
  let output = '';

  beforeAll(async () => {
    const demo = path.join(REPO_ROOT, 'test', 'dist', 'demo.js');
    ({ stdout: output } = await promisify(execFile)(process.execPath, [demo, '--data-dir', dir, '--rounds', '3'], { timeout: 170_000 }));
  });

  it('prints every round and scores the model on held-out rows', () => {
    expect(output).toMatch(/round {2}1\/3 {2}train loss \d\.\d{4}/);
    expect(output).toMatch(/round {2}3\/3 .* 3 participants/);
    const accuracy = Number(/accuracy (\d\.\d+) on 891 held-out rows/.exec(output)![1]);
    expect(accuracy).toBeGreaterThan(0.75);
  });

  it('keeps each party\'s data, key (mode 0600) and the Madrid mapping in its own folder', () => {
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
    expect(output).toMatch(/bank-lisbon +Banco do Atlântico: invited, enrolled, approved/);
    expect(output).toMatch(/3 recomputed/);
    // Afterwards, as an operator would: the data directory verifies on its own.
    const verified = await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir]);
    expect(verified.stdout).toMatch(/3 recomputed/);
  });
});
