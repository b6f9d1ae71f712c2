/**
 * `fl-agent predict`: a site's rows scored with a global model where the data is,
 * prepared as for training (participant-agent/src/data/preprocess.ts), with the
 * model's own preprocessing: one output row per input row, in order.
 */
import * as fs from 'node:fs';
import { JobSpecSchema, ModelViewSchema, predict, UsageError, type ModelView } from '@fl/shared';
import { DataError, encodeFeatures, loadLocalData, type DataSource, type Mapping } from './data';

/** The model file: the JSON of GET /api/jobs/{id}/model, or model.fl.json from fl-sim --export. */
export function loadModel(file: string): ModelView {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--model: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const parsed = ModelViewSchema.safeParse(json);
  if (!parsed.success) throw new UsageError(`--model: ${file} is not a model as GET /api/jobs/{id}/model gives it: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** The header and rows of the predictions, per model kind: the predicted class, value or cluster first, then the scores. */
export async function predictRows(model: ModelView, source: DataSource | string, mapping?: Mapping): Promise<{ header: string[]; rows: string[][] }> {
  const { shape, preprocessing } = model;
  // The features alone: a spec without a target (as k-means has none), so rows missing the target are scored too.
  const spec = JobSpecSchema.parse({ model: 'kmeans', k: 2, features: preprocessing.features.map(({ name, type }) => ({ name, type })) });
  const { table, report } = await loadLocalData(source, spec, mapping);
  // A row left out would shift every prediction after it onto the wrong row.
  const skipped = report.problems.find((p) => p.column === '');
  if (report.counts.badRows > 0) {
    const first = skipped ? `, the first at line ${skipped.line} (${skipped.reason})` : '';
    throw new DataError('DATA_UNREADABLE', { rows: report.counts.badRows }, `rows with a wrong number of fields: ${report.counts.badRows}${first}; predictions come one per row, in order, so none are written until they are fixed`);
  }
  const { n, x } = encodeFeatures(table, preprocessing);
  const out = predict(shape, new Float32Array(model.weights), x, n);
  const k = shape.outputDim;
  const { target } = preprocessing;
  const classes = target.type === 'binary' || target.type === 'classes' ? target.classes : [];
  const row = (r: number) => Array.from(out.subarray(r * k, r * k + k));
  const best = (values: number[], pick: (a: number, b: number) => boolean) => values.reduce((at, v, i) => (pick(v, values[at]) ? i : at), 0);
  const text = (v: number) => String(v);
  switch (shape.kind) {
    case 'logistic':
      return { header: ['prediction', `probability_${classes[1]}`], rows: Array.from({ length: n }, (_, r) => [classes[out[r] >= 0.5 ? 1 : 0], text(out[r])]) };
    case 'linear': {
      const { mean, std } = target.type === 'numeric' ? target : { mean: 0, std: 1 };
      const scale = Number.isFinite(std) && std > 1e-12 ? std : 1;
      return { header: ['prediction'], rows: Array.from({ length: n }, (_, r) => [text(out[r] * scale + mean)]) };
    }
    case 'softmax':
      return { header: ['prediction', ...classes.map((c) => `probability_${c}`)], rows: Array.from({ length: n }, (_, r) => [classes[best(row(r), (a, b) => a > b)], ...row(r).map(text)]) };
    case 'svm':
      if (k === 1) return { header: ['prediction', 'margin'], rows: Array.from({ length: n }, (_, r) => [classes[out[r] >= 0 ? 1 : 0], text(out[r])]) };
      return { header: ['prediction', ...classes.map((c) => `margin_${c}`)], rows: Array.from({ length: n }, (_, r) => [classes[best(row(r), (a, b) => a > b)], ...row(r).map(text)]) };
    case 'kmeans':
      return {
        header: ['cluster', 'squared_distance'],
        rows: Array.from({ length: n }, (_, r) => {
          const c = best(row(r), (a, b) => a < b);
          return [String(c + 1), text(row(r)[c])];
        }),
      };
  }
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
export function toCsv(header: string[], rows: string[][]): string {
  const field = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\n') + '\n';
}
