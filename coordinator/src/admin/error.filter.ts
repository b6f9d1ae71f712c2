/** The REST transport's one exception filter: every error becomes `{ error: { code, message } }`. */
import { Catch, HttpException, Inject, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { ERROR_CODES, FlError, type ErrorBody } from '@fl/shared';
import { CoordinatorLogger } from '../logger';

@Catch()
export class RestErrorFilter implements ExceptionFilter {
  constructor(@Inject(CoordinatorLogger) private readonly log: CoordinatorLogger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.toBody(error);
    response.status(status).json({ error: body });
  }

  private toBody(error: unknown): [number, ErrorBody] {
    if (error instanceof FlError) return [ERROR_CODES[error.code].http, error.toBody()];
    if (error instanceof HttpException) return this.byStatus(error.getStatus(), error.message);
    // Express and its parsers mark what the client got wrong (a malformed path, an unreadable body) with a 4xx status.
    const status = (error as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) return this.byStatus(status, 'the request cannot be read');
    this.log.error(`REST: ${(error as Error)?.stack ?? String(error)}`);
    return [500, { code: 'INTERNAL', message: 'unexpected error; the coordinator logged it' }];
  }

  private byStatus(status: number, message: string): [number, ErrorBody] {
    const code = status === 404 ? 'NOT_FOUND' : status === 413 ? 'PAYLOAD_TOO_LARGE' : status < 500 ? 'VALIDATION_FAILED' : 'INTERNAL';
    return [status, { code, message }];
  }
}
