/**
 * The coordinator's REST API as the dashboard calls it: the session's Bearer
 * token, JSON bodies, and `{ error: { code, message } }` answers turned into
 * ApiError, so pages show the server's own message. A session's Api is told
 * when the coordinator refuses its token, whichever request found out.
 */
import type { ErrorCode, JobSpecInput } from '@fl/shared';
import { filterQuery, type AuditFilter } from './audit';
import type {
  AuditPage,
  AuditVerification,
  InvitationView,
  JobRecord,
  ParticipantView,
  Role,
  RoundRecord,
  SessionView,
  TokenView,
  UserView,
} from './types';

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

export type ParticipantAction = 'approve' | 'reject' | 'revoke';

/** `POST /api/session`: a session token for a user name and password. */
export type SignedIn = SessionView & { token: string; expiresAt: number };

export interface InvitationInput {
  organisation: string;
  country: string;
  /** fixes the participant name; without it the site chooses one when it enrolls */
  name?: string;
  expiresInHours?: number;
}

/** What `POST /api/invitations` and `POST /api/tokens` answer: the secret is in this answer only. */
export type WithSecret<T> = T & { token: string };

export interface DownloadedModel {
  blob: Blob;
  round: number;
  sha256: string;
}

export class Api {
  /** Without a token only the public routes answer: signing in. */
  constructor(
    private readonly token?: string,
    /** called when the coordinator no longer accepts the token (it expired, or was ended elsewhere) */
    private readonly onRefused?: () => void,
  ) {}

  signIn(name: string, password: string): Promise<SignedIn> {
    return this.json('POST', '/api/session', { name, password });
  }

  session(): Promise<SessionView> {
    return this.json('GET', '/api/session');
  }

  async signOut(): Promise<void> {
    await this.send('DELETE', '/api/session');
  }

  participants(): Promise<ParticipantView[]> {
    return this.json('GET', '/api/participants');
  }

  decide(name: string, action: ParticipantAction, reason?: string): Promise<ParticipantView> {
    return this.json('POST', `/api/participants/${encodeURIComponent(name)}/${action}`, reason ? { reason } : {});
  }

  invitations(): Promise<InvitationView[]> {
    return this.json('GET', '/api/invitations');
  }

  invite(input: InvitationInput): Promise<WithSecret<InvitationView>> {
    return this.json('POST', '/api/invitations', input);
  }

  cancelInvitation(id: string): Promise<InvitationView> {
    return this.json('DELETE', `/api/invitations/${encodeURIComponent(id)}`);
  }

  /**
   * A page of the records that match the filter, oldest first, and the whole
   * log's head: the first `limit` after record `after`, or the last `limit`
   * before record `before`.
   */
  audit(page: { after?: number; before?: number; limit: number }, filter: AuditFilter = {}): Promise<AuditPage> {
    const query = filterQuery(filter);
    for (const [name, value] of Object.entries(page)) if (value !== undefined) query.set(name, String(value));
    return this.json('GET', `/api/audit?${query}`);
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.json('GET', '/api/audit/verify');
  }

  users(): Promise<UserView[]> {
    return this.json('GET', '/api/users');
  }

  addUser(name: string, password: string, role: Role): Promise<UserView> {
    return this.json('POST', '/api/users', { name, password, role });
  }

  async removeUser(name: string): Promise<void> {
    await this.send('DELETE', `/api/users/${encodeURIComponent(name)}`);
  }

  tokens(): Promise<TokenView[]> {
    return this.json('GET', '/api/tokens');
  }

  createToken(label: string): Promise<WithSecret<TokenView>> {
    return this.json('POST', '/api/tokens', { label });
  }

  async revokeToken(id: string): Promise<void> {
    await this.send('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
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
          ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
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
    if (response.status === 401 && this.token !== undefined) this.onRefused?.();
    throw new ApiError(
      response.status,
      payload?.error?.code ?? 'INTERNAL',
      payload?.error?.message ?? `${method} ${route} answered HTTP ${response.status}`,
    );
  }
}
