/**
 * Creating a job. The form is checked with the API's own schema before it is
 * sent, each problem shown below its field; what the server still refuses is
 * shown the same way. Viewers see why there is no form.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { Field } from '../components/Field';
import { PageHeading } from '../components/PageHeading';
import { EMPTY_FORM, MODEL_KINDS, NUMBER_FIELDS, serverFieldError, validateJob, type FieldErrors, type JobFormValues } from '../job-form';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { ModelKind } from '@fl/shared';
import { FormActions } from '../components/FormActions';

const MODEL_LABELS: Record<ModelKind, string> = {
  logistic: 'Logistic regression (binary)',
  softmax: 'Softmax regression (multiclass)',
  linear: 'Linear regression',
};

export function NewJobPage() {
  const { api, canEdit } = useSession();
  const [values, setValues] = useState<JobFormValues>(EMPTY_FORM);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);

  // After a refused submit, take the keyboard to the first field with a problem.
  useEffect(() => {
    if (attempt) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [attempt]);

  if (!canEdit) {
    return (
      <>
        <PageHeading title="New job" />
        <p className="notice">
          You are signed in as a viewer: you can follow jobs but not create them. <Link to="/jobs">Back to the jobs</Link>.
        </p>
      </>
    );
  }

  const set = (change: Partial<JobFormValues>, field: string) => {
    setValues((v) => ({ ...v, ...change }));
    setErrors(({ [field]: _fixed, form: _form, ...rest }) => rest);
  };
  const setNumber = (key: string, value: string) => set({ numbers: { ...values.numbers, [key]: value } }, key);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const checked = validateJob(values);
    if (checked.errors) {
      setErrors(checked.errors);
      setAttempt((a) => a + 1);
      return;
    }
    setBusy(true);
    try {
      const job = await api.createJob(checked.spec);
      navigate(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      const error = err as ApiError;
      setErrors(error.code === 'VALIDATION_FAILED' ? serverFieldError(error.message) : { form: error.message });
      setAttempt((a) => a + 1);
      setBusy(false);
    }
  };

  return (
    <>
      <PageHeading title="New job" />
      <form ref={form} className="job-form" onSubmit={submit} noValidate>
        <fieldset>
          <legend>Model and data</legend>
          <div className="grid two">
            <Field name="name" label="Name" error={errors.name} hint="Shown in the job list.">
              {(control) => <input {...control} type="text" value={values.name} onChange={(e) => set({ name: e.target.value }, 'name')} />}
            </Field>
            <Field name="model" label="Model" error={errors.model}>
              {(control) => (
                <select {...control} value={values.model} onChange={(e) => set({ model: e.target.value as ModelKind }, 'model')}>
                  {MODEL_KINDS.map((kind) => (
                    <option key={kind} value={kind}>
                      {MODEL_LABELS[kind]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field name="target" label="Target column" error={errors.target} hint="The column the model predicts.">
              {(control) => (
                <input {...control} type="text" spellCheck={false} value={values.target} onChange={(e) => set({ target: e.target.value }, 'target')} />
              )}
            </Field>
            {values.model === 'logistic' && (
              <Field name="positiveClass" label="Positive class" error={errors.positiveClass} hint="Optional: the target value that counts as positive.">
                {(control) => (
                  <input
                    {...control}
                    type="text"
                    spellCheck={false}
                    value={values.positiveClass}
                    onChange={(e) => set({ positiveClass: e.target.value }, 'positiveClass')}
                  />
                )}
              </Field>
            )}
          </div>
          <Field
            name="features"
            label="Feature columns"
            error={errors.features}
            hint={
              <>
                One a line, or a pasted CSV header line. Numeric unless written <code>name:categorical</code>.
              </>
            }
          >
            {(control) => (
              <textarea {...control} rows={6} spellCheck={false} value={values.features} onChange={(e) => set({ features: e.target.value }, 'features')} />
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Training</legend>
          <p className="hint">Leave a field empty for its default.</p>
          <div className="grid settings">
            {NUMBER_FIELDS.map((field) => (
              <Field key={field.key} name={field.key} label={field.label} hint={field.hint} error={errors[field.key]}>
                {(control) => (
                  <input
                    {...control}
                    type="text"
                    inputMode="decimal"
                    placeholder={field.defaultValue === undefined ? undefined : `default ${field.defaultValue}`}
                    value={values.numbers[field.key] ?? ''}
                    onChange={(e) => setNumber(field.key, e.target.value)}
                  />
                )}
              </Field>
            ))}
          </div>
        </fieldset>
        <FormActions error={errors.form} busy={busy} label="Create and start the job" busyLabel="Creating…">
          <Link to="/jobs" className="button subtle">
            Cancel
          </Link>
        </FormActions>
      </form>
    </>
  );
}
