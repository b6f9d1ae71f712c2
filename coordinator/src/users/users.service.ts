/**
 * Accounts of the admin API: sign-in sessions, users and API tokens. Each change
 * and its audit record commit in one transaction; a change that can stop a
 * token working tells the live connections to check theirs again.
 */
import { Inject, Injectable } from '@nestjs/common';
import { FlError, type CreatedTokenView, type LoginRequest, type NewUserRequest, type SignedInView, type TokenView, type UserView } from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { STORE, type Store, type UserRecord } from '../storage/store';
import { Credentials, type Principal } from './credentials';
import { hashPassword } from './passwords';
import { toTokenView, toUserView } from './user.views';

@Injectable()
export class SessionService {
  constructor(
    @Inject(Credentials) private readonly credentials: Credentials,
    @Inject(STORE) private readonly store: Store,
  ) {}

  async signIn({ name, password }: LoginRequest, address: string): Promise<SignedInView> {
    const { token, expiresAt, principal } = await this.credentials.login(name, password, address);
    return { token, expiresAt, role: principal.role, user: principal.user };
  }

  /** Configured tokens have no session to end. */
  async signOut(principal: Principal): Promise<void> {
    if (principal.tokenId) await this.store.removeToken(principal.tokenId);
    this.credentials.revoked();
  }
}

/** Adds a user and its audit record in one transaction: for the REST API and for `fl-coordinator user add`. */
export async function addUser(store: Store, audit: AuditLog, input: NewUserRequest, actor: string, now = Date.now()): Promise<UserRecord> {
  const user: UserRecord = { name: input.name, role: input.role, passwordHash: await hashPassword(input.password), createdAt: now };
  await store.transaction(async () => {
    await store.addUser(user);
    await audit.append('user.added', actor, { name: user.name, role: user.role }, now);
  });
  return user;
}

@Injectable()
export class UsersService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(Credentials) private readonly credentials: Credentials,
  ) {}

  async list(): Promise<UserView[]> {
    return (await this.store.listUsers()).map(toUserView);
  }

  async add(input: NewUserRequest, actor: string, now = Date.now()): Promise<UserView> {
    return toUserView(await addUser(this.store, this.audit, input, actor, now));
  }

  async remove(name: string, actor: string): Promise<void> {
    await this.store.transaction(async () => {
      await this.store.removeUser(name);
      await this.audit.append('user.removed', actor, { name });
    });
    this.credentials.revoked();
  }
}

@Injectable()
export class TokensService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(Credentials) private readonly credentials: Credentials,
    @Inject(AuditLog) private readonly audit: AuditLog,
  ) {}

  async list(): Promise<TokenView[]> {
    return (await this.store.listTokens('api')).map(toTokenView);
  }

  /** A token acting as `principal`'s user; a configured token has no user to act as. */
  async create(principal: Principal, label: string): Promise<CreatedTokenView> {
    const user = principal.user;
    if (!user) throw new FlError('FORBIDDEN', 'a configured token cannot make API tokens: sign in as a user');
    return this.store.transaction(async () => {
      const { token, record } = await this.credentials.createApiToken(user, label);
      await this.audit.append('token.created', principal.actor, { id: record.id, user, label });
      return { ...toTokenView(record), token };
    });
  }

  async revoke(id: string, actor: string): Promise<void> {
    const token = (await this.store.listTokens('api')).find((t) => t.id === id);
    if (!token) throw new FlError('NOT_FOUND', `no API token ${id}`);
    await this.store.transaction(async () => {
      await this.store.removeToken(id);
      await this.audit.append('token.revoked', actor, { id, user: token.user });
    });
    this.credentials.revoked();
  }
}
