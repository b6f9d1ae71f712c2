/**
 * The new-job form's values and their translation into a job spec, checked by
 * the API's own JobSpecSchema, with each problem placed on the field it concerns.
 * The settings (the job's, its strategy's, secure aggregation's and differential
 * privacy's) come from their schemas, so one a schema gains shows up here.
 * The schema's problems are worded by zod's translations, and those of the
 * rules it adds (shared/src/protocol/rules.ts) by the dashboard's texts.
 */
import {
  DpSpecSchema,
  JobSpecSchema,
  MODEL_KINDS,
  SecureAggregationSpecSchema,
  STRATEGY_NAMES,
  STRATEGY_SCHEMAS,
  type JobSpecInput,
  type ModelKind,
  type StrategyName,
} from '@fl/shared';
import type { TFunction } from 'i18next';
import { de, en, es, fr, zhCN } from 'zod/v4/locales';
import { words } from './format';
import { currentLanguage, i18n, type Language } from './i18n';

/**
 * A setting the form has an input for, described from its zod schema: a number,
 * or a choice among an enum's values. Its key is its path in the spec, dotted:
 * `learningRate`, `strategy.mu`, `dp.clipNorm`.
 */
export interface SettingField {
  key: string;
  kind: 'number' | 'choice';
  choices?: string[];
  /** the schema's default, used when the field is left empty */
  defaultValue?: number | string;
}

/** The settings with a label (and maybe a hint) in the texts; any other gets its name in words. */
export function settingText(t: TFunction, key: string): { label: string; hint?: string } {
  const label = `newJob.settings.${key}`;
  const hint = `newJob.settingHints.${key}`;
  if (!i18n.exists(label)) return { label: words(key.split('.').pop()!).replace(/^./, (c) => c.toUpperCase()) };
  return { label: t(label), hint: i18n.exists(hint) ? t(hint) : undefined };
}

const ZOD_LOCALES: Record<Language, typeof en> = { en, fr, de, es, zh: zhCN };

/** Just enough of zod's schema description to find numbers, choices and their defaults. */
interface Described {
  def: { type: string; innerType?: Described; defaultValue?: unknown; entries?: Record<string, string> };
}

function settingField(key: string, schema: Described): SettingField | null {
  let inner = schema;
  let defaultValue: number | string | undefined;
  while (inner.def.type === 'default' || inner.def.type === 'optional') {
    const value = inner.def.defaultValue;
    if (inner.def.type === 'default' && (typeof value === 'number' || typeof value === 'string')) defaultValue = value;
    inner = inner.def.innerType!;
  }
  if (inner.def.type === 'number') return { key, kind: 'number', defaultValue };
  if (inner.def.type === 'enum') return { key, kind: 'choice', choices: Object.values(inner.def.entries!), defaultValue };
  return null;
}

function settingsOf(prefix: string, shape: Record<string, unknown>): SettingField[] {
  return Object.entries(shape).flatMap(([key, schema]) => {
    const field = settingField(prefix + key, schema as Described);
    return field ? [field] : [];
  });
}

/** The job's own numbers; k is a kmeans model's. */
export const NUMBER_FIELDS: SettingField[] = settingsOf('', JobSpecSchema.shape).filter((f) => f.kind === 'number');

/** The strategies a form can name: a kmeans job's is chosen by its model. */
export const FORM_STRATEGIES = STRATEGY_NAMES.filter((name) => name !== 'kmeans');
export const STRATEGY_FIELDS = Object.fromEntries(FORM_STRATEGIES.map((name) => [name, settingsOf('strategy.', STRATEGY_SCHEMAS[name].shape)])) as Record<
  StrategyName,
  SettingField[]
>;
export const SECURE_AGGREGATION_FIELDS = settingsOf('secureAggregation.', SecureAggregationSpecSchema.shape);
export const DP_FIELDS = settingsOf('dp.', DpSpecSchema.shape);

export { MODEL_KINDS };

export interface JobFormValues {
  name: string;
  model: ModelKind;
  target: string;
  positiveClass: string;
  /** logistic, softmax and svm: the target's classes, comma-separated; empty: those the sites report */
  classes: string;
  /** one feature a line or comma-separated (a pasted CSV header), as parseFeatures reads it */
  features: string;
  strategy: StrategyName;
  secureAggregation: boolean;
  dp: boolean;
  /** every setting as typed, by its key */
  settings: Record<string, string>;
}

export const EMPTY_FORM: JobFormValues = {
  name: '',
  model: 'logistic',
  target: '',
  positiveClass: '',
  classes: '',
  features: '',
  strategy: 'fedavg',
  secureAggregation: false,
  dp: false,
  settings: {},
};

/** Which of the model's own inputs a model has: k-means has a k, and no target nor a strategy to choose; a linear model no classes. */
export function modelInputs(model: ModelKind): { target: boolean; positiveClass: boolean; classes: boolean; strategy: boolean; k: boolean } {
  const kmeans = model === 'kmeans';
  return { target: !kmeans, positiveClass: model === 'logistic' || model === 'svm', classes: model !== 'linear' && !kmeans, strategy: !kmeans, k: kmeans };
}

