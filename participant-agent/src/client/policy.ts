/**
 * The site's own policy (`fl-agent run --policy policy.json`): which jobs this
 * site takes part in. A job outside it is declined with a signed reason code
 * before any statistic of the data leaves the site; the column names the policy
 * gives are the job's (after any --map).
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { expectedWords, mostEpsilon, MODEL_KINDS, type JobSpec, type SiteFailureCode } from '@fl/shared';

const columns = z.array(z.string().min(1)).max(100_000);
const columnRule = z
  .strictObject({
    /** when given, only these columns may be used */
    allowed: columns.optional(),
    /** never these */
    forbidden: columns.optional(),
  })
  .optional();

export const SitePolicySchema = z.strictObject({
  features: columnRule,
  target: columnRule,
  /** model kinds allowed (default: all) */
  models: z.array(z.enum(MODEL_KINDS)).min(1).optional(),
  /** aggregation strategies allowed by name (default: all) */
  strategies: z.array(z.string().min(1)).min(1).optional(),
  /** the most rounds a job may have */
  maxRounds: z.number().int().min(1).optional(),
  /** the fewest participants a round may commit with, this site included: its update is never averaged with fewer than minParticipants - 1 others */
  minParticipants: z.number().int().min(1).optional(),
  /** decline jobs without secure aggregation (the coordinator would see this site's updates) */
  requireSecureAggregation: z.boolean().default(false),
  /** decline jobs without differential privacy (`dp` in the job spec) */
  requireDifferentialPrivacy: z.boolean().default(false),
  /** decline jobs that may spend more than this ε at their δ: the least of the job's ε budget and its ε after all its rounds; implies requireDifferentialPrivacy */
  maxEpsilon: z.number().positive().optional(),
  /** decline jobs whose δ is above this; implies requireDifferentialPrivacy */
  maxDelta: z.number().positive().max(1).optional(),
  /**
   * decline a job that would take the sum of the most ε of every DP job this site trained, of any coordinator, and
   * its own above this (basic composition, each job's most ε as maxEpsilon's), when it is accepted and again at its
   * first training input; implies requireDifferentialPrivacy
   */
  maxEpsilonTotal: z.number().positive().optional(),
  /** likewise for the sum of their δs; implies requireDifferentialPrivacy */
  maxDeltaTotal: z.number().positive().max(1).optional(),
  /** the least batch size a job may train on this site's rows with (models trained by gradient steps: all but kmeans) */
  minBatchSize: z.number().int().min(1).optional(),
  /** the most local epochs a job may train for a round (likewise) */
  maxEpochs: z.number().int().min(1).optional(),
  /** the largest learning rate a job may train with (likewise) */
  maxLearningRate: z.number().positive().optional(),
  /** kmeans: a cluster holding fewer of this site's rows in a round is sent as zero sum and count (small-cell suppression); declines no job */
  minClusterRows: z.number().int().min(1).optional(),
});
export type SitePolicy = z.infer<typeof SitePolicySchema>;

/** The privacy loss of jobs by basic composition: the sums of their most ε and of their δs, and how many DP jobs were summed. */
export interface PrivacyLoss {
  epsilon: number;
  delta: number;
  jobs: number;
}

/** Why a job is outside the policy: the code and counts sent, and the full reason kept in the site's log. */
export interface Decline {
  code: SiteFailureCode;
  counts: Record<string, number>;
  reason: string;
}

