/**
 * The agent as a service: a coordinator stopped with SIGTERM mid-job, as a
 * service manager or a rolling deploy stops it, tells its agents it is
 * restarting; the agent processes stay up, reconnect once it is back on the
 * same store, and the job completes. Then each exit status of each command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SILENT_REPLICA_MS, type JobRecord, type RoundRecord } from '@fl/coordinator';
import { ParticipantAgent } from '@fl/participant-agent';
import { encodeKey, generateKeyPair, type Ack } from '@fl/shared';
import { AdminApi, DATA_DIR, eventually, featuresOf, registerParticipant, REPO_ROOT, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, run, runToEnd, startCoordinatorProcess, freePort, type Running } from './processes';

jest.setTimeout(300_000);

const SIM_CLI = path.join(REPO_ROOT, 'test', 'dist', 'sim', 'cli.js');

/** Runs a command to its end; resolves with its status and output whatever the status. */
function outcome(cli: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const { child, output } = run(cli, args);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output: output() })));
}

const exited = (running: Running) =>
  new Promise<number | null>((resolve) => {
    if (running.child.exitCode !== null) resolve(running.child.exitCode);
    else running.child.once('exit', (code) => resolve(code));
  });

/** Its exit status; fails the test when it has not exited within `ms`. */
const exitedWithin = (running: Running, ms: number) => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms / 1000} s: ${running.output().slice(-2000)}`)), ms)));
  return Promise.race([exited(running), late]).finally(() => clearTimeout(timer));
};

describe('the agent through a coordinator restart, and every exit status', () => {
  const dir = tempDir('lifecycle');
  const token = 'lifecycle-admin-token-0123456789';
  const processes: Running[] = [];
  let coordinator: Running & { url: string };
  let api: AdminApi;
  let port: number;
  const agents: Running[] = [];
  const keyFiles: string[] = [];
  const file = `${DATA_DIR}/breast_cancer.csv`;
  /** agents run in this process, whose messages a test holds back */
  const inProcess: ParticipantAgent[] = [];

  const startCoordinator = async () => {
    coordinator = await startCoordinatorProcess(['--port', String(port), '--data-dir', path.join(dir, 'coordinator'), '--admin-token', token]);
    processes.push(coordinator);
  };

  beforeAll(async () => {
    port = await freePort();
    await startCoordinator();
    api = new AdminApi(coordinator.url, token);
    const split = splitCsv(file, 3, { seed: 8, holdout: 0, dir });
    for (const [i, data] of split.parties.entries()) {
      const name = `site-${i + 1}`;
      const keyFile = path.join(dir, name, 'key.json');
      keyFiles.push(keyFile);
      const publicKey = /public key (\S+)/.exec(await runToEnd(AGENT_CLI, ['keygen', '--out', keyFile]))![1];
      await api.request('POST', '/api/participants', { name, organisation: name, publicKey });
      const agent = run(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', keyFile, '--data', data]);
      agents.push(agent);
      processes.push(agent);
    }
  });

  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    for (const agent of inProcess) agent.stop();
  });

  /** A job of the running coordinator whose round 2 waits for site-6's update, which its agent (run in this process) holds back. */
  const runningJobWaitingForAnUpdate = async (): Promise<string> => {
    const split = splitCsv(file, 2, { seed: 11, holdout: 0, dir: fs.mkdtempSync(path.join(dir, 'takeover-')) });
    let holding = () => {};
    const held = new Promise<void>((resolve) => (holding = resolve));
    for (const [i, data] of split.parties.entries()) {
      const name = `site-${5 + i}`;
      const agent = new ParticipantAgent({ coordinatorUrl: coordinator.url, keys: await registerParticipant(api, name), dataFile: data, log: () => undefined });
      inProcess.push(agent);
      if (name === 'site-6') {
        const internals = agent as unknown as { send(event: string, message: { header: { round?: number } }, timeoutMs: number): Promise<Ack> };
        const send = internals.send.bind(agent);
        internals.send = (event, message, timeoutMs) => {
          if (event !== 'update' || message.header.round !== 2) return send(event, message, timeoutMs);
          holding();
          return new Promise<Ack>(() => undefined);
        };
      }
      await agent.start();
    }
    const created = await api.request<JobRecord>('POST', '/api/jobs', {
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 5,
      minParticipants: 2,
      roundDeadlineSeconds: 3600,
    });
    await held;
    return created.body.id;
  };

  it('completes a job through a SIGTERM of the coordinator: every agent stays up and reconnects', async () => {
    const created = await api.request<JobRecord>('POST', '/api/jobs', {
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 12,
      localEpochs: 5,
      minParticipants: 3,
      roundDeadlineSeconds: 60,
    });
    const job = created.body.id;
    const committed = async () => (await api.request<RoundRecord[]>('GET', `/api/jobs/${job}/rounds`)).body.length;
    await eventually(committed, (n) => n >= 2, 120_000);

    // Act: stop the coordinator as a service manager does, then start it again on the same store and port.
    coordinator.child.kill('SIGTERM');
    expect(await exited(coordinator)).toBe(0);
    for (const agent of agents) expect(agent.child.exitCode).toBeNull();
    await startCoordinator();

    // Assert: the job completes with all three sites in its last round; the agents were told and never exited.
    await eventually(async () => (await api.request<JobRecord>('GET', `/api/jobs/${job}`)).body.status, (s) => s === 'completed', 240_000);
    const rounds = (await api.request<RoundRecord[]>('GET', `/api/jobs/${job}/rounds`)).body;
    expect(rounds.map((r) => r.round)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(rounds[11].contributors).toHaveLength(3);
    for (const agent of agents) {
      expect(agent.child.exitCode).toBeNull();
      expect(agent.output()).toMatch(/the coordinator is restarting: reconnecting with backoff/);
      expect(agent.output().match(/connected to .* as site-/g)!.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('fl-agent: 0 when stopped, 1 failed, 2 refused coordinator, 3 revoked, 4 replaced, 64 usage', async () => {
    // 0: a running agent stopped with SIGTERM.
    const [first] = agents;
    first.child.kill('SIGTERM');
    expect(await exited(first)).toBe(0);
    // 1: a failure, here a CA file that does not exist; the retired --backend is accepted with a warning, not a usage error.
    const failed = await outcome(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', keyFiles[0], '--data', file, '--ca', path.join(dir, 'none.pem'), '--backend', 'wasm']);
    expect(failed.code).toBe(1);
    expect(failed.output).toMatch(/cannot read the CA file/);
    expect(failed.output).toMatch(/--backend \(FL_BACKEND\) is ignored/);
    // 1, before connecting: the pinned keys beside the key file cut short mid-write, which must be said, never guessed at.
    const broken = path.join(dir, 'broken-pins');
    fs.mkdirSync(broken);
    fs.copyFileSync(keyFiles[0], path.join(broken, 'key.json'));
    fs.writeFileSync(path.join(broken, 'known-coordinators.json'), `{\n  "${new URL(coordinator.url).origin}": "Kutf`);
    const unpinned = await outcome(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', path.join(broken, 'key.json'), '--data', file]);
    expect(unpinned.code).toBe(1);
    expect(unpinned.output).toMatch(/known-coordinators\.json cannot be read as pinned coordinator keys .*: correct it, or remove it/);
    expect(unpinned.output).not.toMatch(/connected to|at .*\.js:\d+/);
    // 2: a coordinator key given out of band that is not the coordinator's.
    const other = encodeKey(generateKeyPair().publicKey);
    const refused = await outcome(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', keyFiles[1], '--data', file, '--coordinator-key', other]);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/refusing the coordinator: it presents key/);
    // 3: revoked while running.
    const [, , third] = agents;
    await api.request('POST', '/api/participants/site-3/revoke', {});
    expect(await exited(third)).toBe(3);
    // 4: another agent with the same key took the connection (restarted, it would take it back, and so on for ever).
    const twinKey = path.join(dir, 'site-4', 'key.json');
    const twinPublic = /public key (\S+)/.exec(await runToEnd(AGENT_CLI, ['keygen', '--out', twinKey]))![1];
    await api.request('POST', '/api/participants', { name: 'site-4', organisation: 'site-4', publicKey: twinPublic });
    const connected = (agent: Running) => eventually(() => agent.output(), (text) => /connected to .* as site-4/.test(text));
    const older = run(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', twinKey, '--data', file]);
    processes.push(older);
    await connected(older);
    const newer = run(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', twinKey, '--data', file]);
    processes.push(newer);
    expect(await exited(older)).toBe(4);
    await connected(newer);
    newer.child.kill('SIGTERM');
    expect(await exited(newer)).toBe(0);
    // 64: usage, with the flag and its value in words.
    const usage = await outcome(AGENT_CLI, ['run', '--coordinator', 'notaurl', '--key', keyFiles[0], '--data', file]);
    expect(usage.code).toBe(64);
    expect(usage.output).toMatch(/--coordinator "notaurl" is not an address: expected http:\/\/HOST:PORT or https:\/\/HOST:PORT/);
    expect((await outcome(AGENT_CLI, ['run', '--bogus'])).code).toBe(64);
    // A report of a journal or key that is not there is a typo, not a site that sent nothing.
    const noJournal = await outcome(AGENT_CLI, ['report', '--journal', path.join(dir, 'nope.jsonl')]);
    expect(noJournal.code).toBe(64);
    expect(noJournal.output).toMatch(/--journal .*nope\.jsonl: no such file/);
    expect((await outcome(AGENT_CLI, ['report', '--key', path.join(dir, 'nope', 'key.json')])).code).toBe(64);
    const impossible = await outcome(AGENT_CLI, ['report', '--key', keyFiles[0], '--since', '2026-02-30']);
    expect(impossible.code).toBe(64);
    expect(impossible.output).toMatch(/--since "2026-02-30" is not a date/);
    const notAKey = await outcome(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', keyFiles[0], '--data', file, '--coordinator-key', 'garbage']);
    expect(notAKey.code).toBe(64);
    expect(notAKey.output).toMatch(/--coordinator-key "garbage" is not a public key/);
    // A key file whose secret key is cut short: the error names the file.
    const shortKey = path.join(dir, 'short-key.json');
    const whole = JSON.parse(fs.readFileSync(keyFiles[0], 'utf8')) as { secretKey: string };
    fs.writeFileSync(shortKey, JSON.stringify({ ...whole, secretKey: Buffer.from(whole.secretKey, 'base64').subarray(0, 40).toString('base64') }), { mode: 0o600 });
    const cut = await outcome(AGENT_CLI, ['run', '--coordinator', coordinator.url, '--key', shortKey, '--data', file]);
    expect(cut.code).toBe(1);
    expect(cut.output).toContain(`${shortKey}: the secret key has 40 bytes, not the 64 of an Ed25519 secret key`);
    // Every subcommand takes --help; the command takes --version.
    for (const command of ['keygen', 'enroll', 'run', 'report', 'audit']) {
      const help = await outcome(AGENT_CLI, [command, '--help']);
      expect(help.code).toBe(0);
      expect(help.output).toMatch(/^Usage: fl-agent /);
    }
    expect((await runToEnd(AGENT_CLI, ['run', '--help']))).toMatch(/--policy FILE[\s\S]*default: every job accepted/);
    expect(await runToEnd(AGENT_CLI, ['--version'])).toMatch(/^fl-agent \d+\.\d+\.\d+/);
  });

  it('fl-coordinator: 0 when stopped, 1 failed, 5 its data directory taken over, 64 usage; errors name the flag and value', async () => {
    // 1: a second coordinator on the running one's SQLite data directory, which both would lead unfenced.
    const dataDir = path.join(dir, 'coordinator');
    const second = await outcome(COORDINATOR_CLI, ['--port', '0', '--data-dir', dataDir, '--admin-token', token]);
    expect(second.code).toBe(1);
    expect(second.output).toMatch(new RegExp(`another coordinator serves the data directory .*: process ${coordinator.child.pid} on `));
    // 5: its directory taken over by another coordinator while a job runs, round 2 waiting for site-6's update, as one
    // frozen for long on a host sharing the volume loses it: frozen here with SIGSTOP, its lock as another host's would
    // look (this host's lock of a live process is never taken), untouched for a silence; the other started on it takes it.
    const job = await runningJobWaitingForAnUpdate();
    const lockFile = path.join(dataDir, 'coordinator.lock');
    coordinator.child.kill('SIGSTOP');
    fs.writeFileSync(lockFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(lockFile, 'utf8')), host: 'other-host' }) + '\n');
    const silent = new Date(Date.now() - SILENT_REPLICA_MS - 5_000);
    fs.utimesSync(lockFile, silent, silent);
    const other = await startCoordinatorProcess(['--data-dir', dataDir, '--admin-token', token]);
    processes.push(other);
    coordinator.child.kill('SIGCONT');
    // At its next touch the first says who took the directory, and exits 5, leaving the other's lock; its API is gone.
    expect(await exitedWithin(coordinator, 60_000)).toBe(5);
    expect(coordinator.output()).toMatch(new RegExp(`another coordinator took the data directory .*: process ${other.child.pid} on \\S+, started .*\\. This one stops`));
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8'))).toMatchObject({ pid: other.child.pid });
    await expect(api.request('POST', '/api/participants', { name: 'site-7', organisation: 'site-7', publicKey: encodeKey(generateKeyPair().publicKey) })).rejects.toThrow();
    await expect(fetch(`${coordinator.url}/api/health`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    // The other serves: the job as stored, nothing committed by the first after round 1; a write is taken.
    const otherApi = new AdminApi(other.url, token);
    expect((await otherApi.request<RoundRecord[]>('GET', `/api/jobs/${job}/rounds`)).body.map((r) => r.round)).toEqual([1]);
    expect((await otherApi.request<JobRecord>('GET', `/api/jobs/${job}`)).body).toMatchObject({ round: 1, error: null });
    const added = await otherApi.request('POST', '/api/participants', { name: 'site-7', organisation: 'site-7', publicKey: encodeKey(generateKeyPair().publicKey) });
    expect(added.status).toBe(201);
    other.child.kill('SIGTERM');
    expect(await exitedWithin(other, 60_000)).toBe(0);
    expect(fs.existsSync(lockFile)).toBe(false);
    // 1: the data directory is a file.
    const notDir = path.join(dir, 'a-file');
    fs.writeFileSync(notDir, 'x');
    expect((await outcome(COORDINATOR_CLI, ['--port', '0', '--data-dir', notDir])).code).toBe(1);
    const usage = await outcome(COORDINATOR_CLI, ['--port', 'abc']);
    expect(usage.code).toBe(64);
    expect(usage.output).toMatch(/--port "abc": expected a number/);
    expect(usage.output).not.toMatch(/Invalid input/);
    expect((await outcome(COORDINATOR_CLI, ['--bogus'])).code).toBe(64);
    expect((await outcome(COORDINATOR_CLI, ['user', 'add'])).code).toBe(64);
    expect(await runToEnd(COORDINATOR_CLI, ['--help'])).toMatch(/--port .*\(default: 8080\)/);
    expect(await runToEnd(COORDINATOR_CLI, ['user', 'add', '-h'])).toMatch(/--port .*\(default: 8080\)/);
    // -h as a flag's value is not a request for help (which exits 0 and starts nothing): the value is refused.
    const valueDash = await outcome(COORDINATOR_CLI, ['--port', '0', '--admin-token', '-h']);
    expect(valueDash.code).toBe(64);
    expect(valueDash.output).toMatch(/--admin-token/);
    expect((await outcome(COORDINATOR_CLI, ['audit', 'export', '--data-dir', dir, '--out', '-h'])).code).toBe(64);
    expect(await runToEnd(COORDINATOR_CLI, ['--version'])).toMatch(/^fl-coordinator \d+\.\d+\.\d+/);
  });

  it('fl-sim: 0 done, 1 failed, 64 usage', async () => {
    expect(await runToEnd(SIM_CLI, ['--version'])).toMatch(/^fl-sim \d+\.\d+\.\d+/);
    expect((await outcome(SIM_CLI, ['--data', path.join(dir, 'none.csv'), '--target', 'y'])).code).toBe(1);
    expect((await outcome(SIM_CLI, ['--rounds', 'many'])).code).toBe(64);
    expect((await outcome(SIM_CLI, ['--help'])).code).toBe(0);
  });
});

describe('two agents with the same key', () => {
  it('leaves the newer connected and stops the older, instead of taking the connection from each other for ever', async () => {
    const coordinator = await testCoordinator();
    try {
      const keys = await registerParticipant(AdminApi.of(coordinator), 'twin');
      const older = await startAgent(coordinator, 'twin', `${DATA_DIR}/breast_cancer.csv`, { keys });
      const stopped = new Promise<string>((resolve) => older.once('stopped', resolve));
      const newer = await startAgent(coordinator, 'twin', `${DATA_DIR}/breast_cancer.csv`, { keys });
      expect(await stopped).toBe('replaced');
      // Long enough for a reconnect attempt of the older (its backoff starts at 100 ms here): none comes.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(newer.socket.connected).toBe(true);
      expect(older.socket.connected).toBe(false);
      newer.stop();
    } finally {
      await coordinator.close();
    }
  });
});
