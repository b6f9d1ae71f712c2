/**
 * A rule of a job spec that zod's own checks do not hold, broken: its English
 * text for the API's error, and its name and values, with which the dashboard
 * says the same in its user's language (the `jobRules` texts of its locales).
 */
import type { z } from 'zod';

export interface BrokenRule {
  path: (string | number)[];
  rule: string;
  values?: Record<string, string | number>;
  message: string;
}

export function addBrokenRule(ctx: z.RefinementCtx, { path, rule, values, message }: BrokenRule): void {
  ctx.addIssue({ code: 'custom', path, message, params: { rule, ...values } });
}
