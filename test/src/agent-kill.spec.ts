/**
 * An agent process killed with SIGKILL after it sent an update and before the
 * coordinator's ack reached it. It reaches the coordinator through a relay on
 * loopback that holds back every byte from the coordinator once the update has
 * gone up, and kills the agent when the ack comes: the coordinator took the
 * update, the agent never learnt it. The job completes with the other sites;
 * `fl-agent audit verify` of the exported log against the killed site's journal
 * passes and counts the update as sent, answer unknown (not as sent by another
 * copy of the key), and `fl-agent report` lists it so.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { DATA_DIR, AdminApi, eventually, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, run, runToEnd, type Running } from './processes';

jest.setTimeout(180_000);

const exec = promisify(execFile);

/**
 * A TCP relay to `port`. After a connection's upstream bytes carried an update (Socket.IO's `["update",`), nothing
 * more comes down to the agent, and `onAck` is called when the coordinator's answer (`"ok":`) does.
 */
function relay(port: number, onAck: () => void): Promise<{ url: string; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((agent) => {
    const coordinator = net.connect(port, '127.0.0.1');
    sockets.add(agent).add(coordinator);
    let tail = '';
    let updateSent = false;
    agent.on('data', (chunk: Buffer) => {
      coordinator.write(chunk);
      // latin1 keeps one character per byte; the tail catches a marker split between two chunks.
      const text = tail + chunk.toString('latin1');
      if (text.includes('["update",')) updateSent = true;
      tail = text.slice(-16);
    });
    let downTail = '';
    coordinator.on('data', (chunk: Buffer) => {
      if (!updateSent) return void agent.write(chunk);
      const text = downTail + chunk.toString('latin1');
      downTail = text.slice(-16);
      if (text.includes('"ok":')) onAck();
    });
    // The coordinator keeps what it received after the agent is gone: its side is ended, not destroyed.
    agent.on('close', () => coordinator.end());
    coordinator.on('close', () => agent.destroy());
    agent.on('error', () => undefined);
    coordinator.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      }),
    ),
  );
}

describe('an agent killed between sending an update and its ack', () => {
  const dir = tempDir('agent-kill');
  const keyFile = path.join(dir, 'site-a', 'key.json');
  let coordinator: Awaited<ReturnType<typeof testCoordinator>>;
  let proxy: { url: string; close: () => void };
  let killed: Running;
  const others: Awaited<ReturnType<typeof startAgent>>[] = [];
  let jobId: string;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const api = AdminApi.of(coordinator);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 11, holdout: 0, dir });
    const publicKey = /public key (\S+)/.exec(await runToEnd(AGENT_CLI, ['keygen', '--out', keyFile]))![1];
    await api.request('POST', '/api/participants', { name: 'site-a', organisation: 'site-a', publicKey });
    proxy = await relay(Number(new URL(coordinator.url).port), () => {
      if (killed.child.exitCode === null && killed.child.signalCode === null) killed.child.kill('SIGKILL');
    });
    killed = run(AGENT_CLI, ['run', '--coordinator', proxy.url, '--key', keyFile, '--data', split.parties[0]]);
    for (const [i, name] of ['site-b', 'site-c'].entries()) others.push(await startAgent(coordinator, name, split.parties[i + 1]));
    await eventually(async () => (await api.participants()).filter((p) => p.online).length, (n) => n === 3);
    const job = await api.createJob({
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 2,
      minParticipants: 2,
      roundDeadlineSeconds: 30,
      evaluateEvery: 0,
    });
    jobId = job.id;
    await coordinator.engine.whenFinished(jobId);
  });

  afterAll(async () => {
    if (killed?.child.exitCode === null && killed.child.signalCode === null) killed.child.kill('SIGKILL');
    others.forEach((a) => a.stop());
    proxy?.close();
    await coordinator?.close();
  });

  it('was killed with SIGKILL after the coordinator took its update of round 1, which the round committed', async () => {
    await eventually(() => killed.child.signalCode, (signal) => signal !== null);
    expect(killed.child.signalCode).toBe('SIGKILL');
    const [round1] = await AdminApi.of(coordinator).rounds(jobId);
    expect(round1.contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b', 'site-c']);
  });

  it('left the update in the journal, written before it was sent, without an answer', () => {
    const lines = fs.readFileSync(path.join(dir, 'site-a', 'journal.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const update = lines.find((l) => l.kind === undefined);
    expect(update).toMatchObject({ job: jobId, round: 1, participant: 'site-a', nonce: expect.any(String), signature: expect.any(String) });
    expect(update).not.toHaveProperty('accepted');
    expect(lines.filter((l) => l.kind === 'answer' && l.nonce === update!.nonce)).toEqual([]);
  });

  it("passes audit verify of the exported log against the killed site's journal, which counts the update as sent, answer unknown", async () => {
    const bundle = path.join(dir, 'bundle');
    await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', coordinator.config.dataDir, '--out', bundle]);
    // Exit status 0 (runToEnd); the journal and the pinned key beside the key file.
    const verified = await runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', keyFile]);
    expect(verified).toMatch(/you are site-a in the bundle: 1 accepted update of yours/);
    expect(verified).toContain("1 update you sent has no answer in your journal (the agent stopped after sending it, before the coordinator's answer came); the bundle has it as accepted");
    expect(verified).not.toMatch(/another copy/);
  });

  it('lists the update in the report, accepted unknown', async () => {
    const markdown = await runToEnd(AGENT_CLI, ['report', '--key', keyFile]);
    expect(markdown).toContain("1 message was sent without the coordinator's answer in the journal (accepted: unknown): the agent stopped, by a crash or a kill, before the answer came.");
    expect(markdown).toMatch(/\| 1 \| unknown \| \d+ \| \d+ \| `[0-9a-f]{64}` \|/);
    const json = JSON.parse(await runToEnd(AGENT_CLI, ['report', '--key', keyFile, '--format', 'json'])) as { unanswered: number; jobs: { updates: { round: number; accepted: boolean | null }[] }[] };
    expect(json.unanswered).toBe(1);
    expect(json.jobs[0].updates).toEqual([expect.objectContaining({ round: 1, accepted: null })]);
  });
});
