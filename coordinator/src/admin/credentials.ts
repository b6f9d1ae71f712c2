/**
 * Who a bearer token belongs to: the admin, the read-only viewer, or nobody.
 * The REST guard and the live namespace both ask here, so they cannot disagree;
 * user accounts with roles would resolve their session tokens here as well.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role } from './views';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Methods that change nothing: the only ones a viewer may use. */
const READ_METHODS = new Set(['GET', 'HEAD']);

export class Credentials {
  private readonly tokens: { digest: Buffer; role: Role }[];

  constructor(adminToken: string, viewerToken?: string) {
    if (viewerToken !== undefined && viewerToken === adminToken) {
      throw new Error('the viewer token must differ from the admin token');
    }
    this.tokens = [{ digest: digest(adminToken), role: 'admin' }];
    if (viewerToken !== undefined) this.tokens.push({ digest: digest(viewerToken), role: 'viewer' });
  }

  roleOf(token: unknown): Role | null {
    if (typeof token !== 'string' || token === '') return null;
    const presented = digest(token);
    let role: Role | null = null;
    // Hashing gives equal lengths, which timingSafeEqual needs; every token is
    // compared so the time taken does not tell which one matched.
    for (const known of this.tokens) if (timingSafeEqual(presented, known.digest) && role === null) role = known.role;
    return role;
  }

  static allows(role: Role, method: string): boolean {
    return role === 'admin' || READ_METHODS.has(method.toUpperCase());
  }
}
