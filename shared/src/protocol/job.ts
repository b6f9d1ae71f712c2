/** A job: what to train, on which columns, with which training settings. */
import { z } from 'zod';
import { MODEL_KINDS, type ModelKind, type ModelShape } from '../model/model';
import { DEFAULT_STRATEGY, StrategySpecSchema } from '../strategy/spec';
import { cleanText } from './text';
import { addBrokenRule } from './rules';
import { secureAggregationRefusal, SUM_STRATEGIES } from '../secagg/compat';
import { secureStatisticsRefusals } from '../secagg/statistics-layout';
import { SecureAggregationSpecSchema, thresholdOf } from '../secagg/spec';
import { DpSpecSchema } from '../privacy/spec';

export const FEATURE_TYPES = ['numeric', 'categorical'] as const;
/** The most features a job may declare. */
const MAX_FEATURES = 100_000;
const name = cleanText(z.string().min(1).max(200));

/** The date format a date feature is read in where no mapping says otherwise (ISO 8601). */
export const DEFAULT_DATE_FORMAT = 'YYYY-MM-DD';

const bounds = z
  .tuple([z.number().finite(), z.number().finite()])
  .refine(([min, max]) => min < max, { message: 'bounds are [min, max] with min below max', params: { rule: 'boundsOrder' } });

/**
 * A numeric feature may say what its numbers are: a unit (`EUR`, `kg`), which a
 * site's mapping converts to, or `format: "date"`, a calendar date that becomes
 * the number of days since 1970-01-01; and the range of its values. A categorical
 * feature may declare its vocabulary.
 */
export const FeatureSchema = z.discriminatedUnion('type', [
  z.strictObject({
    name,
    type: z.literal('numeric'),
    /** the unit every site's values are in once its mapping has converted them; any text, e.g. EUR, kg, mmol/L */
    unit: cleanText(z.string().min(1).max(32)).optional(),
    /** date: written YYYY-MM-DD (or in the format a site's mapping gives), used as days since 1970-01-01 */
    format: z.literal('date').optional(),
    /** the values' range; a secure job's statistics are fixed-point within it, values outside are clipped into it */
    bounds: bounds.optional(),
  }),
  z.strictObject({
    name,
    type: z.literal('categorical'),
    /** the vocabulary, declared; values outside it are the unknown level */
    categories: z.array(z.string().min(1).max(1000)).max(100_000).optional(),
  }),
]);
export type Feature = z.infer<typeof FeatureSchema>;

