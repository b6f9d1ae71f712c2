/**
 * TLS end to end: the coordinator serves HTTPS, and so WSS, with a certificate of
 * a test CA (test/fixtures/tls). The REST API answers a client that trusts that
 * CA, and two agents that trust it train a job over WSS. An agent that trusts
 * another CA, or only the system's, is never welcomed and says in plain words
 * that the coordinator's certificate could not be verified.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import { generateKeyPair, type KeyPair } from '@fl/shared';
import { enroll, ParticipantAgent, requestJson } from '@fl/participant-agent';
import { AdminApi, DATA_DIR, featuresOf, registerParticipant, REPO_ROOT, splitCsv, startAgent, tempDir, testCoordinator, type Split } from './harness';

jest.setTimeout(180_000);

const TLS = path.join(REPO_ROOT, 'test', 'fixtures', 'tls');
const ca = fs.readFileSync(path.join(TLS, 'ca.pem'));

describe('a coordinator serving TLS with a certificate of a private CA', () => {
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let split: Split;
  const agents: ParticipantAgent[] = [];
  const file = `${DATA_DIR}/breast_cancer.csv`;

  beforeAll(async () => {
    coordinator = await testCoordinator({ tlsCert: path.join(TLS, 'server.pem'), tlsKey: path.join(TLS, 'server-key.pem') });
    api = AdminApi.of(coordinator, ca);
    split = splitCsv(file, 2, { seed: 5, holdout: 0, dir: tempDir('tls') });
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  /**
   * Starts an agent and settles on the first thing that happens: its welcome, or
   * the first failed connection, whose log line is returned. It is stopped either way.
   */
  async function firstOutcome(keys: KeyPair, agentCa?: Buffer): Promise<string> {
    let settle: (outcome: string) => void = () => undefined;
    const outcome = new Promise<string>((resolve) => (settle = resolve));
    const agent = new ParticipantAgent({
      coordinatorUrl: coordinator.url,
      keys,
      dataFile: split.parties[0],
      coordinatorKey: coordinator.identity.publicKey,
      ca: agentCa,
      log: (line) => {
        if (line.startsWith('cannot connect')) settle(line);
      },
      reconnectDelayMs: 100,
      reconnectDelayMaxMs: 1000,
    });
    void agent.start().then(() => settle('welcomed'));
    try {
      return await outcome;
    } finally {
      agent.stop();
    }
  }

  it('serves the REST API over https, and names its certificate', async () => {
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(coordinator.tls).toMatchObject({
      subject: 'O=FL Consortium Test, CN=localhost',
      subjectAltName: 'DNS:localhost, IP Address:127.0.0.1',
      issuer: 'O=FL Consortium Test, CN=FL Test CA',
    });
    expect(coordinator.tls!.validTo.getTime()).toBeGreaterThan(Date.now());
    const headers = { authorization: `Bearer ${coordinator.adminToken}` };
    const answer = await requestJson(`${coordinator.url}/api/participants`, { method: 'GET', ca, headers });
    expect(answer.status).toBe(200);
    expect(Array.isArray(answer.body)).toBe(true);
    // the certificate is for the name as well as the address
    const byName = await requestJson(`${coordinator.url.replace('127.0.0.1', 'localhost')}/api/participants`, { method: 'GET', ca, headers });
    expect(byName.status).toBe(200);
    // and refused without the token, as over http
    expect((await requestJson(`${coordinator.url}/api/participants`, { method: 'GET', ca })).status).toBe(401);
  });

  it('answers nothing in plain HTTP on its port', async () => {
    await expect(requestJson(`${coordinator.url.replace('https:', 'http:')}/api/participants`, { method: 'GET' })).rejects.toThrow(/socket hang up/);
  });

  it('trains a job with two agents that trust the CA, over WSS', async () => {
    for (const [i, part] of split.parties.entries()) agents.push(await startAgent(coordinator, `tls-site-${i + 1}`, part, { ca }));
    for (const agent of agents) {
      const transport = agent.socket.io.engine.transport as unknown as { name: string; ws?: { url: string } };
      expect(transport.name).toBe('websocket');
      expect(transport.ws?.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/socket\.io\//);
    }
    const job = await api.createJob({
      name: 'diagnosis over tls',
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      positiveClass: 'malignant',
      rounds: 2,
      minParticipants: 2,
      roundDeadlineSeconds: 60,
      evaluateEvery: 0,
    });
    await coordinator.engine.whenFinished(job.id);
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = await api.rounds(job.id);
    expect(rounds.map((r) => r.round)).toEqual([1, 2]);
    for (const round of rounds) expect(round.contributors.map((c) => c.participant).sort()).toEqual(['tls-site-1', 'tls-site-2']);
    const model = await api.model(job.id);
    expect(model.round).toBe(2);
  });

  it('does not welcome an agent that trusts another CA: the certificate could not be verified', async () => {
    const keys = await registerParticipant(api, 'tls-wrong-ca');
    const outcome = await firstOutcome(keys, fs.readFileSync(path.join(TLS, 'other-ca.pem')));
    expect(outcome).toMatch(
      /^cannot connect to https:\/\/127\.0\.0\.1:\d+: the server's TLS certificate could not be verified: unable to verify the first certificate \(if a private CA signed it, trust that CA: fl-agent run --ca FILE\)$/,
    );
    const participants = await api.request<{ name: string; online: boolean }[]>('GET', '/api/participants');
    expect(participants.body.find((p) => p.name === 'tls-wrong-ca')).toMatchObject({ online: false });
  });

  it('does not welcome an agent that trusts only the system CAs either', async () => {
    const keys = await registerParticipant(api, 'tls-no-ca');
    const outcome = await firstOutcome(keys);
    expect(outcome).toMatch(/^cannot connect to https:\/\/127\.0\.0\.1:\d+: the server's TLS certificate could not be verified: /);
    const participants = await api.request<{ name: string; online: boolean }[]>('GET', '/api/participants');
    expect(participants.body.find((p) => p.name === 'tls-no-ca')).toMatchObject({ online: false });
  });

  it('enrolls a site over https with the CA, and refuses to without it', async () => {
    const invitation = await api.request<{ token: string }>('POST', '/api/invitations', { organisation: 'TLS Bank', country: 'IE', name: 'tls-enrolled' });
    const keys = generateKeyPair();
    const attempt = (withCa?: Buffer) => enroll({ coordinatorUrl: coordinator.url, token: invitation.body.token, name: 'tls-enrolled', keys, ca: withCa });
    await expect(attempt()).rejects.toThrow(/the server's TLS certificate could not be verified/);
    await expect(attempt(fs.readFileSync(path.join(TLS, 'other-ca.pem')))).rejects.toThrow(/could not be verified/);
    const { enrolled } = await attempt(ca);
    expect(enrolled).toMatchObject({ participant: 'tls-enrolled', status: 'pending', coordinatorKey: coordinator.identity.publicKey });
  });
});
