/**
 * The simulator's `--strategy NAME[:key=value,...]` and `--secure-agg
 * [key=value,...]`: a job's strategy, or its secure-aggregation options, written
 * on one line, e.g. `fedprox:mu=0.01`, `krum:f=1,m=3`, `neighbours=4,threshold=3`,
 * validated by the job spec's own schemas.
 */
import { SecureAggregationSpecSchema, STRATEGY_NAMES, StrategySpecSchema, type SecureAggregationSpec, type StrategySpec } from '@fl/shared';
import { parseNumber } from '@fl/participant-agent';
import type { z } from 'zod';

/** `key=value,...` as an object, numbers as numbers; throws an Error naming a malformed or repeated pair. */
function parseParams(text: string, params: Record<string, unknown>): Record<string, unknown> {
  for (const pair of text.split(',')) {
    const [key, value, ...rest] = pair.split('=').map((s) => s.trim());
    if (!key || value === undefined || value === '' || rest.length > 0) throw new Error(`"${pair}" is not key=value`);
    if (key in params) throw new Error(`${key} is given twice`);
    // A value that is no plain decimal number stays text, which the schema refuses where it wants a number.
    params[key] = parseNumber(value) ?? value;
  }
  return params;
}

/** The first issue of a failed parse, as one line. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '');
  return `${where ? `${where}: ` : ''}${issue.message}`;
}

/** Reads a strategy; throws an Error saying what is wrong. */
export function parseStrategy(text: string): StrategySpec {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  // k-means is no choice of strategy: --model kmeans brings it.
  const names = STRATEGY_NAMES.filter((n) => n !== 'kmeans');
  if (name === 'kmeans') throw new Error('k-means aggregates kmeans models only, and --model kmeans --k K chooses it');
  if (!(names as string[]).includes(name)) throw new Error(`unknown strategy "${name}"; use one of ${names.join(', ')}`);
  const params = colon >= 0 ? parseParams(text.slice(colon + 1), { name }) : { name };
  const parsed = StrategySpecSchema.safeParse(params);
  if (parsed.success) return parsed.data;
  throw new Error(`${name}: ${firstIssue(parsed.error)}`);
}

/** Reads secure-aggregation options (empty text: the defaults); throws an Error saying what is wrong. */
export function parseSecureAggregation(text: string): SecureAggregationSpec {
  const parsed = SecureAggregationSpecSchema.safeParse(text.trim() === '' ? {} : parseParams(text, {}));
  if (parsed.success) return parsed.data;
  throw new Error(firstIssue(parsed.error));
}