export const JobSpecSchema = z
  .strictObject({
    name: cleanText(z.string().min(1).max(200)).default('job'),
    model: z.enum(MODEL_KINDS),
    features: z.array(FeatureSchema).min(1).max(MAX_FEATURES),
    /** the column to predict; every model has one but kmeans, which has none */
    target: name.optional(),
    /** logistic and a two-class svm: the target value that is the positive class; default the second in sorted order */
    positiveClass: z.string().max(200).optional(),
    /**
     * logistic, softmax and svm: the target's classes. Declared, they are the model's
     * outputs, and a site reporting any other class is left out of the job;
     * undeclared, they are the classes the sites report.
     */
    classes: z.array(z.string().min(1).max(200)).min(2).max(10_000).optional(),
    /** linear: the target's range, as a numeric feature's bounds */
    targetBounds: bounds.optional(),
    /** the most rows one site may report; a site claiming more is left out of the job */
    maxRowsPerParticipant: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).default(100_000_000),
    rounds: z.number().int().min(1).max(100_000).default(10),
    minParticipants: z.number().int().min(1).max(100_000).default(2),
    roundDeadlineSeconds: z.number().positive().max(86_400).default(60),
    /** once the minimum has replied, wait at most this long for the others; unset: until the deadline */
    waitAfterMinimumSeconds: z.number().min(0).max(86_400).optional(),
    localEpochs: z.number().int().min(1).max(1000).default(1),
    batchSize: z.number().int().min(1).max(1_000_000).default(32),
    learningRate: z.number().positive().max(100).default(0.1),
    l2: z.number().min(0).max(100).default(0),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(42),
    /** federated evaluation after every k-th round (and the last); 0 turns it off */
    evaluateEvery: z.number().int().min(0).max(100_000).default(1),
    /** share of each participant's rows held out from training to evaluate on; only when evaluateEvery > 0 */
    evaluationFraction: z.number().min(0.01).max(0.5).default(0.2),
    /** kmeans: the number of clusters */
    k: z.number().int().min(2).max(1000).optional(),
    /** how updates become the next global model: `{ name, ...params }` (shared/src/strategy/spec.ts); a kmeans job's is k-means */
    strategy: StrategySpecSchema.default(DEFAULT_STRATEGY),
    /** SecAgg+: the coordinator learns only the sum of the updates (docs/privacy.md) */
    secureAggregation: SecureAggregationSpecSchema.optional(),
    /** differential privacy: under secure aggregation each site clips its update and adds its share of Gaussian noise before masking; without it the coordinator clips and adds the noise to the sum (docs/privacy.md) */
    dp: DpSpecSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.features.forEach((f, i) => {
      if (seen.has(f.name)) addBrokenRule(ctx, { path: ['features', i, 'name'], rule: 'duplicateFeature', values: { feature: f.name }, message: `duplicate feature ${f.name}` });
      seen.add(f.name);
      if (f.name === spec.target) addBrokenRule(ctx, { path: ['features', i, 'name'], rule: 'targetIsFeature', message: 'the target cannot be a feature' });
      if (f.type === 'numeric' && f.unit !== undefined && f.format === 'date') {
        addBrokenRule(ctx, { path: ['features', i, 'unit'], rule: 'dateWithUnit', message: 'a date has no unit: it is a number of days' });
      }
      if (f.type === 'categorical' && f.categories && new Set(f.categories).size !== f.categories.length) {
        addBrokenRule(ctx, { path: ['features', i, 'categories'], rule: 'repeatedCategory', message: 'the categories must differ' });
      }
    });
    if (spec.targetBounds && spec.model !== 'linear') addBrokenRule(ctx, { path: ['targetBounds'], rule: 'targetBoundsNotLinear', message: 'targetBounds apply to a linear model\'s numeric target' });
    if (spec.secureAggregation) {
      // A kmeans job's strategy is k-means whatever it names; its first round needs each site's candidate centres.
      const refused = secureAggregationRefusal(spec.model === 'kmeans' ? 'kmeans' : spec.strategy.name);
      if (refused) addBrokenRule(ctx, { path: ['strategy', 'name'], ...refused });
      const { threshold, neighbours } = spec.secureAggregation;
      if (threshold !== undefined && threshold > neighbours) {
        addBrokenRule(ctx, {
          path: ['secureAggregation', 'threshold'],
          rule: 'thresholdAboveNeighbours',
          values: { threshold, neighbours },
          message: `the threshold ${threshold} is above the ${neighbours} neighbours`,
        });
      } else if (thresholdOf(spec.secureAggregation, neighbours + 1) >= neighbours) {
        // A party's secrets come back from t of its k neighbours: with t = k, one neighbour dropping fails the round.
        const t = thresholdOf(spec.secureAggregation, neighbours + 1);
        const message = `a threshold of ${t} with ${neighbours} neighbours leaves no room for a dropout: any party that drops fails the round; use a threshold below the neighbour count (at least 4 neighbours)`;
        addBrokenRule(ctx, { path: ['secureAggregation', threshold === undefined ? 'neighbours' : 'threshold'], rule: 'thresholdWithoutDropout', values: { threshold: t, neighbours }, message });
      } else if (threshold !== undefined && threshold > spec.minParticipants - 1) {
        // A round of n parties gives each at most n − 1 neighbours to hold its shares: a smaller round could never unmask.
        const message = `a threshold of ${threshold} needs at least ${threshold + 1} parties a round, each party's shares going to at most the n − 1 others; minParticipants is ${spec.minParticipants}: raise it to ${threshold + 1} or lower the threshold`;
        addBrokenRule(ctx, { path: ['secureAggregation', 'threshold'], rule: 'thresholdAboveRound', values: { threshold, parties: threshold + 1, minParticipants: spec.minParticipants }, message });
      }
      for (const refusal of secureStatisticsRefusals(spec)) addBrokenRule(ctx, refusal);
      if (spec.minParticipants < 3) {
        addBrokenRule(ctx, {
          path: ['minParticipants'],
          rule: 'secureTwoParticipants',
          message: 'secure aggregation needs at least 3 participants a round: with 2, each learns the other\'s update from the sum',
        });
      }
    }
    if (spec.dp) {
      // Without secure aggregation the coordinator adds the noise to the sum (central DP): the strategy must aggregate a sum.
      const named = spec.model === 'kmeans' ? 'kmeans' : spec.strategy.name;
      if (!spec.secureAggregation && !SUM_STRATEGIES.includes(named)) {
        const message = `central differential privacy adds its noise to the sum of the updates, which ${named} does not aggregate; use one of ${SUM_STRATEGIES.join(', ')}`;
        addBrokenRule(ctx, { path: ['strategy', 'name'], rule: 'centralDpStrategy', values: { strategy: named, strategies: SUM_STRATEGIES.join(', ') }, message });
      }
      if (!('weighting' in spec.strategy) || spec.strategy.weighting !== 'uniform') {
        addBrokenRule(ctx, {
          path: ['strategy', 'weighting'],
          rule: 'dpWeighting',
          message: "differential privacy needs weighting 'uniform': a sample-weighted update's sensitivity is not bounded by clipNorm",
        });
      }
    }
    if (spec.model === 'kmeans' && spec.target !== undefined) addBrokenRule(ctx, { path: ['target'], rule: 'kmeansTarget', message: 'a kmeans model has no target' });
    if (spec.model !== 'kmeans' && spec.target === undefined) {
      addBrokenRule(ctx, { path: ['target'], rule: 'modelWithoutTarget', values: { model: spec.model }, message: `a ${spec.model} model needs a target` });
    }
    if (spec.model === 'kmeans') {
      if (spec.k === undefined) addBrokenRule(ctx, { path: ['k'], rule: 'kmeansWithoutK', message: 'a kmeans model needs k, its number of clusters' });
      const named = spec.strategy.name;
      if (named !== 'fedavg' && !(named === 'kmeans' && spec.strategy.k === spec.k)) {
        addBrokenRule(ctx, { path: ['strategy'], rule: 'kmeansStrategy', message: 'a kmeans model aggregates with k-means, with the job\'s k' });
      }
    } else {
      if (spec.k !== undefined) addBrokenRule(ctx, { path: ['k'], rule: 'kWithoutKmeans', message: 'k applies to kmeans models only' });
      if (spec.strategy.name === 'kmeans') addBrokenRule(ctx, { path: ['strategy'], rule: 'kmeansStrategyWithoutKmeans', message: 'the k-means strategy aggregates kmeans models only' });
    }
    const { classes, positiveClass } = spec;
    if (classes) {
      if (spec.model === 'linear') addBrokenRule(ctx, { path: ['classes'], rule: 'linearClasses', message: 'a linear model has a numeric target, not classes' });
      if (spec.model === 'logistic' && classes.length !== 2) {
        addBrokenRule(ctx, { path: ['classes'], rule: 'logisticClasses', values: { count: classes.length }, message: `a logistic model has exactly 2 classes, not ${classes.length}` });
      }
      if (new Set(classes).size !== classes.length) addBrokenRule(ctx, { path: ['classes'], rule: 'repeatedClass', message: 'the classes must differ' });
      if (positiveClass !== undefined && !classes.includes(positiveClass)) {
        addBrokenRule(ctx, { path: ['positiveClass'], rule: 'positiveClassUnknown', values: { positiveClass }, message: `the positive class ${positiveClass} is not one of the classes` });
      }
    }
  });
