/**
 * Who a bearer token belongs to. Tokens are login sessions and API tokens of
 * users (kept in the store as SHA-256 digests), plus the admin and viewer
 * tokens an operator may configure for automation. The REST guard and the live
 * namespace both ask here, so they cannot disagree.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pLimit from 'p-limit';
import { FlError, sha256Hex, type Role } from '@fl/shared';
import type { SharedState } from '../cluster/shared-state';
import type { TokenRecord, UserRepository } from '../storage/store';
import type { FailureLimits } from '../failure-limiter';
import { DUMMY_PASSWORD_HASH, verifyPassword } from './passwords';

const tokenDigest = (text: string) => sha256Hex(Buffer.from(text, 'utf8'));

/** Methods that change nothing: the only ones a viewer may use. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/** The caller behind a token: its role, and the name audit records give it. */
export interface Principal {
  role: Role;
  /** `user:NAME` or `token:admin` / `token:viewer` for the configured tokens */
  actor: string;
  user: string | null;
  /** the token's id, for a user's token */
  tokenId: string | null;
}

export interface CredentialOptions {
  adminToken?: string;
  viewerToken?: string;
  sessionSeconds: number;
  loginFailures: FailureLimits;
  /** password checks running at once: each scrypt hash takes 32 MiB and tens of milliseconds */
  concurrentPasswordChecks?: number;
}

export class Credentials {
  private readonly configured: { digest: Buffer; principal: Principal }[] = [];
  /** 'revoked' when a token may have stopped working, on this replica or another (sign-out, revocation, a user removed) */
  readonly events = new EventEmitter();
  /** runs password checks a bounded number at a time; the others wait their turn */
  private readonly passwordChecks: pLimit.Limit;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly users: UserRepository,
    private readonly options: CredentialOptions,
    /** where a revocation reaches every replica, this one included */
    private readonly cluster: Pick<SharedState, 'publish' | 'subscribe'>,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.passwordChecks = pLimit(options.concurrentPasswordChecks ?? 2);
    const { adminToken, viewerToken } = options;
    if (viewerToken !== undefined && viewerToken === adminToken) throw new Error('the viewer token must differ from the admin token');
    const add = (token: string | undefined, role: Role) => {
      if (token !== undefined) this.configured.push({ digest: Buffer.from(tokenDigest(token), 'hex'), principal: { role, actor: `token:${role}`, user: null, tokenId: null } });
    };
    add(adminToken, 'admin');
    add(viewerToken, 'viewer');
    this.unsubscribe = cluster.subscribe((event) => event.type === 'tokens-revoked' && this.events.emit('revoked'));
  }

  async identify(token: unknown, now = Date.now()): Promise<Principal | null> {
    if (typeof token !== 'string' || token === '' || token.length > 512) return null;
    const digest = tokenDigest(token);
    const presented = Buffer.from(digest, 'hex');
    let found: Principal | null = null;
    // Every configured token is compared, in constant time, so timing does not tell which one matched.
    for (const known of this.configured) if (timingSafeEqual(presented, known.digest) && !found) found = known.principal;
    if (found) return found;
    // Stored tokens are looked up by digest: an index lookup on a hash reveals nothing about the token.
    const record = await this.users.getTokenByDigest(digest);
    if (!record || (record.expiresAt !== null && record.expiresAt <= now)) return null;
    const user = await this.users.getUser(record.user);
    return user ? { role: user.role, actor: `user:${user.name}`, user: user.name, tokenId: record.id } : null;
  }

  /**
   * Checks a password and opens a session. Attempts count per address, from
   * before the password is checked (so that attempts sent together cannot pass
   * the limit) until it proves right; past the limit every attempt is refused
   * with RATE_LIMITED, right or wrong, until the window passes. Not per user
   * name: whoever knows a name could then lock its owner out from elsewhere.
   */
  async login(name: unknown, password: unknown, address: string, now = Date.now()): Promise<{ token: string; expiresAt: number; principal: Principal }> {
    const key = `address:${address}`;
    const { loginFailures } = this.options;
    if (!(await loginFailures.attempt(key, now))) {
      throw new FlError('RATE_LIMITED', `too many failed sign-ins; wait up to ${loginFailures.windowMs / 1000}s`);
    }
    const user = typeof name === 'string' ? (await this.users.getUser(name)) : undefined;
    // A missing user costs a hash too, so the time taken does not tell which names exist.
    const checked = await this.passwordChecks(() => verifyPassword(typeof password === 'string' ? password : '', user?.passwordHash ?? DUMMY_PASSWORD_HASH));
    if (!checked || !user) throw new FlError('UNAUTHORIZED', 'wrong user name or password');
    await loginFailures.forgive(key, now);
    await this.users.pruneTokens(now);
    const expiresAt = now + this.options.sessionSeconds * 1000;
    const { token, record } = await this.issue(user.name, 'session', 'sign-in', expiresAt, now);
    return { token, expiresAt, principal: { role: user.role, actor: `user:${user.name}`, user: user.name, tokenId: record.id } };
  }

  /** A new API token for a user's scripts; returned once, stored as a digest. */
  createApiToken(user: string, label: string, now = Date.now()): Promise<{ token: string; record: TokenRecord }> {
    return this.issue(user, 'api', label, null, now);
  }

  private async issue(user: string, kind: TokenRecord['kind'], label: string, expiresAt: number | null, now: number) {
    const token = `fl_${kind === 'api' ? 'api' : 'ses'}_${randomBytes(32).toString('base64url')}`;
    const record: TokenRecord = { id: randomUUID(), user, kind, label, digest: tokenDigest(token), createdAt: now, expiresAt };
    await this.users.addToken(record);
    return { token, record };
  }

  /**
   * Tells the holders of live connections, on every replica, to check their
   * tokens again; called once the change is committed. Never throws: this
   * replica's are told first, and when Redis fails the error is logged.
   */
  revoked(): void {
    this.cluster.publish({ type: 'tokens-revoked' }).catch(this.onError);
  }

  onModuleDestroy(): void {
    this.unsubscribe();
  }

  static allows(role: Role, method: string): boolean {
    return role === 'admin' || READ_METHODS.has(method.toUpperCase());
  }
}
