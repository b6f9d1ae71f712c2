/**
 * The simulator's `--strategy NAME[:key=value,...]`: a job's strategy written on
 * one line, e.g. `fedprox:mu=0.01`, `krum:f=1,m=3`, `fedavg:clipNorm=5`,
 * validated by the job spec's own schema.
 */
import { STRATEGY_NAMES, StrategySpecSchema, type StrategySpec } from '@fl/shared';

/** Reads a strategy; throws an Error saying what is wrong. */
export function parseStrategy(text: string): StrategySpec {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  // k-means is no choice of strategy: --model kmeans brings it.
  const names = STRATEGY_NAMES.filter((n) => n !== 'kmeans');
  if (name === 'kmeans') throw new Error('k-means aggregates kmeans models only, and --model kmeans --k K chooses it');
  if (!(names as string[]).includes(name)) throw new Error(`unknown strategy "${name}"; use one of ${names.join(', ')}`);
  const params: Record<string, unknown> = { name };
  if (colon >= 0) {
    for (const pair of text.slice(colon + 1).split(',')) {
      const [key, value, ...rest] = pair.split('=').map((s) => s.trim());
      if (!key || value === undefined || value === '' || rest.length > 0) throw new Error(`"${pair}" is not key=value`);
      if (key in params) throw new Error(`${key} is given twice`);
      params[key] = value !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
    }
  }
  const parsed = StrategySpecSchema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '');
  throw new Error(`${name}: ${where ? `${where}: ` : ''}${issue.message}`);
}