export type JobSpec = z.infer<typeof JobSpecSchema>;
/** What a client sends: defaults may be left out. */
export type JobSpecInput = z.input<typeof JobSpecSchema>;

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const finite = z.number().finite();
const categoryCounts = z.array(z.tuple([z.string().max(1000), count])).max(100_000);

/**
 * What one participant reports in the statistics phase: sums and counts, never rows.
 * Feature entries follow the job's feature order.
 */
export const LocalStatisticsSchema = z.object({
  /** rows with a target value, the rows the participant will train on */
  rows: count,
  // As many as a job may declare: a longer list is refused before anything else is read of it.
  features: z
    .array(
      z.discriminatedUnion('type', [
        z.object({ name, type: z.literal('numeric'), count, sum: finite, sumSquares: finite, missing: count }),
        z.object({ name, type: z.literal('categorical'), counts: categoryCounts, missing: count }),
      ]),
    )
    .max(MAX_FEATURES),
  target: z.discriminatedUnion('type', [
    z.object({ type: z.literal('categorical'), counts: categoryCounts }),
    z.object({ type: z.literal('numeric'), count, sum: finite, sumSquares: finite }),
    /** a job without a target (kmeans): every row counts */
    z.object({ type: z.literal('none') }),
  ]),
});
export type LocalStatistics = z.infer<typeof LocalStatisticsSchema>;

