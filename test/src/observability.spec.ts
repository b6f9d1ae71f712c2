/**
 * What an operator's monitoring sees: GET /metrics scraped before and after a
 * real job (agents training, a refused handshake, a refused update, a wrong
 * password), who may scrape it, and the health probes, readiness failing when
 * the store does not answer.
 */
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import { generateKeyPair } from '@fl/shared';
import { connectRaw, emitWithAck, handshakeAuth } from './raw-client';
import { AdminApi, DATA_DIR, featuresOf, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(180_000);

const METRICS_TOKEN = 'test-metrics-token-0123456789';
const VIEWER_TOKEN = 'test-viewer-token-0123456789';

/** The samples of a Prometheus text exposition, keyed `name{label="value",...}` as written. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([^\s{]+(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    values.set(match[1], Number(match[2]));
  }
  return values;
}

async function scrape(coordinator: RunningCoordinator, token = METRICS_TOKEN): Promise<Map<string, number>> {
  const response = await fetch(`${coordinator.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain;.*version=0\.0\.4/);
  return samples(await response.text());
}

const value = (metrics: Map<string, number>, key: string) => metrics.get(key) ?? 0;

describe('metrics during a real job', () => {
  let coordinator: RunningCoordinator;
  let agents: ParticipantAgent[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator({ metricsToken: METRICS_TOKEN, viewerToken: VIEWER_TOKEN });
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('answers the metrics token and admins; refuses anyone else, and the metrics token elsewhere', async () => {
    const get = (route: string, token?: string) =>
      fetch(`${coordinator.url}${route}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }).then(async (r) => ({
        status: r.status,
        type: r.headers.get('content-type'),
        body: await r.text(),
      }));
    expect(await get('/metrics')).toMatchObject({ status: 401, body: expect.stringContaining('UNAUTHORIZED') });
    expect(await get('/metrics', 'not-the-metrics-token-0123456789')).toMatchObject({ status: 401 });
    expect(await get('/metrics', VIEWER_TOKEN)).toMatchObject({ status: 403, body: expect.stringContaining('FORBIDDEN') });
    expect(await get('/metrics', coordinator.adminToken)).toMatchObject({ status: 200, type: expect.stringMatching(/^text\/plain/) });
    expect(await get('/metrics', METRICS_TOKEN)).toMatchObject({ status: 200, body: expect.stringContaining('# TYPE fl_rounds_committed_total counter') });
    // A scraper's token reads the metrics and nothing else.
    expect(await get('/api/jobs', METRICS_TOKEN)).toMatchObject({ status: 401 });
    expect(await get('/api/participants', METRICS_TOKEN)).toMatchObject({ status: 401 });
  });

  it('moves with a job: rounds, their duration, updates accepted and refused, connections, bytes, leadership, audit, store, failures', async () => {
    const before = await scrape(coordinator);
    expect(before.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(before.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value(before, 'fl_participants_connected')).toBe(0);

    expect(value(before, 'fl_leader')).toBe(0);

    const dataFile = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(dataFile, 3, { seed: 5, holdout: 0, dir: tempDir('observability') });
    const api = AdminApi.of(coordinator);
    const ROUNDS = 3;
    const features = featuresOf(dataFile, 'diagnosis');
    // Created before any site connects, the job waits for them: it runs here, led by this coordinator.
    const job = await api.createJob({ model: 'logistic', features, target: 'diagnosis', rounds: ROUNDS, minParticipants: 3, evaluateEvery: 0 });
    expect(value(await scrape(coordinator), 'fl_leader')).toBe(1);
    agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party)));
    await coordinator.engine.whenFinished(job.id);
    expect((await api.job(job.id)).status).toBe('completed');

    // A handshake with an unknown key, an update nobody asked for, and a wrong password.
    const stranger = await connectRaw(coordinator.url, handshakeAuth(generateKeyPair()));
    expect(stranger.refused?.code).toBe('UNKNOWN_PARTICIPANT');
    const keys = await registerParticipant(api, 'site-raw');
    const raw = await connectRaw(coordinator.url, handshakeAuth(keys));
    expect(raw.refused).toBeUndefined();
    const refused = await emitWithAck(raw.socket, 'update', { header: {}, signature: 'x' });
    raw.socket.close();
    expect(refused.ok).toBe(false);
    const refusedCode = refused.ok ? '' : refused.error.code;
    const signIn = await fetch(`${coordinator.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'nobody', password: 'wrong password' }),
    });
    expect(signIn.status).toBe(401);

    const after = await scrape(coordinator);
    const moved = (key: string) => value(after, key) - value(before, key);
    expect(moved('fl_rounds_committed_total')).toBe(ROUNDS);
    expect(moved('fl_round_duration_seconds_count')).toBe(ROUNDS);
    expect(moved('fl_round_duration_seconds_sum')).toBeGreaterThan(0);
    // Each of the three sites sent one accepted update a round, and its statistics once.
    expect(moved('fl_agent_messages_total{event="update",result="accepted"}')).toBe(3 * ROUNDS);
    expect(moved('fl_agent_messages_total{event="statistics",result="accepted"}')).toBe(3);
    expect(moved(`fl_agent_messages_total{event="update",result="${refusedCode}"}`)).toBe(1);
    expect(moved('fl_handshake_failures_total{code="UNKNOWN_PARTICIPANT"}')).toBe(1);
    expect(moved('fl_sign_in_failures_total{code="UNAUTHORIZED"}')).toBe(1);
    expect(value(after, 'fl_participants_connected')).toBe(3);
    expect(value(after, 'fl_jobs{status="completed"}')).toBe(1);
    expect(value(after, 'fl_jobs{status="training"}')).toBe(0);
    // Audit records: the job, the participants' registrations, and one or more a round.
    expect(moved('fl_audit_records_appended_total')).toBeGreaterThanOrEqual(ROUNDS + 4);
    expect(moved('fl_store_transaction_seconds_count')).toBeGreaterThanOrEqual(ROUNDS);
    // Each round the model (a float32 a feature, and the bias) went to three sites and came back from each.
    const modelBytes = 4 * (features.length + 1);
    expect(moved('fl_bytes_received_total')).toBeGreaterThan(3 * ROUNDS * modelBytes);
    expect(moved('fl_bytes_sent_total')).toBeGreaterThan(3 * ROUNDS * modelBytes);
    expect(value(after, 'fl_leader')).toBe(0);
  });
});

describe('health probes', () => {
  let coordinator: RunningCoordinator;

  beforeAll(async () => {
    coordinator = await testCoordinator();
  });

  afterAll(async () => {
    await coordinator?.close();
  });

  const probe = async (route: string) => {
    const response = await fetch(`${coordinator.url}${route}`);
    return { status: response.status, body: (await response.json()) as unknown };
  };

  it('are public; readiness answers 503 once the store stops answering, while liveness stays up', async () => {
    expect(await probe('/api/health/live')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await probe('/api/health/ready')).toEqual({ status: 200, body: { status: 'ready', store: 'ok' } });
    // The database gone from under the coordinator: its connection closed.
    await coordinator.store.close();
    expect(await probe('/api/health/ready')).toEqual({ status: 503, body: { status: 'unready', store: 'failing' } });
    expect(await probe('/api/health/live')).toEqual({ status: 200, body: { status: 'ok' } });
  });
});