/** Reads and checks a policy file; every problem is named by its place in the file. */
export function loadPolicy(file: string): SitePolicy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the policy file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`the policy file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = SitePolicySchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'the policy'}: ${expectedWords(i, valueAt(json, i.path))}`);
    throw new Error(`the policy file ${file} is not a valid policy:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

/** The value at a path of parsed JSON, to name it in an error. */
function valueAt(json: unknown, at: readonly PropertyKey[]): unknown {
  let value = json;
  for (const key of at) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

/** The job's strategy by name; jobs without one are FedAvg, a kmeans job's is k-means. */
export function strategyOf(spec: JobSpec): string {
  if (spec.model === 'kmeans') return 'kmeans';
  const strategy = (spec as JobSpec & { strategy?: { name?: unknown } }).strategy;
  return typeof strategy?.name === 'string' ? strategy.name : 'fedavg';
}

function outside(rule: NonNullable<SitePolicy['features']> | undefined, names: string[]): string[] {
  if (!rule) return [];
  const forbidden = new Set(rule.forbidden ?? []);
  const allowed = rule.allowed && new Set(rule.allowed);
  return names.filter((n) => forbidden.has(n) || (allowed !== undefined && !allowed.has(n)));
}

/**
 * Null when the job is within the policy; else the first reason it is not. `accepted`: the privacy loss of the jobs
 * this site charged, asked only when a total is checked (it may throw: the journal cannot be read); null for a job
 * this site accepted already, which its first training input checks against the totals (totalsDecline).
 */
export function checkPolicy(policy: SitePolicy, spec: JobSpec, accepted?: () => PrivacyLoss | null): Decline | null {
  if (policy.models && !policy.models.includes(spec.model)) {
    return { code: 'POLICY_MODEL', counts: {}, reason: `the model ${spec.model} is not among the allowed ${policy.models.join(', ')}` };
  }
  const strategy = strategyOf(spec);
  if (policy.strategies && !policy.strategies.includes(strategy)) {
    return { code: 'POLICY_STRATEGY', counts: {}, reason: `the strategy ${strategy} is not among the allowed ${policy.strategies.join(', ')}` };
  }
  const features = outside(policy.features, spec.features.map((f) => f.name));
  const target = outside(policy.target, spec.target === undefined ? [] : [spec.target]);
  if (features.length || target.length) {
    const named = [...features.map((f) => `feature ${f}`), ...target.map((t) => `target ${t}`)].join(', ');
    return { code: 'POLICY_COLUMN', counts: { columns: features.length + target.length }, reason: `columns not allowed: ${named}` };
  }
  if (policy.maxRounds !== undefined && spec.rounds > policy.maxRounds) {
    return { code: 'POLICY_ROUNDS', counts: { rounds: spec.rounds }, reason: `${spec.rounds} rounds, over the allowed ${policy.maxRounds}` };
  }
  if (policy.minParticipants !== undefined && spec.minParticipants < policy.minParticipants) {
    return {
      code: 'POLICY_MIN_PARTICIPANTS',
      counts: { minParticipants: spec.minParticipants },
      reason: `rounds may commit with ${spec.minParticipants} participants, fewer than the ${policy.minParticipants} required`,
    };
  }
  if (policy.requireSecureAggregation && !spec.secureAggregation) return { code: 'POLICY_SECURE_AGGREGATION', counts: {}, reason: 'the job does not use secure aggregation' };
  return trainingDecline(policy, spec) ?? privacyDecline(policy, spec, accepted);
}

/** The bounds on how a job trains on this site's rows: a kmeans job takes one step of Lloyd's a round, with none of them. */
function trainingDecline(policy: SitePolicy, spec: JobSpec): Decline | null {
  if (spec.model === 'kmeans') return null;
  const counts: Record<string, number> = {};
  const outside: string[] = [];
  if (policy.minBatchSize !== undefined && spec.batchSize < policy.minBatchSize) {
    counts.batchSize = spec.batchSize;
    outside.push(`batch size ${spec.batchSize}, below the allowed ${policy.minBatchSize}`);
  }
  if (policy.maxEpochs !== undefined && spec.localEpochs > policy.maxEpochs) {
    counts.localEpochs = spec.localEpochs;
    outside.push(`${spec.localEpochs} local epochs, over the allowed ${policy.maxEpochs}`);
  }
  // A learning rate is no count: it is in the reason alone.
  if (policy.maxLearningRate !== undefined && spec.learningRate > policy.maxLearningRate) outside.push(`learning rate ${spec.learningRate}, over the allowed ${policy.maxLearningRate}`);
  return outside.length ? { code: 'POLICY_TRAINING', counts, reason: outside.join('; ') } : null;
}

/** The differential-privacy rules: a job whose privacy loss the site does not accept is declined before any statistic leaves. */
function privacyDecline(policy: SitePolicy, spec: JobSpec, accepted: (() => PrivacyLoss | null) | undefined): Decline | null {
  const totals = policy.maxEpsilonTotal !== undefined || policy.maxDeltaTotal !== undefined;
  const required = policy.requireDifferentialPrivacy || policy.maxEpsilon !== undefined || policy.maxDelta !== undefined || totals;
  if (!required) return null;
  const decline = (reason: string): Decline => ({ code: 'POLICY_DIFFERENTIAL_PRIVACY', counts: {}, reason });
  const { dp } = spec;
  if (!dp) return decline('the job does not use differential privacy');
  if (policy.maxDelta !== undefined && dp.delta > policy.maxDelta) return decline(`its δ ${dp.delta} is above the allowed ${policy.maxDelta}`);
  const most = mostEpsilon(dp, spec.rounds);
  if (policy.maxEpsilon !== undefined && most > policy.maxEpsilon) {
    return decline(`it may spend ε ${most.toFixed(3)} at δ ${dp.delta}, over the allowed ${policy.maxEpsilon}`);
  }
  return accepted ? totalsDecline(policy, spec, accepted) : null;
}

/**
 * Null when the DP job keeps the site's totals, with the jobs it charged (`charged`, asked only when a total is
 * checked; it may throw: the journal cannot be read; null: none to check); else why not. A job without dp counts nothing.
 */
export function totalsDecline(policy: SitePolicy, spec: JobSpec, charged: () => PrivacyLoss | null): Decline | null {
  const { dp } = spec;
  if (!dp || (policy.maxEpsilonTotal === undefined && policy.maxDeltaTotal === undefined)) return null;
  const decline = (reason: string): Decline => ({ code: 'POLICY_DIFFERENTIAL_PRIVACY', counts: {}, reason });
  let before: PrivacyLoss | null;
  try {
    before = charged();
  } catch (err) {
    return decline(`the ε this site's jobs may spend is unknown: ${(err as Error).message}`);
  }
  if (!before) return null;
  const most = mostEpsilon(dp, spec.rounds);
  const { jobs } = before;
  const earlier = (spent: string) => (jobs === 0 ? 'no DP job trained before' : `${jobs === 1 ? 'the DP job' : `the ${jobs} DP jobs`} it trained before: ${spent}`);
  if (policy.maxEpsilonTotal !== undefined && over(before.epsilon + most, policy.maxEpsilonTotal)) {
    return decline(
      `it may spend ε ${most.toFixed(3)} at δ ${dp.delta}, which would take the ε of this site's jobs to ${(before.epsilon + most).toFixed(3)}, ` +
        `over the allowed total ${policy.maxEpsilonTotal} (${earlier(`ε ${before.epsilon.toFixed(3)}`)})`,
    );
  }
  if (policy.maxDeltaTotal !== undefined && over(before.delta + dp.delta, policy.maxDeltaTotal)) {
    return decline(
      `its δ ${dp.delta} would take the δ of this site's jobs to ${shown(before.delta + dp.delta)}, over the allowed total ${policy.maxDeltaTotal} (${earlier(`δ ${shown(before.delta)}`)})`,
    );
  }
  return null;
}

/** A sum of decimal fractions is off in its last bits (3 × 0.00001 is above 0.00003): one equal to the allowed is within it. */
const over = (sum: number, allowed: number): boolean => sum > allowed * (1 + 1e-9);

/** A sum as its terms were written, without the bits its additions got wrong. */
const shown = (sum: number): number => Number(sum.toPrecision(9));

/** What the site agreed to, for its log. */
export function describeAccepted(spec: JobSpec): string {
  return (
    `${spec.model} model, strategy ${strategyOf(spec)}, ${spec.rounds} rounds, at least ${spec.minParticipants} participants a round, ` +
    `target ${spec.target}, features ${spec.features.map((f) => f.name).join(', ')}`
  );
}
