/**
 * The admin REST API, route by route: method, path, who may call it, and the
 * schemas of what it takes and answers. The coordinator builds its OpenAPI
 * description from this table, and a test checks the table against the routes
 * the coordinator actually serves, so the two cannot drift apart.
 */
import { z } from 'zod';
import { EnrolledResponseSchema, EnrollmentRequestSchema } from '../protocol/enrollment';
import { JobSpecSchema } from '../protocol/job';
import {
  AuditPageQuerySchema,
  DecisionRequestSchema,
  InvitationParamsSchema,
  JobParamsSchema,
  LoginRequestSchema,
  ModelQuerySchema,
  NewInvitationRequestSchema,
  NewTokenRequestSchema,
  NewUserRequestSchema,
  ParticipantParamsSchema,
  RegisterParticipantRequestSchema,
  TokenParamsSchema,
  UserParamsSchema,
} from './requests';
import {
  AuditPageSchema,
  AuditVerificationSchema,
  CreatedInvitationViewSchema,
  CreatedTokenViewSchema,
  HealthViewSchema,
  LivenessViewSchema,
  ReadinessViewSchema,
  InvitationViewSchema,
  JobViewSchema,
  ModelViewSchema,
  ParticipantViewSchema,
  RoundViewSchema,
  SessionViewSchema,
  SignedInViewSchema,
  TokenViewSchema,
  UserViewSchema,
} from './views';

/**
 * public: no token. any-role: a signed-in user or token of either role (viewers
 * may read). admin: the admin role only.
 */
