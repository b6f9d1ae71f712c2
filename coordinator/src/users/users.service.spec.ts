import { toArray } from '../storage/store';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { FlError, TokenViewSchema, UserViewSchema } from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { InProcessSharedState } from '../cluster/shared-state';
import { FailureLimiter } from '../failure-limiter';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import { STORE } from '../storage/store';
import { Credentials, type Principal } from './credentials';
import { TokensService, UsersService } from './users.service';

const ada: Principal = { role: 'admin', actor: 'user:ada', user: 'ada', tokenId: null };

async function setup(audit?: Partial<AuditLog>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-users-'));
  const store = await SqliteStore.open(path.join(dir, 'store.sqlite'));
  const credentials = new Credentials(store, { sessionSeconds: 3600, loginFailures: new FailureLimiter(3, 60_000) }, new InProcessSharedState());
  const module = await Test.createTestingModule({
    providers: [
      { provide: STORE, useValue: store },
      { provide: AuditLog, useValue: audit ?? (await AuditLog.open(store, CoordinatorIdentity.fromDataDir(dir))) },
      { provide: Credentials, useValue: credentials },
      UsersService,
      TokensService,
    ],
  }).compile();
  const kinds = async () => (await toArray(store.auditRecords())).map(({ text }) => (JSON.parse(text) as { kind: string }).kind);
  return { store, credentials, users: module.get(UsersService), tokens: module.get(TokensService), kinds };
}

describe('users and tokens', () => {
  it('adds a user with its audit record, and shows it without the password hash', async () => {
    const { store, users, kinds } = await setup();
    const view = await users.add({ name: 'vera', password: 'a long passphrase', role: 'viewer' }, 'user:ada');
    expect(UserViewSchema.strict().parse(view)).toEqual({ name: 'vera', role: 'viewer', createdAt: expect.any(Number) });
    expect(await users.list()).toEqual([view]);
    expect(await kinds()).toEqual(['coordinator.key', 'user.added']);
    await store.close();
  });

  it('stores no user whose audit record cannot be written: both commit or neither', async () => {
    const { store, users } = await setup({
      append: () => {
        throw new Error('the log is full');
      },
    });
    await expect(users.add({ name: 'vera', password: 'a long passphrase', role: 'viewer' }, 'user:ada')).rejects.toThrow('the log is full');
    expect(await store.getUser('vera')).toBeUndefined();
    await store.close();
  });

  it('makes an API token for a signed-in user only, shows its secret once, and revokes it', async () => {
    const { store, tokens, credentials, kinds } = await setup();
    await store.addUser({ name: 'ada', role: 'admin', passwordHash: 'x', createdAt: 0 });
    await expect(tokens.create({ role: 'admin', actor: 'token:admin', user: null, tokenId: null }, 'ci')).rejects.toThrow(FlError);
    const created = await tokens.create(ada, 'ci');
    expect(await credentials.identify(created.token)).toMatchObject({ user: 'ada', role: 'admin' });
    const listed = await tokens.list();
    expect(listed.map((t) => TokenViewSchema.strict().parse(t))).toEqual([{ id: created.id, user: 'ada', label: 'ci', createdAt: created.createdAt }]);
    expect(JSON.stringify(listed)).not.toContain(created.token);

    let told = 0;
    credentials.events.on('revoked', () => told++);
    await tokens.revoke(created.id, ada.actor);
    expect(await credentials.identify(created.token)).toBeNull();
    expect(told).toBe(1);
    await expect(tokens.revoke(created.id, ada.actor)).rejects.toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(await kinds()).toEqual(['coordinator.key', 'token.created', 'token.revoked']);
    await store.close();
  });
});
