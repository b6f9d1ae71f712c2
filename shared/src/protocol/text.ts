/**
 * Free text a person types (an organisation, a country, a label, a reason):
 * any printable character of any script, but no control character and no
 * bidirectional control, which would let a stored name read otherwise than it
 * is on a dashboard, in a log line or in the audit log (e.g. U+202E turning
 * "evil.exe" around). Refused with UNSAFE_TEXT.
 */
import { z } from 'zod';

/** C0 and C1 controls, line and paragraph separators, and the marks, embeddings, overrides and isolates of bidirectional text. */
export const UNSAFE_TEXT_PATTERN = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** The zod issue parameter that marks a refusal as UNSAFE_TEXT rather than VALIDATION_FAILED. */
export const UNSAFE_TEXT_ISSUE = { code: 'UNSAFE_TEXT' } as const;

const describe = (text: string) => {
  const c = UNSAFE_TEXT_PATTERN.exec(text)!;
  return `control characters and bidirectional overrides are not allowed (U+${c[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at ${c.index})`;
};

/** A string schema that also refuses unsafe characters. */
export function cleanText(schema: z.ZodString = z.string()) {
  return schema.superRefine((text, ctx) => {
    if (UNSAFE_TEXT_PATTERN.test(text)) ctx.addIssue({ code: 'custom', message: describe(text), params: UNSAFE_TEXT_ISSUE });
  });
}
