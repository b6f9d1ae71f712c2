/**
 * Sign-in and the accounts of the admin API: `POST /api/session` trades a user
 * name and password for a session token; `GET` tells who the token is;
 * `DELETE` signs out. Users and API tokens are for admins only.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Ip, Param, Post, Req } from '@nestjs/common';
import { FlError } from '@fl/shared';
import { z } from 'zod';
import { AuditLog } from '../audit/audit-log';
import { parseBody as parse } from '../validation';
import { STORE, type Store, type TokenRecord, type UserRecord } from '../storage/store';
import { AdminOnly, Public, SignedIn, type AuthenticatedRequest } from './admin.guard';
import { Credentials } from './credentials';
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords';
import { ROLES, type SessionView, type TokenView, type UserView } from './views';

const LoginSchema = z.strictObject({ name: z.string().min(1).max(200), password: z.string().min(1).max(1024) });
export const UserSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'letters, digits, dot, dash, underscore and @, up to 100'),
  password: z.string().min(MIN_PASSWORD_LENGTH, `at least ${MIN_PASSWORD_LENGTH} characters`).max(1024),
  role: z.enum(ROLES),
});
const TokenSchema = z.strictObject({ label: z.string().min(1).max(200) });

const userView = (u: UserRecord): UserView => ({ name: u.name, role: u.role, createdAt: u.createdAt });
const tokenView = (t: TokenRecord): TokenView => ({ id: t.id, user: t.user, label: t.label, createdAt: t.createdAt });

@Controller('api/session')
export class SessionController {
  constructor(
    @Inject(Credentials) private readonly credentials: Credentials,
    @Inject(STORE) private readonly store: Store,
  ) {}

  @Post()
  @Public()
  @HttpCode(201)
  async signIn(@Body() body: unknown, @Ip() address: string): Promise<SessionView & { token: string; expiresAt: number }> {
    const { name, password } = parse(LoginSchema, body);
    const { token, expiresAt, principal } = await this.credentials.login(name, password, address);
    return { token, expiresAt, role: principal.role, user: principal.user };
  }

  @Get()
  session(@Req() request: AuthenticatedRequest): SessionView {
    return { role: request.principal.role, user: request.principal.user };
  }

  /** Signs out: the session token stops working. Configured tokens cannot be signed out. */
  @Delete()
  @SignedIn()
  @HttpCode(204)
  signOut(@Req() request: AuthenticatedRequest): void {
    if (request.principal.tokenId) this.store.removeToken(request.principal.tokenId);
    this.credentials.revoked();
  }
}

@Controller('api/users')
@AdminOnly()
export class UsersController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(Credentials) private readonly credentials: Credentials,
  ) {}

  @Get()
  list(): UserView[] {
    return this.store.listUsers().map(userView);
  }

  @Post()
  @HttpCode(201)
  async add(@Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<UserView> {
    const input = parse(UserSchema, body);
    const user: UserRecord = { name: input.name, role: input.role, passwordHash: await hashPassword(input.password), createdAt: Date.now() };
    this.store.transaction(() => {
      this.store.addUser(user);
      this.audit.append('user.added', req.principal.actor, { name: user.name, role: user.role });
    });
    return userView(user);
  }

  @Delete(':name')
  @HttpCode(204)
  remove(@Param('name') name: string, @Req() req: AuthenticatedRequest): void {
    this.store.transaction(() => {
      this.store.removeUser(name);
      this.audit.append('user.removed', req.principal.actor, { name });
    });
    this.credentials.revoked();
  }
}

/** API tokens for scripts: each acts as the user who made it, with that user's role. */
@Controller('api/tokens')
@AdminOnly()
export class TokensController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(Credentials) private readonly credentials: Credentials,
    @Inject(AuditLog) private readonly audit: AuditLog,
  ) {}

  @Get()
  list(): TokenView[] {
    return this.store.listTokens('api').map(tokenView);
  }

  /** The answer holds the token: it is shown this once and stored only as a hash. */
  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthenticatedRequest): TokenView & { token: string } {
    const { label } = parse(TokenSchema, body);
    const user = req.principal.user;
    if (!user) throw new FlError('FORBIDDEN', 'a configured token cannot make API tokens: sign in as a user');
    return this.store.transaction(() => {
      const { token, record } = this.credentials.createApiToken(user, label);
      this.audit.append('token.created', req.principal.actor, { id: record.id, user, label });
      return { ...tokenView(record), token };
    });
  }

  @Delete(':id')
  @HttpCode(204)
  revoke(@Param('id') id: string, @Req() req: AuthenticatedRequest): void {
    const token = this.store.listTokens('api').find((t) => t.id === id);
    if (!token) throw new FlError('NOT_FOUND', `no API token ${id}`);
    this.store.transaction(() => {
      this.store.removeToken(id);
      this.audit.append('token.revoked', req.principal.actor, { id, user: token.user });
    });
    this.credentials.revoked();
  }
}
