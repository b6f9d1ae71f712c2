/** REST authentication: `Authorization: Bearer <admin token>`, compared in constant time. */
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { FlError } from '@fl/shared';

export const ADMIN_TOKEN = Symbol('AdminToken');

const digest = (text: string) => createHash('sha256').update(text).digest();

@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(ADMIN_TOKEN) token: string) {
    this.expected = digest(token);
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    // Hashing first gives equal lengths, which timingSafeEqual needs.
    if (!match || !timingSafeEqual(digest(match[1]), this.expected)) {
      throw new FlError('UNAUTHORIZED', 'send the admin token as Authorization: Bearer <token>');
    }
    return true;
  }
}
