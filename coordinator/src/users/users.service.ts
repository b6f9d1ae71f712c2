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
  signOut(principal: Principal): void {
    if (principal.tokenId) this.store.removeToken(principal.tokenId);
    this.credentials.revoked();
  }
}

/** Adds a user and its audit record in one transaction: for the REST API and for `fl-coordinator user add`. */
export async function addUser(store: Store, audit: AuditLog, input: NewUserRequest, actor: string, now = Date.now()): Promise<UserRecord> {
  const user: UserRecord = { name: input.name, role: input.role, passwordHash: await hashPassword(input.password), createdAt: now };
  store.transaction(() => {
    store.addUser(user);
    audit.append('user.added', actor, { name: user.name, role: user.role }, now);
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

  list(): UserView[] {
    return this.store.listUsers().map(toUserView);
  }

  async add(input: NewUserRequest, actor: string, now = Date.now()): Promise<UserView> {
    return toUserView(await addUser(this.store, this.audit, input, actor, now));
  }

  remove(name: string, actor: string): void {
    this.store.transaction(() => {
      this.store.removeUser(name);
      this.audit.append('user.removed', actor, { name });
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

  list(): TokenView[] {
    return this.store.listTokens('api').map(toTokenView);
  }

  /** A token acting as `principal`'s user; a configured token has no user to act as. */
  create(principal: Principal, label: string): CreatedTokenView {
    const user = principal.user;
    if (!user) throw new FlError('FORBIDDEN', 'a configured token cannot make API tokens: sign in as a user');
    return this.store.transaction(() => {
      const { token, record } = this.credentials.createApiToken(user, label);
      this.audit.append('token.created', principal.actor, { id: record.id, user, label });
      return { ...toTokenView(record), token };
    });
  }

  revoke(id: string, actor: string): void {
    const token = this.store.listTokens('api').find((t) => t.id === id);
    if (!token) throw new FlError('NOT_FOUND', `no API token ${id}`);
    this.store.transaction(() => {
      this.store.removeToken(id);
      this.audit.append('token.revoked', actor, { id, user: token.user });
    });
    this.credentials.revoked();
  }
}
