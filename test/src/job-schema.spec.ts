/**
 * The job spec as published JSON Schema: served without a token, cacheable, and
 * a standard validator (ajv, draft 2020-12) agrees with the coordinator on the
 * demo's job, on jobs with units and dates, and on jobs that are not valid.
 */
import Ajv2020 from 'ajv/dist/2020';
import type { RunningCoordinator } from '@fl/coordinator';
import { JobSpecSchema, type JobSpecInput } from '@fl/shared';
import { DEMO_SPEC } from './demo-job';
import { testCoordinator } from './harness';

jest.setTimeout(60_000);

describe('GET /api/schemas/job.json', () => {
  let coordinator: RunningCoordinator;
  let response: Response;
  let schema: Record<string, unknown>;
  let validate: ReturnType<Ajv2020['compile']>;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    response = await fetch(`${coordinator.url}/api/schemas/job.json`);
    schema = (await response.json()) as Record<string, unknown>;
    validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
  });

  afterAll(async () => {
    await coordinator?.close();
  });

  it('is served without a token, as JSON a cache may keep and revalidate', async () => {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600');
    const etag = response.headers.get('etag');
    expect(etag).toBeTruthy();
    // As a browser revalidates; fetch on its own would add Cache-Control: no-cache to a conditional request.
    const again = await fetch(`${coordinator.url}/api/schemas/job.json`, { headers: { 'If-None-Match': etag!, 'Cache-Control': 'max-age=0' } });
    expect(again.status).toBe(304);
  });

  it('is draft 2020-12 JSON Schema of the job spec, listed in the OpenAPI description', async () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.required).toEqual(['model', 'features']);
    const openapi = (await (await fetch(`${coordinator.url}/api/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(openapi.paths['/api/schemas/job.json']).toHaveProperty('get');
  });

  it('validates the demo job, as the coordinator does', () => {
    expect(validate(DEMO_SPEC)).toBe(true);
    expect(JobSpecSchema.safeParse(DEMO_SPEC).success).toBe(true);
  });

  it('validates features with a unit or a date format', () => {
    const spec: JobSpecInput = {
      ...DEMO_SPEC,
      features: [{ name: 'Income', type: 'numeric', unit: 'EUR' }, { name: 'Opened', type: 'numeric', format: 'date' }, { name: 'Home', type: 'categorical' }],
    };
    expect(validate(spec)).toBe(true);
    expect(JobSpecSchema.safeParse(spec).success).toBe(true);
  });

  it('leaves rules across fields to the coordinator: a date with a unit passes the schema, not the coordinator', () => {
    const spec = { ...DEMO_SPEC, features: [{ name: 'Opened', type: 'numeric', format: 'date', unit: 'd' }] };
    expect(validate(spec)).toBe(true);
    const parsed = JobSpecSchema.safeParse(spec);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['features', 0, 'unit'], message: 'a date has no unit: it is a number of days' });
  });

  it.each<[string, unknown]>([
    ['an unknown model', { ...DEMO_SPEC, model: 'forest' }],
    ['no features', { model: 'logistic', target: 'Status' }],
    ['a field the spec does not have', { ...DEMO_SPEC, epochs: 3 }],
    ['a rounds count that is not a whole number', { ...DEMO_SPEC, rounds: 2.5 }],
    ['a unit on a categorical feature', { ...DEMO_SPEC, features: [{ name: 'Home', type: 'categorical', unit: 'EUR' }] }],
    ['a date format other than date', { ...DEMO_SPEC, features: [{ name: 'Opened', type: 'numeric', format: 'datetime' }] }],
  ])('rejects a job with %s, as the coordinator does', (_, spec) => {
    expect(validate(spec)).toBe(false);
    expect(validate.errors?.length).toBeGreaterThan(0);
    expect(JobSpecSchema.safeParse(spec).success).toBe(false);
  });
});
