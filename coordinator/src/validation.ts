/** Turning zod's verdicts into the API's errors: the first issue, named by its path. */
import { FlError, UNSAFE_TEXT_ISSUE } from '@fl/shared';
import { ZodError, type z } from 'zod';

export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length ? issue.path.join('.') : 'message';
  return `${where}: ${issue.message}`;
}

/** VALIDATION_FAILED naming what is wrong; UNSAFE_TEXT when a text field holds control characters. */
export function zodRefusal(error: z.ZodError): FlError {
  const unsafe = error.issues.find((i) => i.code === 'custom' && i.params?.code === UNSAFE_TEXT_ISSUE.code);
  if (unsafe) return new FlError('UNSAFE_TEXT', describeZodError(new ZodError([unsafe])));
  return new FlError('VALIDATION_FAILED', describeZodError(error));
}

/** The parsed body, or the refusal of zodRefusal. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw zodRefusal(parsed.error);
}
