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
import {
  EMPTY_FORM,
  FORM_STRATEGIES,
  MODEL_KINDS,
  modelInputs,
  serverFieldError,
  settingText,
  shownSettings,
  validateJob,
  type FieldErrors,
  type JobFormValues,
  type SettingField,
} from '../job-form';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { ModelKind, StrategyName } from '@fl/shared';
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
  const setSetting = (key: string, value: string) => set({ settings: { ...values.settings, [key]: value } }, key);
  const shown = shownSettings(values);
  const inputs = modelInputs(values.model);
  const settingInputs = (fields: SettingField[]) =>
    fields.map((field) => (
      <Field key={field.key} name={field.key} {...settingText(t, field.key)} error={errors[field.key]}>
        {(control) =>
          field.kind === 'choice' ? (
            <select {...control} value={values.settings[field.key] ?? String(field.defaultValue ?? '')} onChange={(e) => setSetting(field.key, e.target.value)}>
              {field.choices!.map((choice) => (
                <option key={choice} value={choice}>
                  {t(`newJob.choices.${field.key.split('.').pop()}.${choice}`, { defaultValue: choice })}
                </option>
              ))}
            </select>
          ) : (
            <input
              {...control}
              type="text"
              inputMode="decimal"
              placeholder={field.defaultValue === undefined ? undefined : t('newJob.default', { value: field.defaultValue })}
              value={values.settings[field.key] ?? ''}
              onChange={(e) => setSetting(field.key, e.target.value)}
            />
          )
        }
      </Field>
    ));
  const toggle = (key: 'secureAggregation' | 'dp') => (
    <div className="field check">
      <label>
        <input type="checkbox" name={key} checked={values[key]} onChange={(e) => set({ [key]: e.target.checked }, key)} /> {t(`newJob.${key}`)}
      </label>
      <p className="hint">{t(`newJob.${key}Hint`)}</p>
      <p className="error" data-field-error={key}>
        {errors[key]}
      </p>
    </div>
  );

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
      setErrors(err instanceof ApiError && err.code === 'VALIDATION_FAILED' ? serverFieldError(t, values, err.message) : { form: describeError(t, err) });
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
            {inputs.target && (
              <Field name="target" label={t('newJob.target')} error={errors.target} hint={t('newJob.targetHint')}>
                {(control) => (
                  <input {...control} type="text" spellCheck={false} value={values.target} onChange={(e) => set({ target: e.target.value }, 'target')} />
                )}
              </Field>
            )}
            {inputs.positiveClass && (
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
            {inputs.classes && (
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
          <div className="grid settings">{settingInputs(shown.job)}</div>
        </fieldset>
        <fieldset>
          <legend>{t('newJob.aggregationAndPrivacy')}</legend>
          {!inputs.strategy ? (
            <p className="hint">{t('newJob.kmeansStrategy')}</p>
          ) : (
            <div className="grid settings">
              <Field name="strategy.name" label={t('newJob.strategy')} error={errors['strategy.name']}>
                {(control) => (
                  <select {...control} value={values.strategy} onChange={(e) => set({ strategy: e.target.value as StrategyName }, 'strategy.name')}>
                    {FORM_STRATEGIES.map((name) => (
                      <option key={name} value={name}>
                        {t(`strategies.${name}`)}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              {settingInputs(shown.strategy)}
            </div>
          )}
          {toggle('secureAggregation')}
          {shown.secureAggregation.length > 0 && <div className="grid settings">{settingInputs(shown.secureAggregation)}</div>}
          {toggle('dp')}
          {shown.dp.length > 0 && <div className="grid settings">{settingInputs(shown.dp)}</div>}
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
