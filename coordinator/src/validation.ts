/** Turning zod's verdicts into the API's errors: the first issue, named by its path. */
import { FlError, UNSAFE_TEXT_ISSUE } from '@fl/shared';
import { ZodError, type z } from 'zod';

export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length ? issue.path.join('.') : 'message';
  return `${where}: ${issue.message}`;
}

/** The parsed body, or VALIDATION_FAILED naming what is wrong (UNSAFE_TEXT for control characters in text). */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const unsafe = parsed.error.issues.find((i) => i.code === 'custom' && i.params?.code === UNSAFE_TEXT_ISSUE.code);
  if (unsafe) throw new FlError('UNSAFE_TEXT', describeZodError(new ZodError([unsafe])));
  throw new FlError('VALIDATION_FAILED', describeZodError(parsed.error));
}
