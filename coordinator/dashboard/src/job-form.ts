/**
 * The new-job form's values and their translation into a job spec, checked by
 * the API's own JobSpecSchema, with each problem placed on the field it concerns.
 * The numeric settings come from the schema itself, so one it gains shows up here.
 * The schema's own problems are worded by zod's translations; the two it words
 * itself (a duplicate feature, the target as a feature) are recognised here.
 */
import { JobSpecSchema, MODEL_KINDS, type JobSpecInput, type ModelKind } from '@fl/shared';
import type { TFunction } from 'i18next';
import { de, en, es, fr, zhCN } from 'zod/v4/locales';
import { words } from './format';
import { currentLanguage, type Language } from './i18n';

export interface NumberField {
  key: string;
  /** the schema's default, used when the field is left empty */
  defaultValue?: number;
}

/** The settings with a label (and maybe a hint) in the texts; any other gets its name in words. */
const LABELLED = new Set(['rounds', 'minParticipants', 'roundDeadlineSeconds', 'waitAfterMinimumSeconds', 'localEpochs', 'batchSize', 'learningRate', 'l2', 'seed', 'evaluateEvery', 'evaluationFraction', 'maxRowsPerParticipant']);
const HINTED = new Set(['minParticipants', 'roundDeadlineSeconds', 'waitAfterMinimumSeconds', 'localEpochs', 'evaluateEvery', 'evaluationFraction', 'maxRowsPerParticipant']);

export function numberFieldText(t: TFunction, key: string): { label: string; hint?: string } {
  if (!LABELLED.has(key)) return { label: words(key).replace(/^./, (c) => c.toUpperCase()) };
  return { label: t(`newJob.settings.${key}`), hint: HINTED.has(key) ? t(`newJob.settingHints.${key}`) : undefined };
}

const ZOD_LOCALES: Record<Language, typeof en> = { en, fr, de, es, zh: zhCN };

/** Just enough of zod's schema description to find numbers and their defaults. */
interface Described {
  def: { type: string; innerType?: Described; defaultValue?: unknown };
}

function numberField(key: string, schema: Described): NumberField | null {
  let inner = schema;
  let defaultValue: number | undefined;
  while (inner.def.type === 'default' || inner.def.type === 'optional') {
    if (inner.def.type === 'default' && typeof inner.def.defaultValue === 'number') defaultValue = inner.def.defaultValue;
    inner = inner.def.innerType!;
  }
  if (inner.def.type !== 'number') return null;
  return { key, defaultValue };
}

export const NUMBER_FIELDS: NumberField[] = Object.entries(JobSpecSchema.shape).flatMap(([key, schema]) => {
  const field = numberField(key, schema as unknown as Described);
  return field ? [field] : [];
});

export { MODEL_KINDS };

export interface JobFormValues {
  name: string;
  model: ModelKind;
  target: string;
  positiveClass: string;
  /** logistic, softmax and svm: the target's classes, comma-separated; empty: those the sites report */
  classes: string;
  /** one feature a line or comma-separated (a pasted CSV header): `name` or `name:categorical` */
  features: string;
  numbers: Record<string, string>;
}

/** Every spec field the form has an input for. */
const FORM_FIELDS = new Set(['name', 'model', 'target', 'positiveClass', 'classes', 'features', ...NUMBER_FIELDS.map((f) => f.key)]);

export const EMPTY_FORM: JobFormValues = { name: '', model: 'logistic', target: '', positiveClass: '', classes: '', features: '', numbers: {} };

/** Field name → the first problem with it; `form` for problems of the whole. */
export type FieldErrors = Record<string, string>;

export function parseFeatures(text: string): { name: string; type: string }[] {
  return text
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [name, type] = entry.split(':').map((part) => part.trim());
      return { name, type: type || 'numeric' };
    });
}

/** Only what was filled in: the coordinator applies its own defaults to the rest. */
export function toSpecInput(values: JobFormValues): Record<string, unknown> {
  const spec: Record<string, unknown> = { model: values.model, features: parseFeatures(values.features) };
  // k-means has no target: its k is among the number fields.
  if (values.model !== 'kmeans') spec.target = values.target.trim();
  if (values.name.trim()) spec.name = values.name.trim();
  if ((values.model === 'logistic' || values.model === 'svm') && values.positiveClass.trim()) spec.positiveClass = values.positiveClass.trim();
  const classes = values.classes.split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (values.model !== 'linear' && values.model !== 'kmeans' && classes.length > 0) spec.classes = classes;
  for (const { key } of NUMBER_FIELDS) {
    const raw = values.numbers[key]?.trim();
    if (raw) spec[key] = Number(raw);
  }
  return spec;
}

export function validateJob(t: TFunction, values: JobFormValues): { spec: JobSpecInput; errors: null } | { spec: null; errors: FieldErrors } {
  const input = toSpecInput(values);
  const parsed = JobSpecSchema.safeParse(input, { error: ZOD_LOCALES[currentLanguage()]().localeError });
  if (parsed.success) return { spec: input as JobSpecInput, errors: null };
  const features = input.features as { name: string }[];
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const [field, index] = issue.path;
    const key = typeof field === 'string' ? field : 'form';
    let message = issue.message;
    if (key === 'features' && typeof index === 'number') {
      const name = features[index]?.name;
      if (issue.code === 'custom') message = name === input.target ? t('newJob.errors.targetIsFeature') : t('newJob.errors.duplicateFeature');
      message = t('newJob.errors.feature', { name: name || t('newJob.errors.entry', { n: index + 1 }), problem: message });
    }
    errors[key] ??= message;
  }
  return { spec: null, errors };
}

/**
 * The server's VALIDATION_FAILED message reads `path: message`: the field it is
 * about gets the translated refusal with the server's detail, else the whole form.
 */
export function serverFieldError(t: TFunction, message: string): FieldErrors {
  const match = /^([A-Za-z]+)[.:]/.exec(message);
  const field = match?.[1];
  const text = t('apiErrors.VALIDATION_FAILED', { detail: message });
  return field && FORM_FIELDS.has(field) ? { [field]: text } : { form: text };
}
