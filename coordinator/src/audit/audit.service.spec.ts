import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { AuditPageQuerySchema } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import { STORE } from '../storage/store';
import { AuditLog } from './audit-log';
import { AuditVerifier } from './audit-verifier';
import { AuditService } from './audit.service';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-service-'));
  const store = await SqliteStore.open(path.join(dir, 'store.sqlite'));
  const audit = await AuditLog.open(store, CoordinatorIdentity.fromDataDir(dir));
  for (const name of ['a', 'b', 'c']) await audit.append('user.added', 'operator', { name, role: 'viewer' });
  const verifier = { verify: jest.fn(async () => ({ ok: false, lines: ['chain: broken at 3'], failure: { where: 'record 3', reason: 'bad hash' }, counts: {} })) };
  const module = await Test.createTestingModule({
    providers: [{ provide: STORE, useValue: store }, { provide: AuditVerifier, useValue: verifier }, AuditService],
  }).compile();
  return { store, service: module.get(AuditService) };
}

describe('the audit log over REST', () => {
  it('pages records after a number, with the head', async () => {
    const { store, service } = await setup();
    const page = await service.page(AuditPageQuerySchema.parse({ after: '1', limit: '2' }));
    expect(page.records.map((r) => [r.seq, r.kind])).toEqual([
      [2, 'user.added'],
      [3, 'user.added'],
    ]);
    expect(page.head).toEqual({ seq: 4, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await service.page(AuditPageQuerySchema.parse({}))).records).toHaveLength(4);
    await store.close();
  });

  it('refuses a page query that is not a record number or too long', async () => {
    expect(AuditPageQuerySchema.safeParse({ after: '-1' }).success).toBe(false);
    expect(AuditPageQuerySchema.safeParse({ after: 'x' }).success).toBe(false);
    expect(AuditPageQuerySchema.safeParse({ limit: '1001' }).success).toBe(false);
  });

  it("gives the verifier's outcome as the shared view", async () => {
    const { store, service } = await setup();
    expect(await service.verify()).toEqual({ ok: false, lines: ['chain: broken at 3'], failure: { where: 'record 3', reason: 'bad hash' } });
    await store.close();
  });
});