/**
 * The global preprocessing every participant applies, built by the coordinator
 * from everyone's statistics: the same normalization and vocabularies at every site.
 * A categorical feature is one-hot over its vocabulary plus one unknown level.
 */
export const PreprocessingSchema = z.object({
  features: z.array(
    z.discriminatedUnion('type', [
      z.object({ name, type: z.literal('numeric'), mean: finite, std: finite }),
      z.object({ name, type: z.literal('categorical'), vocabulary: z.array(z.string()) }),
    ]),
  ),
  target: z.discriminatedUnion('type', [
    /** classes[1] is the positive class */
    z.object({ type: z.literal('binary'), classes: z.tuple([z.string(), z.string()]) }),
    z.object({ type: z.literal('classes'), classes: z.array(z.string()).min(2) }),
    z.object({ type: z.literal('numeric'), mean: finite, std: finite }),
    /** kmeans: no target */
    z.object({ type: z.literal('none') }),
  ]),
  /** width of the prepared feature vector */
  inputDim: z.number().int().min(1),
  /** rows reported across all participants */
  rows: count,
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

export const UNKNOWN_CATEGORY = '<unknown>';

/** The shape of a job's model once its preprocessing is known: softmax and a multiclass svm have one output per class, kmeans k centres. */
export function modelShapeOf(kind: ModelKind, preprocessing: Preprocessing, k?: number): ModelShape {
  if (kind === 'kmeans') {
    if (k === undefined) throw new Error('a kmeans model needs k');
    return { kind, inputDim: preprocessing.inputDim, outputDim: k };
  }
  const outputDim = preprocessing.target.type === 'classes' ? preprocessing.target.classes.length : 1;
  return { kind, inputDim: preprocessing.inputDim, outputDim };
}

/**
 * The job spec as JSON Schema (draft 2020-12), for a site's own tooling: what a
 * client may send, defaults left out. Cross-field rules (a kmeans job has no
 * target, a feature is not the target...) are the coordinator's to check.
 */
export function jobSpecJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(JobSpecSchema, { io: 'input', target: 'draft-2020-12' }),
    title: 'Federated learning job spec',
    description: 'What a job trains, on which columns, with which settings: the body of POST /api/jobs. Rules across fields are checked by the coordinator.',
  };
}