/** The settings shown for these values: each model, strategy and privacy option has its own. */
export function shownSettings(values: JobFormValues): { job: SettingField[]; strategy: SettingField[]; secureAggregation: SettingField[]; dp: SettingField[] } {
  const { strategy, k } = modelInputs(values.model);
  return {
    job: NUMBER_FIELDS.filter((f) => f.key !== 'k' || k),
    strategy: strategy ? STRATEGY_FIELDS[values.strategy] : [],
    secureAggregation: values.secureAggregation ? SECURE_AGGREGATION_FIELDS : [],
    dp: values.dp ? DP_FIELDS : [],
  };
}

/** The keys of every input shown for these values, which a problem can be placed on. */
function shownKeys(values: JobFormValues): Set<string> {
  const inputs = modelInputs(values.model);
  const keys = ['name', 'model', 'features', 'secureAggregation', 'dp'];
  if (inputs.target) keys.push('target');
  if (inputs.strategy) keys.push('strategy.name');
  if (inputs.positiveClass) keys.push('positiveClass');
  if (inputs.classes) keys.push('classes');
  const shown = shownSettings(values);
  return new Set([...keys, ...[...shown.job, ...shown.strategy, ...shown.secureAggregation, ...shown.dp].map((f) => f.key)]);
}

/** The shown input a problem at `path` concerns: the longest part of the path that names one; else the whole form. */
function fieldOf(path: readonly PropertyKey[], shown: Set<string>): string {
  const end = path.findIndex((p) => typeof p !== 'string');
  const names = (end === -1 ? path : path.slice(0, end)).map(String);
  for (let n = names.length; n > 0; n--) {
    const key = names.slice(0, n).join('.');
    if (shown.has(key)) return key;
    if (shown.has(`${key}.name`)) return `${key}.name`;
  }
  return 'form';
}

export type FieldErrors = Record<string, string>;

/** `min..max`: a numeric feature's bounds. */
const BOUNDS = /^(.+)\.\.(.+)$/;

/**
 * One feature a line or comma-separated (a pasted CSV header): `name`, numeric;
 * `name:categorical`; with what secure aggregation needs declared, `name:0..100`
 * (bounds) and `name:categorical:a|b|c` (categories).
 */
export function parseFeatures(text: string): Record<string, unknown>[] {
  return text
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [name, ...rest] = entry.split(':').map((part) => part.trim());
      const bounds = BOUNDS.exec(rest.at(-1) ?? '');
      if (bounds && (rest.length === 1 || rest[0] === 'numeric')) return { name, type: 'numeric', bounds: [Number(bounds[1]), Number(bounds[2])] };
      const [type = 'numeric', categories] = rest;
      return type === 'categorical' && categories ? { name, type, categories: categories.split('|').map((c) => c.trim()) } : { name, type };
    });
}

/** Only what was filled in: the coordinator applies its own defaults to the rest. */
export function toSpecInput(values: JobFormValues): Record<string, unknown> {
  const spec: Record<string, unknown> = { model: values.model, features: parseFeatures(values.features) };
  const fill = (fields: SettingField[], into: Record<string, unknown>) => {
    for (const { key, kind } of fields) {
      const raw = values.settings[key]?.trim();
      if (raw) into[key.split('.').pop()!] = kind === 'number' ? Number(raw) : raw;
    }
    return into;
  };
  const shown = shownSettings(values);
  const inputs = modelInputs(values.model);
  if (inputs.target) spec.target = values.target.trim();
  if (inputs.strategy) spec.strategy = fill(shown.strategy, { name: values.strategy });
  if (values.name.trim()) spec.name = values.name.trim();
  if (inputs.positiveClass && values.positiveClass.trim()) spec.positiveClass = values.positiveClass.trim();
  const classes = values.classes.split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (inputs.classes && classes.length > 0) spec.classes = classes;
  fill(shown.job, spec);
  if (values.secureAggregation) spec.secureAggregation = fill(shown.secureAggregation, {});
  if (values.dp) spec.dp = fill(shown.dp, {});
  return spec;
}

export function validateJob(t: TFunction, values: JobFormValues): { spec: JobSpecInput; errors: null } | { spec: null; errors: FieldErrors } {
  const input = toSpecInput(values);
  const parsed = JobSpecSchema.safeParse(input, { error: ZOD_LOCALES[currentLanguage()]().localeError });
  if (parsed.success) return { spec: input as JobSpecInput, errors: null };
  const features = input.features as { name: string }[];
  const shown = shownKeys(values);
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const [field, index] = issue.path;
    const key = fieldOf(issue.path, shown);
    // A rule of the spec's own is worded by the dashboard's texts, in the user's language; zod's checks by zod's.
    const params = issue.code === 'custom' ? (issue.params as { rule?: string } | undefined) : undefined;
    let message = params?.rule ? t(`jobRules.${params.rule}`, params) : issue.message;
    if (field === 'features' && typeof index === 'number') {
      const name = features[index]?.name;
      message = t('newJob.errors.feature', { name: name || t('newJob.errors.entry', { n: index + 1 }), problem: message });
    }
    errors[key] ??= message;
  }
  return { spec: null, errors };
}

/**
 * The server's VALIDATION_FAILED message reads `path: message`, the path dotted:
 * the field it is about gets the translated refusal with the server's detail, else the whole form.
 */
export function serverFieldError(t: TFunction, values: JobFormValues, message: string): FieldErrors {
  const path = /^([\w.-]+):/.exec(message)?.[1].split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part)) ?? [];
  return { [fieldOf(path, shownKeys(values))]: t('apiErrors.VALIDATION_FAILED', { detail: message }) };
}