export const ACCESS_LEVELS = ['public', 'any-role', 'admin'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

export interface AdminRoute {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI path syntax: `/api/jobs/{id}` */
  path: string;
  summary: string;
  access: AccessLevel;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** the body may be left out altogether */
  bodyOptional?: boolean;
  status: 200 | 201 | 204;
  /** the JSON answer; none for 204 */
  response?: z.ZodType;
  /** other media types the route can answer with, chosen by the Accept header */
  alsoProduces?: ('application/octet-stream' | 'text/html' | 'text/javascript' | 'text/plain')[];
  /** the answer with status 503, for a route that says the coordinator cannot serve now */
  unavailable?: z.ZodType;
}

const decision = (action: 'approve' | 'reject' | 'revoke', summary: string): AdminRoute => ({
  method: 'post',
  path: `/api/participants/{name}/${action}`,
  summary,
  access: 'admin',
  params: ParticipantParamsSchema,
  body: DecisionRequestSchema,
  bodyOptional: true,
  status: 200,
  response: ParticipantViewSchema,
});

const control = (action: 'pause' | 'resume' | 'stop', summary: string): AdminRoute => ({
  method: 'post',
  path: `/api/jobs/{id}/${action}`,
  summary,
  access: 'admin',
  params: JobParamsSchema,
  status: 200,
  response: JobViewSchema,
});

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  { method: 'get', path: '/api/health', summary: 'Liveness, and the coordinator key agents compare out of band before pinning it', access: 'public', status: 200, response: HealthViewSchema },
  { method: 'get', path: '/api/health/live', summary: 'Liveness probe: the process answers', access: 'public', status: 200, response: LivenessViewSchema },
  {
    method: 'get',
    path: '/api/health/ready',
    summary: 'Readiness probe: 200 when the store answers a query, 503 when it does not',
    access: 'public',
    status: 200,
    response: ReadinessViewSchema,
    unavailable: ReadinessViewSchema,
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (text format): with an admin token, or the metrics token (--metrics-token)',
    access: 'admin',
    status: 200,
    alsoProduces: ['text/plain'],
  },
  { method: 'get', path: '/api/openapi.json', summary: 'This description of the API, as OpenAPI 3', access: 'public', status: 200, response: z.record(z.string(), z.unknown()) },
  { method: 'get', path: '/api/docs', summary: 'The API reference, rendered from the OpenAPI description', access: 'public', status: 200, alsoProduces: ['text/html'] },
  {
    method: 'get',
    path: '/api/schemas/job.json',
    summary: 'The job spec as JSON Schema (draft 2020-12), generated from the schema jobs are checked with, for a site\'s own tooling',
    access: 'public',
    status: 200,
    response: z.record(z.string(), z.unknown()),
  },
  { method: 'get', path: '/api/docs/init.js', summary: "The reference page's start script", access: 'public', status: 200, alsoProduces: ['text/javascript'] },

  { method: 'post', path: '/api/session', summary: 'Sign in: trade a user name and password for a session token', access: 'public', body: LoginRequestSchema, status: 201, response: SignedInViewSchema },
  { method: 'get', path: '/api/session', summary: 'Who the presented token is', access: 'any-role', status: 200, response: SessionViewSchema },
  { method: 'delete', path: '/api/session', summary: 'Sign out: the session token stops working (configured tokens cannot sign out)', access: 'any-role', status: 204 },

  { method: 'get', path: '/api/users', summary: 'List users', access: 'admin', status: 200, response: z.array(UserViewSchema) },
  { method: 'post', path: '/api/users', summary: 'Add a user', access: 'admin', body: NewUserRequestSchema, status: 201, response: UserViewSchema },
  { method: 'delete', path: '/api/users/{name}', summary: 'Remove a user and every token of theirs', access: 'admin', params: UserParamsSchema, status: 204 },

  { method: 'get', path: '/api/tokens', summary: 'List API tokens (without their secrets)', access: 'admin', status: 200, response: z.array(TokenViewSchema) },
  { method: 'post', path: '/api/tokens', summary: 'Make an API token acting as the signed-in user; the token is shown this once', access: 'admin', body: NewTokenRequestSchema, status: 201, response: CreatedTokenViewSchema },
  { method: 'delete', path: '/api/tokens/{id}', summary: 'Revoke an API token', access: 'admin', params: TokenParamsSchema, status: 204 },

  { method: 'get', path: '/api/participants', summary: 'List participants with their presence and contributions', access: 'any-role', status: 200, response: z.array(ParticipantViewSchema) },
  { method: 'post', path: '/api/participants', summary: 'Register a participant key exchanged out of band (approved at once)', access: 'admin', body: RegisterParticipantRequestSchema, status: 201, response: ParticipantViewSchema },
  decision('approve', 'Approve an enrolled (or rejected) participant'),
  decision('reject', 'Reject an enrolled participant'),
  decision('revoke', 'Revoke a participant: its live connection is closed at once and later messages are refused'),

  { method: 'get', path: '/api/invitations', summary: 'List invitations', access: 'any-role', status: 200, response: z.array(InvitationViewSchema) },
  { method: 'post', path: '/api/invitations', summary: 'Invite an organisation; the one-time token is shown this once', access: 'admin', body: NewInvitationRequestSchema, status: 201, response: CreatedInvitationViewSchema },
  { method: 'delete', path: '/api/invitations/{id}', summary: 'Cancel an open invitation', access: 'admin', params: InvitationParamsSchema, status: 200, response: InvitationViewSchema },
  { method: 'post', path: '/api/enrollments', summary: "Enroll a site's key with an invitation token (the token authenticates)", access: 'public', body: EnrollmentRequestSchema, status: 201, response: EnrolledResponseSchema },

  { method: 'get', path: '/api/jobs', summary: 'List jobs', access: 'any-role', status: 200, response: z.array(JobViewSchema) },
  { method: 'post', path: '/api/jobs', summary: "Create a job and start it; left-out settings take the coordinator's defaults", access: 'admin', body: JobSpecSchema, status: 201, response: JobViewSchema },
  { method: 'get', path: '/api/jobs/{id}', summary: 'A job', access: 'any-role', params: JobParamsSchema, status: 200, response: JobViewSchema },
  control('pause', 'Pause a job after its open round'),
  control('resume', 'Resume a paused job'),
  control('stop', 'Stop a job for good'),
  { method: 'get', path: '/api/jobs/{id}/rounds', summary: "A job's committed rounds", access: 'any-role', params: JobParamsSchema, status: 200, response: z.array(RoundViewSchema) },
  {
    method: 'get',
    path: '/api/jobs/{id}/model',
    summary:
      'The global model: JSON with its shape and preprocessing, or the raw Float32 little-endian bytes with Accept: application/octet-stream; ' +
      'format=onnx: model.onnx, preprocessing and model in one graph, raw columns in; format=tfjs: a TF.js LayersModel model.json (weights at format=tfjs-weights)',
    access: 'any-role',
    params: JobParamsSchema,
    query: ModelQuerySchema,
    status: 200,
    response: ModelViewSchema,
    alsoProduces: ['application/octet-stream'],
  },

  { method: 'get', path: '/api/audit', summary: 'A page of the audit log, oldest first, filtered by kind, job or participant, and the head of the whole log', access: 'any-role', query: AuditPageQuerySchema, status: 200, response: AuditPageSchema },
  { method: 'get', path: '/api/audit/verify', summary: 'Verify the chain, the signatures and the retained updates against the stored models', access: 'any-role', status: 200, response: AuditVerificationSchema },
];
