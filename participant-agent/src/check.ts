/**
 * `fl-agent check`: a site's data against a job spec, before it joins. It reads
 * the data as a job would (same source, mapping and typing), computes the
 * statistics it would report, and says how many rows it would train on, which
 * values the mapping converted, what is wrong where, and what the check cost.
 * Nothing leaves the machine.
 */
import { readFileSync } from 'node:fs';
import { JobSpecSchema, type JobSpec } from '@fl/shared';
import { computeStatistics, describeSource, formatReport, readLocalData, unconvertibleValues, type DataSource, type Mapping } from './data';

export interface CheckResult {
  /** rows with a target: the rows the site would report and train on */
  ready: number;
  usable: boolean;
  lines: string[];
}

/** The job file as it would be POSTed to /api/jobs, defaults filled in; errors name the field. */
export function loadJobSpec(file: string): JobSpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new Error(`cannot read the job file ${file}: ${(err as Error).message}`);
  }
  const parsed = JobSpecSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
    throw new Error(`the job file ${file} is not a valid job: ${issues.join('; ')}`);
  }
  return parsed.data;
}

export async function checkData(source: DataSource, spec: JobSpec, mapping?: Mapping): Promise<CheckResult> {
  const lines = [`Checking ${describeSource(source)} against job "${spec.name}" (${spec.model}: ${spec.features.length} features, ${spec.target === undefined ? 'no target' : `target ${spec.target}`})`];
  const problem = (text: string): CheckResult => ({ ready: 0, usable: false, lines: [...lines, `Not usable: ${text}`, '0 rows ready'] });
  let loaded;
  try {
    loaded = await readLocalData(source, spec, mapping);
  } catch (err) {
    return problem((err as Error).message);
  }
  const { table, report } = loaded;
  lines.push(formatReport(report, 50));
  if (!report.ok) return { ready: 0, usable: false, lines: [...lines, '0 rows ready'] };
  const unconvertible = unconvertibleValues(report);
  if (unconvertible > 0) return problem(`${unconvertible} values cannot be converted (listed above by ${report.unit ?? 'line'} and column): the site would report DATA_UNCONVERTIBLE`);

  let statistics;
  try {
    statistics = computeStatistics(table, spec);
  } catch (err) {
    return problem((err as Error).message);
  }
  const withoutTarget = report.counts.rows - statistics.rows;
  if (withoutTarget > 0) lines.push(`Rows without a ${spec.target} value, left out: ${withoutTarget}`);
  for (const feature of statistics.features) {
    const present = feature.type === 'numeric' ? feature.count : feature.counts.reduce((sum, [, n]) => sum + n, 0);
    if (statistics.rows > 0 && present === 0) lines.push(`Column ${feature.name} has no values in the rows ready: all will take the job's default`);
  }
  if (statistics.target.type === 'categorical') {
    const classes = statistics.target.counts.length;
    lines.push(`Target ${spec.target}: ${classes} ${classes === 1 ? 'class' : 'classes'} here (${statistics.target.counts.map(([value, n]) => `${value} ${n}`).join(', ')})`);
    if (spec.model === 'logistic' && classes > 2) return problem(`a logistic job needs a target with 2 classes; ${spec.target} has ${classes} here`);
  }
  if (statistics.rows === 0) return problem(spec.target === undefined ? 'there is no row' : `no row has a ${spec.target} value`);
  return { ready: statistics.rows, usable: true, lines: [...lines, `${statistics.rows} rows ready`] };
}
