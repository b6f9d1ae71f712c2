/**
 * The coordinator's REST API as the dashboard calls it: the session's Bearer
 * token, JSON bodies, and `{ error: { code, message } }` answers turned into
 * ApiError, so pages show the server's own message.
 */
import type { ErrorCode, JobSpecInput } from '@fl/shared';
import type { JobRecord, ParticipantView, RoundRecord, SessionView } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'NETWORK',
    message: string,
  ) {
    super(message);
  }
}

export type JobAction = 'pause' | 'resume' | 'stop';

export interface DownloadedModel {
  blob: Blob;
  round: number;
  sha256: string;
}

export class Api {
  constructor(private readonly token: string) {}

  session(): Promise<SessionView> {
    return this.json('GET', '/api/session');
  }

  participants(): Promise<ParticipantView[]> {
    return this.json('GET', '/api/participants');
  }

  jobs(): Promise<JobRecord[]> {
    return this.json('GET', '/api/jobs');
  }

  job(id: string): Promise<JobRecord> {
    return this.json('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }

  rounds(id: string): Promise<RoundRecord[]> {
    return this.json('GET', `/api/jobs/${encodeURIComponent(id)}/rounds`);
  }

  createJob(spec: JobSpecInput): Promise<JobRecord> {
    return this.json('POST', '/api/jobs', spec);
  }

  control(id: string, action: JobAction): Promise<JobRecord> {
    return this.json('POST', `/api/jobs/${encodeURIComponent(id)}/${action}`);
  }

  /** The latest global model as the API's JSON (weights, shape, preprocessing). */
  async model(id: string): Promise<DownloadedModel> {
    const response = await this.send('GET', `/api/jobs/${encodeURIComponent(id)}/model`);
    return {
      blob: await response.blob(),
      round: Number(response.headers.get('x-model-round')),
      sha256: response.headers.get('x-model-sha256') ?? '',
    };
  }

  private async json<T>(method: string, route: string, body?: unknown): Promise<T> {
    return (await (await this.send(method, route, body)).json()) as T;
  }

  private async send(method: string, route: string, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(route, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'NETWORK', 'the coordinator cannot be reached');
    }
    if (response.ok) return response;
    const payload = (await response.json().catch(() => null)) as { error?: { code?: ErrorCode; message?: string } } | null;
    throw new ApiError(
      response.status,
      payload?.error?.code ?? 'INTERNAL',
      payload?.error?.message ?? `${method} ${route} answered HTTP ${response.status}`,
    );
  }
}
