import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { compileErrors, validate } from '@readme/openapi-parser';
import { startCoordinator, type RunningCoordinator } from '../coordinator';
import { ACCESS, type Access } from '../users/admin.guard';

interface Operation {
  'x-access': string;
  security?: unknown[];
  responses: Record<string, unknown>;
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Every route Nest serves: method, OpenAPI-style path, and the guard's access marking. */
function nestRoutes(coordinator: RunningCoordinator): { method: string; path: string; access: Access | undefined }[] {
  const reflector = new Reflector();
  const routes = [];
  for (const module of coordinator.app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as new (...args: never[]) => object;
      const base = Reflect.getMetadata(PATH_METADATA, controller) as string;
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[name] as () => unknown;
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string;
        const joined = ['', base, sub].join('/').replace(/\/+/g, '/').replace(/\/$/, '');
        routes.push({
          method: RequestMethod[method].toLowerCase(),
          path: joined.replace(/:([A-Za-z]+)/g, '{$1}'),
          access: reflector.getAllAndOverride<Access | undefined>(ACCESS, [handler, controller]),
        });
      }
    }
  }
  return routes;
}

describe('the OpenAPI description', () => {
  let coordinator: RunningCoordinator;
  let document: Document;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-openapi-'));
    coordinator = await startCoordinator({ port: 0, host: '127.0.0.1', dataDir, adminToken: 'openapi-admin-token-0123456789', logLevel: 'error' });
    // No token: the description is public.
    const response = await fetch(`${coordinator.url}/api/openapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as Document;
  }, 30_000);

  afterAll(async () => {
    await coordinator?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('is valid OpenAPI 3', async () => {
    expect(document.openapi).toMatch(/^3\./);
    const result = await validate(structuredClone(document) as never);
    if (!result.valid) throw new Error(compileErrors(result));
  });

  it('describes every route the coordinator serves, with its method, and nothing else', () => {
    const routes = nestRoutes(coordinator);
    expect(routes.length).toBeGreaterThan(25);
    const missing = routes.filter((r) => !document.paths[r.path]?.[r.method]).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
    const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const described = Object.entries(document.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(described.filter((d) => !served.has(d))).toEqual([]);
  });

  it('gives each route the access the guard enforces', () => {
    for (const route of nestRoutes(coordinator)) {
      const operation = document.paths[route.path][route.method];
      const expected =
        route.access === 'public' ? 'public' : route.access === 'admin-only' ? 'admin' : route.access === 'signed-in' || route.method === 'get' ? 'any-role' : 'admin';
      expect(`${route.method} ${route.path} ${operation['x-access']}`).toBe(`${route.method} ${route.path} ${expected}`);
      // Public routes waive the document's bearer requirement; the others answer 401 without a token.
      if (expected === 'public') expect(operation.security).toEqual([]);
      else expect(Object.keys(operation.responses)).toContain('401');
    }
  });

  it('describes the 400s a route answers, a request its schema accepts but a rule refuses among them', async () => {
    // Prepare: a job its schema accepts, whose privacy budget one round exceeds; and one whose name holds a control character
    const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, epsilonBudget: 0.001 };
    const job = { model: 'logistic', features: [{ name: 'x', type: 'numeric' }], target: 'y', strategy: { name: 'fedavg', weighting: 'uniform' }, dp };
    const post = (body: unknown) =>
      fetch(`${coordinator.url}/api/jobs`, { method: 'POST', headers: { authorization: 'Bearer openapi-admin-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // Execute
    const overBudget = await post(job);
    const unsafe = await post({ ...job, dp: undefined, name: 'a\u202ejob' });
    // Assert: each is a 400 whose body has the documented shape, with a code the description names for what happened
    const described = document.paths['/api/jobs'].post.responses['400'] as { description: string; content: Record<string, { schema: unknown }> };
    expect(described.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorResponse' });
    expect([overBudget.status, await overBudget.json()]).toEqual([400, { error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/below the ε of one round/) } }]);
    expect([unsafe.status, ((await unsafe.json()) as { error: { code: string } }).error.code]).toEqual([400, 'UNSAFE_TEXT']);
    expect(described.description).toMatch(/VALIDATION_FAILED: .*does not match its schema, or the request breaks a rule the message names/);
    expect(described.description).toMatch(/UNSAFE_TEXT: a text field .* holds a control character/);
  });

  it('names the views of the shared contract as components', () => {
    const schemas = Object.keys((document as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas);
    expect(schemas).toEqual(expect.arrayContaining(['JobView', 'RoundView', 'ParticipantView', 'InvitationView', 'AuditPage', 'ErrorResponse', 'NewUserRequest']));
  });

  it('serves a rendered reference page and its files without a token', async () => {
    const page = await fetch(`${coordinator.url}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(sources).toEqual(expect.arrayContaining(['/api/docs/init.js']));
    for (const source of sources) {
      const file = await fetch(`${coordinator.url}${source}`);
      // Read to the end, so that the connection is free when the coordinator closes.
      expect(`${source} ${file.status} ${(await file.arrayBuffer()).byteLength > 0}`).toBe(`${source} 200 true`);
    }
    expect(await (await fetch(`${coordinator.url}/api/docs/init.js`)).text()).toContain('/api/openapi.json');
  });

  it('still guards the API itself', async () => {
    const response = await fetch(`${coordinator.url}/api/jobs`);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
  });
});
