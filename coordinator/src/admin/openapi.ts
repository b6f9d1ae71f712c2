/**
 * The OpenAPI 3.1 description of the REST API, generated from @fl/shared's route
 * table: the same zod schemas the controllers parse requests with and whose
 * views they answer with, so the description cannot say something else.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig, type ZodContentObject } from '@asteasolutions/zod-to-openapi';
import { ADMIN_ROUTES, ERROR_CODES, ErrorResponseSchema, type AccessLevel, type AdminRoute } from '@fl/shared';

type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

const ACCESS_TEXT: Record<AccessLevel, string> = {
  public: 'Public: no token needed.',
  'any-role': 'Any signed-in role (admin or viewer).',
  admin: 'Admins only.',
};

const STATUS_TEXT: Record<AdminRoute['status'], string> = { 200: 'OK', 201: 'Created', 204: 'Done; no content' };

const errorContent = { 'application/json': { schema: ErrorResponseSchema } };
/** Every 400 a route answers: a request its schema accepts may still break a rule the coordinator checks (e.g. a privacy budget one round exceeds). */
const INVALID_REQUEST =
  'VALIDATION_FAILED: the body, query or path does not match its schema, or the request breaks a rule the message names; ' +
  'UNSAFE_TEXT: a text field or a path parameter holds a control character or a bidirectional override';
const error = (description: string) => ({ description, content: errorContent });

/** Routes are grouped by their first segment; the description, its page and the published schemas form one group. */
function tag(path: string): string {
  const segment = path.split('/')[2] ?? path.split('/')[1];
  return segment === 'openapi.json' || segment === 'docs' || segment === 'schemas' ? 'reference' : segment;
}

function pathConfig(route: AdminRoute): RouteConfig {
  const content: ZodContentObject = {};
  if (route.response) content['application/json'] = { schema: route.response };
  for (const type of route.alsoProduces ?? []) content[type] = { schema: type === 'application/octet-stream' ? { type: 'string', format: 'binary' } : { type: 'string' } };
  const responses: RouteConfig['responses'] = {
    [route.status]: { description: STATUS_TEXT[route.status], ...(Object.keys(content).length ? { content } : {}) },
  };
  if (route.body || route.query || route.params) responses[400] = error(INVALID_REQUEST);
  if (route.access !== 'public') {
    responses[401] = error('UNAUTHORIZED: no token, or a token that does not work (expired, revoked, signed out)');
    responses[403] = error(route.access === 'admin' ? 'FORBIDDEN: only admins may do this' : 'FORBIDDEN: the token may not do this');
  }
  if (route.unavailable) responses[503] = { description: 'Not ready', content: { 'application/json': { schema: route.unavailable } } };
  if (route.params) responses[404] = error('NOT_FOUND: no such resource');
  responses.default = error('Any other error, with a code from the table of error codes');
  return {
    method: route.method,
    path: route.path,
    summary: route.summary,
    description: ACCESS_TEXT[route.access],
    tags: [tag(route.path)],
    // The global requirement (a bearer token) does not apply to public routes.
    ...(route.access === 'public' ? { security: [] } : {}),
    'x-access': route.access,
    request: {
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { query: route.query } : {}),
      ...(route.body ? { body: { required: !route.bodyOptional, content: { 'application/json': { schema: route.body } } } } : {}),
    },
    responses,
  } as RouteConfig;
}

const ERROR_TABLE = Object.entries(ERROR_CODES)
  .map(([code, { http, meaning }]) => `| ${code} | ${http} | ${meaning} |`)
  .join('\n');

export function buildOpenApiDocument(version: string): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A session token (POST /api/session), an API token (POST /api/tokens), or a token configured with --admin-token or --viewer-token',
  });
  for (const route of ADMIN_ROUTES) registry.registerPath(pathConfig(route));
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Federated learning coordinator: admin API',
      version,
      description:
        'Participants, invitations and enrollment; jobs, rounds and global models; users, sessions and API tokens; the audit log. ' +
        'Send `Authorization: Bearer <token>`. Every error is `{ "error": { "code", "message" } }`:\n\n' +
        `| code | HTTP | meaning |\n| --- | --- | --- |\n${ERROR_TABLE}`,
    },
    security: [{ bearer: [] }],
  });
}
