/**
 * The simulator's JSON report, as a zod schema: what `fl-sim --json` writes and
 * what a reader of that file may rely on. Metric sets follow the model kind.
 */
import { z } from 'zod';
import { DpSpecSchema, FeatureSchema, MODEL_KINDS, SecureAggregationSpecSchema, StrategySpecSchema, type ModelKind } from '@fl/shared';

/** null where a metric is undefined on the split (AUC with a single class) or the model diverged. */
const metric = z.number().nullable();

export const BinaryMetricsSchema = z.strictObject({ accuracy: metric, auc: metric, logLoss: metric, f1: metric });
export const SoftmaxMetricsSchema = z.strictObject({ accuracy: metric, macroF1: metric, logLoss: metric });
export const LinearMetricsSchema = z.strictObject({ rmse: metric, mae: metric, r2: metric });
/** An svm scores margins, which have no log loss: binary with AUC on the margins, or one-vs-rest. */
export const SvmMetricsSchema = z.union([
  z.strictObject({ accuracy: metric, auc: metric, f1: metric }),
  z.strictObject({ accuracy: metric, macroF1: metric }),
]);
/**
 * k-means: the mean squared distance of a held-out row to its nearest centre in
 * the standardized feature space, and how many held-out rows each cluster holds.
 */
export const KMeansMetricsSchema = z.strictObject({ inertia: metric, clusterSizes: z.array(z.number().int().min(0)) });
export const TestMetricsSchema = z.union([BinaryMetricsSchema, SoftmaxMetricsSchema, LinearMetricsSchema, SvmMetricsSchema, KMeansMetricsSchema]);

export type BinaryMetrics = z.infer<typeof BinaryMetricsSchema>;
export type SoftmaxMetrics = z.infer<typeof SoftmaxMetricsSchema>;
export type LinearMetrics = z.infer<typeof LinearMetricsSchema>;
export type TestMetrics = z.infer<typeof TestMetricsSchema>;

const METRICS_OF: Record<ModelKind, z.ZodType> = {
  logistic: BinaryMetricsSchema,
  softmax: SoftmaxMetricsSchema,
  linear: LinearMetricsSchema,
  svm: SvmMetricsSchema,
  kmeans: KMeansMetricsSchema,
};

const count = z.number().int().min(0);
const positive = z.number().int().min(1);

export const SimConfigSchema = z.object({
  data: z.string(),
  /** absent for kmeans run without one */
  target: z.string().optional(),
  model: z.enum(MODEL_KINDS),
  /** kmeans: the number of clusters */
  k: z.number().int().min(2).optional(),
  /** logistic and a two-class svm: the class predicted as 1 */
  positiveClass: z.string().optional(),
  features: z.array(FeatureSchema),
  parties: positive,
  partition: z.string(),
  /** the job's strategy, its parameters in full */
  strategy: StrategySpecSchema,
  rounds: positive,
  localEpochs: positive,
  batchSize: positive,
  learningRate: z.number().positive(),
  l2: z.number().min(0),
  testFraction: z.number().gt(0).lt(1),
  seed: count,
  /** --attack and --attackers: what the first `attackers` parties did in every round */
  attack: z.object({ kind: z.string(), attackers: positive }).optional(),
  /** --secure-agg: the job's SecAgg+ options */
  secureAggregation: SecureAggregationSpecSchema.optional(),
  /** --drop-rate: each party's chance, in each attempt at a round, of dropping at a random step of it */
  dropRate: z.number().min(0).lt(1).optional(),
  /** --dp-noise, --dp-clip, --dp-delta, --dp-budget: the job's differential privacy */
  dp: DpSpecSchema.optional(),
  /** --data-dir: where the coordinator's store was kept */
  dataDir: z.string().optional(),
});
export type SimConfig = z.infer<typeof SimConfigSchema>;

const test = TestMetricsSchema;

export const SimReportSchema = z
  .object({
    config: SimConfigSchema,
    /** rows read, rows left out for a missing target, and the two splits */
    data: z.object({ rows: count, droppedMissingTarget: count, train: count, test: count }),
    /** with an attack: the attackers the coordinator left out of the job ("p1 IMPLAUSIBLE_SAMPLES"), and the updates it left out of rounds, by code */
    attack: z.object({ excludedFromJob: z.array(z.string()), updatesLeftOut: z.record(z.string(), count) }).optional(),
    partition: z.array(
      z.object({
        party: z.string(),
        rows: count,
        /** class counts of the party's rows; empty for a numeric target */
        labelCounts: z.record(z.string(), count),
        /** linear: the mean target of the party's rows, which a size or decile skew moves */
        targetMean: z.number().optional(),
        /** column partitions: the value the party holds; null for the rows where it is missing */
        value: z.string().nullable().optional(),
      }),
    ),
    rounds: z.array(
      z.object({
        round: positive,
        participants: count,
        /** the contributors' training loss, weighted by sample counts capped at their median (the coordinator's round metric); null when none was reported */
        trainLoss: metric,
        test,
        seconds: z.number().min(0),
        /** with --drop-rate: the parties whose update (a masked input, under secure aggregation) is in the round's model */
        contributors: z.array(z.string()).optional(),
        /** with --drop-rate: the attempts the round took, and the parties that dropped out of any of them */
        attempts: positive.optional(),
        dropped: z.array(z.string()).optional(),
        /** with differential privacy: ε spent after this round, for the job's δ */
        privacy: z.object({ epsilon: z.number().min(0) }).optional(),
      }),
    ),
    /** privacy: with differential privacy, ε spent by the whole job and its δ */
    final: z.object({ test, privacy: z.object({ epsilon: z.number().min(0), delta: z.number().positive() }).optional() }),
    centralized: z.object({
      test,
      /** rounds × local epochs */
      epochs: positive,
      /** after each block of local epochs, for the curve beside the federated one */
      rounds: z.array(z.object({ round: positive, test })),
    }),
  })
  .superRefine((report, ctx) => {
    // Every metric set must be the one of the report's model kind.
    const expected = METRICS_OF[report.config.model];
    const sets: [PropertyKey[], unknown][] = [
      [['final', 'test'], report.final.test],
      [['centralized', 'test'], report.centralized.test],
      ...report.rounds.map((r, i): [PropertyKey[], unknown] => [['rounds', i, 'test'], r.test]),
      ...report.centralized.rounds.map((r, i): [PropertyKey[], unknown] => [['centralized', 'rounds', i, 'test'], r.test]),
    ];
    for (const [path, value] of sets) {
      if (!expected.safeParse(value).success) {
        ctx.addIssue({ code: 'custom', path, message: `not the metrics of a ${report.config.model} model` });
      }
    }
  });
export type SimReport = z.infer<typeof SimReportSchema>;
export type RoundResult = SimReport['rounds'][number];
export type PartyResult = SimReport['partition'][number];
