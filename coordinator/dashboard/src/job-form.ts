/**
 * The new-job form's values and their translation into a job spec, checked by
 * the API's own JobSpecSchema, with each problem placed on the field it concerns.
 * The numeric settings come from the schema itself, so one it gains shows up here.
 */
import { JobSpecSchema, MODEL_KINDS, type JobSpecInput, type ModelKind } from '@fl/shared';
import { words } from './format';

export interface NumberField {
  key: string;
  label: string;
  hint?: string;
  /** the schema's default, used when the field is left empty */
  defaultValue?: number;
}

/** How the schema's numeric settings are presented; any other gets its name in words. */
const PRESENTATION: Record<string, { label: string; hint?: string }> = {
  rounds: { label: 'Rounds' },
  minParticipants: { label: 'Minimum participants', hint: 'per round' },
  roundDeadlineSeconds: { label: 'Round deadline', hint: 'seconds' },
  waitAfterMinimumSeconds: { label: 'Wait after the minimum', hint: 'seconds, for the others; empty: until the deadline' },
  localEpochs: { label: 'Local epochs', hint: 'passes over the local data per round' },
  batchSize: { label: 'Batch size' },
  learningRate: { label: 'Learning rate' },
  l2: { label: 'L2 penalty' },
  seed: { label: 'Seed' },
  evaluateEvery: { label: 'Evaluate every', hint: 'rounds; 0 turns evaluation off' },
  evaluationFraction: { label: 'Evaluation share', hint: "of each site's rows, held out from training" },
};

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
  const presented = PRESENTATION[key] ?? { label: words(key).replace(/^./, (c) => c.toUpperCase()) };
  return { key, ...presented, defaultValue };
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
  /** one feature a line or comma-separated (a pasted CSV header): `name` or `name:categorical` */
  features: string;
  numbers: Record<string, string>;
}

/** Every spec field the form has an input for. */
const FORM_FIELDS = new Set(['name', 'model', 'target', 'positiveClass', 'features', ...NUMBER_FIELDS.map((f) => f.key)]);

export const EMPTY_FORM: JobFormValues = { name: '', model: 'logistic', target: '', positiveClass: '', features: '', numbers: {} };

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
  const spec: Record<string, unknown> = { model: values.model, target: values.target.trim(), features: parseFeatures(values.features) };
  if (values.name.trim()) spec.name = values.name.trim();
  if (values.model === 'logistic' && values.positiveClass.trim()) spec.positiveClass = values.positiveClass.trim();
  for (const { key } of NUMBER_FIELDS) {
    const raw = values.numbers[key]?.trim();
    if (raw) spec[key] = Number(raw);
  }
  return spec;
}

export function validateJob(values: JobFormValues): { spec: JobSpecInput; errors: null } | { spec: null; errors: FieldErrors } {
  const input = toSpecInput(values);
  const parsed = JobSpecSchema.safeParse(input);
  if (parsed.success) return { spec: input as JobSpecInput, errors: null };
  const features = input.features as { name: string }[];
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const [field, index] = issue.path;
    const key = typeof field === 'string' ? field : 'form';
    const message =
      key === 'features' && typeof index === 'number' ? `${features[index]?.name || `entry ${index + 1}`}: ${issue.message}` : issue.message;
    errors[key] ??= message;
  }
  return { spec: null, errors };
}

/** The server's VALIDATION_FAILED message reads `path: message`; put it on that field when the form has it. */
export function serverFieldError(message: string): FieldErrors {
  const match = /^([A-Za-z]+)[.:]/.exec(message);
  const field = match?.[1];
  return field && FORM_FIELDS.has(field) ? { [field]: message } : { form: message };
}
