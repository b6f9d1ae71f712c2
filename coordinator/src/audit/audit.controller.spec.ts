/**
 * `GET /api/audit` with filters, over HTTP: what an auditor's script asks, on a
 * coordinator whose log holds two participants' registrations, a revocation
 * and a job.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeKey, generateKeyPair, type AuditPage } from '@fl/shared';
import { startCoordinator, type RunningCoordinator } from '../coordinator';

const TOKEN = 'audit-admin-token-0123456789';

describe('the audit log over HTTP, filtered', () => {
  let coordinator: RunningCoordinator;
  let dataDir: string;
  let job: string;

  const call = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${coordinator.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const page = async (query: string) => {
    const { status, body } = await call('GET', `/api/audit?${query}`);
    expect(status).toBe(200);
    const { records, head, more } = body as AuditPage;
    return { records: records.map((r) => `${r.kind} ${r.actor}`), seqs: records.map((r) => r.seq), head, more };
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-api-'));
    coordinator = await startCoordinator({ port: 0, host: '127.0.0.1', dataDir, adminToken: TOKEN, logLevel: 'error' });
    for (const name of ['bank-lyon', 'bank-porto']) {
      const registered = await call('POST', '/api/participants', { name, organisation: name.toUpperCase(), publicKey: encodeKey(generateKeyPair().publicKey) });
      expect(registered.status).toBe(201);
    }
    expect((await call('POST', '/api/participants/bank-porto/revoke', { reason: 'left' })).status).toBe(200);
    const created = await call('POST', '/api/jobs', { model: 'logistic', features: [{ name: 'x', type: 'numeric' }], target: 'y', minParticipants: 2 });
    expect(created.status).toBe(201);
    job = (created.body as { id: string }).id;
  }, 30_000);

  afterAll(async () => {
    await coordinator?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it("answers a participant's records, a job's, or some kinds', oldest first, with the whole log's head", async () => {
    const all = await page('');
    expect(all.records).toHaveLength(5);
    expect(await page('participant=bank-porto')).toEqual({
      records: ['participant.registered token:admin', 'participant.revoked token:admin'],
      seqs: [3, 4],
      head: all.head,
      more: false,
    });
    expect((await page(`job=${encodeURIComponent(job)}`)).records).toEqual(['job.created token:admin']);
    expect((await page('kind=participant.revoked&kind=job.created')).seqs).toEqual([4, 5]);
    expect((await page('kind=participant.registered&participant=bank-lyon')).seqs).toEqual([2]);
  });

  it('pages back from the newest through the records that match, saying when older ones are left', async () => {
    expect(await page('kind=participant.registered&kind=participant.revoked&before=6&limit=2')).toMatchObject({ seqs: [3, 4], more: true });
    expect(await page('kind=participant.registered&kind=participant.revoked&before=3&limit=2')).toMatchObject({ seqs: [2], more: false });
  });

  it('refuses a kind it does not know, naming it', async () => {
    expect(await call('GET', '/api/audit?kind=participant.revoked&kind=participant.deleted')).toEqual({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^kind\.1: /) } },
    });
  });
});
