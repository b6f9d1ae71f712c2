/** Where a refused request's message goes in a form. */
import type { TFunction } from 'i18next';
import { ApiError } from './api';
import { describeError } from './messages';

export type FormErrors = Record<string, string | undefined>;

/**
 * The API's VALIDATION_FAILED starts with the field it is about (`name: …`):
 * that refusal goes below the field, and anything else to the whole form, in
 * the reader's language. `fields` maps the API's names to the form's.
 */
export function refusedFields(t: TFunction, err: unknown, fields: Record<string, string>): FormErrors {
  if (!(err instanceof ApiError)) return { form: describeError(t, err) };
  const match = /^([A-Za-z]+): (.*)$/s.exec(err.message);
  const field = match && Object.hasOwn(fields, match[1]) ? fields[match[1]] : undefined;
  return err.code === 'VALIDATION_FAILED' && field ? { [field]: t('apiErrors.VALIDATION_FAILED', { detail: match![2] }) } : { form: describeError(t, err) };
}

/** The form's errors less the one of a field being changed (and the form's own, which may no longer hold). */
export function without(errors: FormErrors, field: string): FormErrors {
  const { [field]: _fixed, form: _form, ...rest } = errors;
  return rest;
}
