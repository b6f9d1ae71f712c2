/** Turning zod's verdicts into the API's errors: the first issue, named by its path. */
import { FlError } from '@fl/shared';
import type { z } from 'zod';

export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length ? issue.path.join('.') : 'message';
  return `${where}: ${issue.message}`;
}

/** The parsed body, or VALIDATION_FAILED naming what is wrong. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new FlError('VALIDATION_FAILED', describeZodError(parsed.error));
  return parsed.data;
}
