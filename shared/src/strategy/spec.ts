/**
 * A job's aggregation strategy as its spec names it: `{ name, ...params }`, one
 * zod schema per strategy with its parameters and their defaults, joined in a
 * discriminated union on the name. Pure zod: the dashboard validates with it too.
 */
import { z } from 'zod';

/**
 * Norm bounding, common to every strategy: each update's difference from the
 * global model is scaled down to at most this L2 norm before it is aggregated.
 */
const clipNorm = z.number().positive().max(1e12).optional();
/** How an average weights each update: by its sample count (FedAvg's choice) or equally. */
const weighting = z.enum(['samples', 'uniform']).default('samples');
/** The server's step along the averaged update: 1 takes the average as it is. */
const serverLearningRate = (value: number) => z.number().positive().max(100).default(value);
const fraction = (value: number) => z.number().min(0).max(1).default(value);

export const STRATEGY_SCHEMAS = {
  /** McMahan et al. 2017: the weighted mean of the participants' models. */
  fedavg: z.strictObject({ name: z.literal('fedavg'), weighting, clipNorm }),
  /** FedAvg with server momentum (Hsu et al. 2019): m ← βm + Δ, x ← x + η·m. */
  fedavgm: z.strictObject({ name: z.literal('fedavgm'), weighting, clipNorm, serverLearningRate: serverLearningRate(1), momentum: fraction(0.9) }),
  /** Li et al. 2020: FedAvg, with a proximal term (μ/2)·‖w − w_global‖² added to every participant's local loss. */
  fedprox: z.strictObject({ name: z.literal('fedprox'), weighting, clipNorm, mu: z.number().min(0).max(100).default(0.01) }),
  /** Reddi et al. 2021, adaptive server optimisers on the averaged update Δ. */
  fedadam: z.strictObject({
    name: z.literal('fedadam'),
    weighting,
    clipNorm,
    serverLearningRate: serverLearningRate(0.1),
    beta1: fraction(0.9),
    beta2: fraction(0.99),
    tau: z.number().positive().max(1).default(1e-9),
  }),
  fedyogi: z.strictObject({
    name: z.literal('fedyogi'),
    weighting,
    clipNorm,
    serverLearningRate: serverLearningRate(0.01),
    beta1: fraction(0.9),
    beta2: fraction(0.99),
    tau: z.number().positive().max(1).default(1e-3),
  }),
  fedadagrad: z.strictObject({
    name: z.literal('fedadagrad'),
    weighting,
    clipNorm,
    serverLearningRate: serverLearningRate(0.1),
    tau: z.number().positive().max(1).default(1e-9),
  }),
  /** Karimireddy et al. 2020 (option II): control variates correct each site's drift. */
  scaffold: z.strictObject({ name: z.literal('scaffold'), weighting, clipNorm, serverLearningRate: serverLearningRate(1) }),
  /** Coordinate-wise median (Yin et al. 2018); unweighted, so that no claimed sample count steers it. */
  median: z.strictObject({ name: z.literal('median'), clipNorm }),
  /** Coordinate-wise mean after dropping the `beta` fraction of largest and of smallest values; unweighted. */
  'trimmed-mean': z.strictObject({ name: z.literal('trimmed-mean'), clipNorm, beta: z.number().min(0).lt(0.5).default(0.2) }),
  /**
   * Krum (Blanchard et al. 2017): the update closest to its n − f − 2 nearest
   * others, for at most f dishonest participants; multi-Krum averages the m best.
   */
  krum: z.strictObject({
    name: z.literal('krum'),
    weighting,
    clipNorm,
    f: z.number().int().min(0).max(100_000).default(0),
    m: z.number().int().min(1).max(100_000).default(1),
  }),
  /**
   * Federated k-means (model: 'kmeans'): an initialisation round reducing the sites'
   * candidate centres, then Lloyd rounds on summed per-cluster sums and counts
   * (shared/src/model/kmeans.ts). A job's model chooses it, with the job's k.
   */
  kmeans: z.strictObject({ name: z.literal('kmeans'), k: z.number().int().min(2).max(1000) }),
} as const;

export type StrategyName = keyof typeof STRATEGY_SCHEMAS;
export const STRATEGY_NAMES = Object.keys(STRATEGY_SCHEMAS) as StrategyName[];

export const StrategySpecSchema = z.discriminatedUnion('name', [
  STRATEGY_SCHEMAS.fedavg,
  STRATEGY_SCHEMAS.fedavgm,
  STRATEGY_SCHEMAS.fedprox,
  STRATEGY_SCHEMAS.fedadam,
  STRATEGY_SCHEMAS.fedyogi,
  STRATEGY_SCHEMAS.fedadagrad,
  STRATEGY_SCHEMAS.scaffold,
  STRATEGY_SCHEMAS.median,
  STRATEGY_SCHEMAS['trimmed-mean'],
  STRATEGY_SCHEMAS.krum,
  STRATEGY_SCHEMAS.kmeans,
]);
export type StrategySpec = z.infer<typeof StrategySpecSchema>;
export type StrategySpecInput = z.input<typeof StrategySpecSchema>;
export type StrategyOf<N extends StrategyName> = Extract<StrategySpec, { name: N }>;

/** How messages name each strategy's aggregate: "not the FedAvg of its contributors' updates". */
export const STRATEGY_TITLES: Record<StrategyName, string> = {
  fedavg: 'FedAvg',
  fedavgm: 'FedAvgM',
  fedprox: 'FedProx',
  fedadam: 'FedAdam',
  fedyogi: 'FedYogi',
  fedadagrad: 'FedAdagrad',
  scaffold: 'SCAFFOLD',
  median: 'coordinate-wise median',
  'trimmed-mean': 'trimmed mean',
  krum: 'Krum',
  kmeans: 'k-means',
};

/** What a job that names no strategy aggregates with, and what a log written before strategies were recorded means. */
export const DEFAULT_STRATEGY: StrategySpec = { name: 'fedavg', weighting: 'samples' };

/**
 * A job's strategy, defaults filled in; a job stored before the field existed is
 * FedAvg. A k-means job's model decides it: k-means with the job's k.
 */
export function strategyOf(spec: { strategy?: unknown; model?: unknown; k?: unknown }): StrategySpec {
  if (spec.model === 'kmeans') return StrategySpecSchema.parse({ name: 'kmeans', k: spec.k });
  return spec.strategy === undefined ? DEFAULT_STRATEGY : StrategySpecSchema.parse(spec.strategy);
}

/** A strategy as one line, its parameters in full: `krum:weighting=samples,f=1,m=1`; `fl-sim --strategy` reads it back. */
export function formatStrategy(spec: StrategySpec): string {
  const params = Object.entries(spec).filter(([key, value]) => key !== 'name' && value !== undefined);
  return params.length ? `${spec.name}:${params.map(([k, v]) => `${k}=${String(v)}`).join(',')}` : spec.name;
}
