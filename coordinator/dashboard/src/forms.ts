/** Where a refused request's message goes in a form. */
import { ApiError } from './api';

export type FormErrors = Record<string, string | undefined>;

/**
 * The API's VALIDATION_FAILED starts with the field it is about (`name: …`):
 * that message goes below the field, and anything else to the whole form.
 * `fields` maps the API's names to the form's.
 */
export function refusedFields(err: unknown, fields: Record<string, string>): FormErrors {
  if (!(err instanceof ApiError)) return { form: String(err) };
  const match = /^([A-Za-z]+): (.*)$/s.exec(err.message);
  const field = match && Object.hasOwn(fields, match[1]) ? fields[match[1]] : undefined;
  return err.code === 'VALIDATION_FAILED' && field ? { [field]: match![2] } : { form: err.message };
}

/** The form's errors less the one of a field being changed (and the form's own, which may no longer hold). */
export function without(errors: FormErrors, field: string): FormErrors {
  const { [field]: _fixed, form: _form, ...rest } = errors;
  return rest;
}
