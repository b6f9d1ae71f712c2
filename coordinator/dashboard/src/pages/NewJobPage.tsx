/**
 * Creating a job. The form is checked with the API's own schema before it is
 * sent, each problem shown below its field; what the server still refuses is
 * shown the same way. Viewers see why there is no form.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import { ApiError } from '../api';
import { describeError } from '../messages';
import { Field } from '../components/Field';
import { PageHeading } from '../components/PageHeading';
import { EMPTY_FORM, MODEL_KINDS, NUMBER_FIELDS, numberFieldText, serverFieldError, validateJob, type FieldErrors, type JobFormValues } from '../job-form';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { ModelKind } from '@fl/shared';
import { FormActions } from '../components/FormActions';

export function NewJobPage() {
  const { t } = useTranslation();
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
        <PageHeading title={t('newJob.title')} />
        <p className="notice">
          {t('newJob.viewer')} <Link to="/jobs">{t('common.backToJobs')}</Link>
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
    const checked = validateJob(t, values);
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
      setErrors(err instanceof ApiError && err.code === 'VALIDATION_FAILED' ? serverFieldError(t, err.message) : { form: describeError(t, err) });
      setAttempt((a) => a + 1);
      setBusy(false);
    }
  };

  return (
    <>
      <PageHeading title={t('newJob.title')} />
      <form ref={form} className="job-form" onSubmit={submit} noValidate>
        <fieldset>
          <legend>{t('newJob.modelAndData')}</legend>
          <div className="grid two">
            <Field name="name" label={t('newJob.name')} error={errors.name} hint={t('newJob.nameHint')}>
              {(control) => <input {...control} type="text" value={values.name} onChange={(e) => set({ name: e.target.value }, 'name')} />}
            </Field>
            <Field name="model" label={t('newJob.model')} error={errors.model}>
              {(control) => (
                <select {...control} value={values.model} onChange={(e) => set({ model: e.target.value as ModelKind }, 'model')}>
                  {MODEL_KINDS.map((kind) => (
                    <option key={kind} value={kind}>
                      {t(`models.${kind}`)}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            {values.model !== 'kmeans' && (
              <Field name="target" label={t('newJob.target')} error={errors.target} hint={t('newJob.targetHint')}>
                {(control) => (
                  <input {...control} type="text" spellCheck={false} value={values.target} onChange={(e) => set({ target: e.target.value }, 'target')} />
                )}
              </Field>
            )}
            {(values.model === 'logistic' || values.model === 'svm') && (
              <Field name="positiveClass" label={t('newJob.positiveClass')} error={errors.positiveClass} hint={t('newJob.positiveClassHint')}>
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
            {values.model !== 'linear' && values.model !== 'kmeans' && (
              <Field name="classes" label={t('newJob.classes')} error={errors.classes} hint={t('newJob.classesHint')}>
                {(control) => (
                  <input {...control} type="text" spellCheck={false} value={values.classes} onChange={(e) => set({ classes: e.target.value }, 'classes')} />
                )}
              </Field>
            )}
          </div>
          <Field
            name="features"
            label={t('newJob.features')}
            error={errors.features}
            hint={<Trans i18nKey="newJob.featuresHint" components={{ code: <code /> }} />}
          >
            {(control) => (
              <textarea {...control} rows={6} spellCheck={false} value={values.features} onChange={(e) => set({ features: e.target.value }, 'features')} />
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>{t('newJob.training')}</legend>
          <p className="hint">{t('newJob.trainingHint')}</p>
          <div className="grid settings">
            {NUMBER_FIELDS.map((field) => (
              <Field key={field.key} name={field.key} {...numberFieldText(t, field.key)} error={errors[field.key]}>
                {(control) => (
                  <input
                    {...control}
                    type="text"
                    inputMode="decimal"
                    placeholder={field.defaultValue === undefined ? undefined : t('newJob.default', { value: field.defaultValue })}
                    value={values.numbers[field.key] ?? ''}
                    onChange={(e) => setNumber(field.key, e.target.value)}
                  />
                )}
              </Field>
            ))}
          </div>
        </fieldset>
        <FormActions error={errors.form} busy={busy} label={t('newJob.submit')} busyLabel={t('newJob.busy')}>
          <Link to="/jobs" className="button subtle">
            {t('common.cancel')}
          </Link>
        </FormActions>
      </form>
    </>
  );
}
