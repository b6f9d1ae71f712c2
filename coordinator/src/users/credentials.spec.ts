import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InProcessSharedState } from '../cluster/shared-state';
import { FailureLimiter } from '../failure-limiter';
import { SqliteStore } from '../storage/store.sqlite';
import { AdminGuard, type AuthenticatedRequest } from './admin.guard';
import { Credentials } from './credentials';
import { hashPassword, verifyPassword } from './passwords';

describe('passwords', () => {
  it('hash with scrypt, salted: the same password hashes differently and verifies', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$15\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('correct horse battery', 'plain')).toBe(false);
  });

  it('refuses short passwords', async () => {
    await expect(hashPassword('short')).rejects.toThrow(/at least 12/);
  });
});

describe('credentials and the REST guard', () => {
  const admin = 'admin-token-0123456789';
  const viewer = 'viewer-token-0123456789';
  let store: SqliteStore;
  let credentials: Credentials;

  beforeEach(async () => {
    store = await SqliteStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-cred-')), 'store.sqlite'));
    credentials = new Credentials(store, { adminToken: admin, viewerToken: viewer, sessionSeconds: 3600, loginFailures: new FailureLimiter(3, 60_000) }, new InProcessSharedState());
  });
  afterEach(async () => await store.close());

  const call = (method: string, authorization?: string) => {
    const guard = new AdminGuard(credentials, new Reflector());
    const request = { method, headers: { authorization } } as unknown as AuthenticatedRequest;
    const context = {
      switchToHttp: () => ({ getRequest: () => request }),
      getHandler: () => call,
      getClass: () => Object,
    } as unknown as ExecutionContext;
    return { allowed: () => guard.canActivate(context), request };
  };

  it('knows the configured admin and viewer tokens, and nobody else', async () => {
    expect((await credentials.identify(admin))?.role).toBe('admin');
    expect((await credentials.identify(viewer))?.role).toBe('viewer');
    for (const other of ['', 'admin-token-012345678', `${viewer} `, undefined, 42, { token: admin }]) expect(await credentials.identify(other)).toBeNull();
  });

  it('refuses a viewer token that is the admin token', async () => {
    expect(() => new Credentials(store, { adminToken: admin, viewerToken: admin, sessionSeconds: 1, loginFailures: new FailureLimiter(3, 1000) }, new InProcessSharedState())).toThrow(/must differ/);
  });

  it('tells the live connections of every replica sharing its state that tokens may have stopped working, and logs what it could not send', async () => {
    const options = { sessionSeconds: 3600, loginFailures: new FailureLimiter(3, 60_000) };
    const state = new InProcessSharedState();
    const here = new Credentials(store, options, state);
    const there = new Credentials(store, options, state);
    const errors: unknown[] = [];
    const unreachable = new Credentials(store, options, { subscribe: () => () => undefined, publish: () => Promise.reject(new Error('Redis is down')) }, (err) => errors.push(err));
    const told: string[] = [];
    here.events.on('revoked', () => told.push('here'));
    there.events.on('revoked', () => told.push('there'));

    here.revoked();
    there.onModuleDestroy();
    here.revoked();
    unreachable.revoked();
    await new Promise(setImmediate);

    expect(told).toEqual(['here', 'there', 'here']);
    expect(errors).toEqual([new Error('Redis is down')]);
  });

  it('signs a user in with the right password, into a session with the user\'s role that expires', async () => {
    await store.addUser({ name: 'vera', role: 'viewer', passwordHash: await hashPassword('a long passphrase'), createdAt: 0 });
    const { token, expiresAt, principal } = await credentials.login('vera', 'a long passphrase', '10.0.0.1', 1000);
    expect(principal).toMatchObject({ role: 'viewer', actor: 'user:vera', user: 'vera' });
    expect(expiresAt).toBe(1000 + 3600 * 1000);
    expect(await credentials.identify(token, 2000)).toMatchObject({ role: 'viewer', user: 'vera' });
    expect(await credentials.identify(token, expiresAt)).toBeNull();
    // Only a digest is stored.
    expect(JSON.stringify(await store.listTokens('session'))).not.toContain(token);
  });

  it('refuses wrong passwords and unknown users alike, then rate-limits the address even with the right password', async () => {
    await store.addUser({ name: 'ada', role: 'admin', passwordHash: await hashPassword('a long passphrase'), createdAt: 0 });
    await expect(credentials.login('ada', 'wrong', 'a1', 0)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(credentials.login('nobody', 'a long passphrase', 'a1', 0)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    // A success takes its attempt back: it does not bring the address nearer its limit.
    await expect(credentials.login('ada', 'a long passphrase', 'a1', 0)).resolves.toMatchObject({ principal: { role: 'admin' } });
    await expect(credentials.login('ada', 'wrong again', 'a1', 0)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(credentials.login('ada', 'a long passphrase', 'a1', 0)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    // After the window the right password works again.
    await expect(credentials.login('ada', 'a long passphrase', 'a1', 61_000)).resolves.toMatchObject({ principal: { role: 'admin' } });
  });

  it("does not let failures from one address lock a user out at another: knowing her name is not enough", async () => {
    await store.addUser({ name: 'ada', role: 'admin', passwordHash: await hashPassword('a long passphrase'), createdAt: 0 });
    for (let i = 0; i < 5; i++) await credentials.login('ada', `wrong ${i}`, 'attacker', 0).catch(() => undefined);
    await expect(credentials.login('ada', 'a long passphrase', 'attacker', 0)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(credentials.login('ada', 'a long passphrase', 'ada-office', 0)).resolves.toMatchObject({ principal: { user: 'ada' } });
  });

  it('counts attempts in flight before their hash: of 8 sent together, no more than the limit are checked', async () => {
    await store.addUser({ name: 'ada', role: 'admin', passwordHash: await hashPassword('a long passphrase'), createdAt: 0 });
    const attempts = [...Array.from({ length: 7 }, (_, i) => `wrong ${i}`), 'a long passphrase'].map((p) =>
      credentials.login('ada', p, 'a1', 0).then(
        () => 'OK',
        (err: { code: string }) => err.code,
      ),
    );
    const codes = await Promise.all(attempts);
    expect(codes.filter((c) => c !== 'RATE_LIMITED')).toHaveLength(3);
    expect(codes.at(-1)).toBe('RATE_LIMITED');
  });

  it('lets the admin do anything, and marks the request with the caller', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const { allowed, request } = call(method, `Bearer ${admin}`);
      expect(await allowed()).toBe(true);
      expect(request.principal).toMatchObject({ role: 'admin', actor: 'token:admin' });
    }
  });

  it('lets the viewer read, and refuses every change with FORBIDDEN', async () => {
    for (const method of ['GET', 'HEAD']) expect(await call(method, `Bearer ${viewer}`).allowed()).toBe(true);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      await expect(call(method, `Bearer ${viewer}`).allowed()).rejects.toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    }
  });

  it('refuses a missing or unknown token with UNAUTHORIZED, whatever the method', async () => {
    for (const header of [undefined, '', admin, `Basic ${admin}`, 'Bearer nope-0123456789abcdef']) {
      await expect(call('GET', header).allowed()).rejects.toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    }
  });
});
