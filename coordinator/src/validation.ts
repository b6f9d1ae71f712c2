/** Turning zod's verdicts into the API's errors: the first issue, named by its path. */
import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import { describeZodError, FlError, UNSAFE_TEXT_ISSUE, UNSAFE_TEXT_PATTERN } from '@fl/shared';
import { ZodError, type z } from 'zod';

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

/**
 * Every route's path parameters (ids and names) hold no unsafe character, as
 * free text may not: none can name anything stored, and PostgreSQL refuses a
 * NUL outright (an internal error, where the answer should say what is wrong).
 */
export class PathParamsPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'param' && typeof value === 'string' && UNSAFE_TEXT_PATTERN.test(value)) {
      throw new FlError('UNSAFE_TEXT', `${metadata.data ?? 'path'}: control characters and bidirectional overrides are not allowed`);
    }
    return value;
  }
}
