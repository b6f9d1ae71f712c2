/**
 * Reads a REST request's JSON body, after the guard has let the request in:
 * Express would otherwise parse every body before anyone checked who sent it,
 * so a stranger's 15 MB body would cost a parse. A caller the guard admitted
 * without credentials (sign-in, enrollment) may send a small body only.
 * A body over its limit is PAYLOAD_TOO_LARGE; one that does not parse is
 * VALIDATION_FAILED.
 */
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { json } from 'body-parser';
import type { Request, Response } from 'express';
import { from, switchMap, type Observable } from 'rxjs';
import { FlError } from '@fl/shared';
import type { AuthenticatedRequest } from '../users/admin.guard';

/** A job over thousands of columns has a large spec; the default 100 kB would refuse it. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Sign-in and enrollment bodies are a few hundred bytes. */
export const MAX_ANONYMOUS_BODY_BYTES = 64 * 1024;

const parsers = {
  signedIn: json({ limit: MAX_BODY_BYTES }),
  anonymous: json({ limit: MAX_ANONYMOUS_BODY_BYTES }),
};

const megabytes = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB`;

/** What body-parser's errors mean to the API's caller. */
function refusal(err: Error & { type?: string; status?: number; limit?: number }): FlError {
  if (err.type === 'entity.too.large' || err.status === 413) {
    return new FlError('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${err.limit === undefined ? 'this route' : megabytes(err.limit)}`);
  }
  if (err.type === 'entity.parse.failed') return new FlError('VALIDATION_FAILED', 'the request body is not valid JSON');
  return new FlError('VALIDATION_FAILED', `the request body cannot be read: ${err.type ?? 'malformed'}`);
}

export function readJsonBody(request: Request, response: Response, signedIn: boolean): Promise<void> {
  const limit = signedIn ? MAX_BODY_BYTES : MAX_ANONYMOUS_BODY_BYTES;
  if (Number(request.headers['content-length']) > limit) {
    // Answered at once, and the connection closed after the answer: the parser would first read the whole body, to discard it.
    response.setHeader('Connection', 'close');
    return Promise.reject(refusal(Object.assign(new Error('too large'), { type: 'entity.too.large', limit })));
  }
  const parse = signedIn ? parsers.signedIn : parsers.anonymous;
  return new Promise((resolve, reject) => parse(request, response, (err?: unknown) => (err ? reject(refusal(err as Error)) : resolve())));
}

@Injectable()
export class BodyInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<AuthenticatedRequest>();
    return from(readJsonBody(request, http.getResponse<Response>(), request.principal !== undefined)).pipe(switchMap(() => next.handle()));
  }
}
