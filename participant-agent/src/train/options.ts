/** The contract of local training (sgd.ts): options and result, their validation, and the seeded shuffle. */
import { parameterCount, type ModelShape } from '@fl/shared';

export interface TrainOptions {
  shape: ModelShape;
  /** The global model in the shared layout; it is read, never mutated. */
  params: Float32Array;
  /** n x inputDim features, row-major. */
  x: Float32Array;
  /** logistic and two-class svm: 0/1 labels; softmax and multiclass svm: the class index; linear: the target; kmeans: unread. */
  y: Float32Array;
  n: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 penalty (l2/2)·||W||² on the weights; the bias is not penalised. */
  l2: number;
  /** Seeds the per-epoch shuffle, so the same data and seed give the same model. */
  seed: number;
  /** FedProx: μ of the proximal term (μ/2)·‖θ − θ_global‖² added to the loss, bias included; 0 or absent: none. */
  proximalMu?: number;
  /** SCAFFOLD: the correction c − c_i added to every step's gradient, in the shared layout; absent: none. */
  correction?: Float32Array;
  /** kmeans: the job's rows across all sites (the preprocessing's), which an update's sums and counts are divided by. */
  jobRows?: number;
  /** The fewest rows a gradient step may average (the site's policy's minBatchSize): an epoch's last rows, fewer, join the batch before. */
  minBatchSize?: number;
  /** kmeans: the fewest of the site's rows a cluster may hold to be sent (the site's policy's minClusterRows); fewer, it is sent as zero (shared's suppressedClusters). */
  minClusterRows?: number;
}

export interface TrainResult {
  /** The locally trained model, in the same layout as the input. */
  params: Float32Array;
  /**
   * Mean training loss over the last epoch's samples, each batch measured just
   * before its own update (as Keras reports it): binary cross-entropy, softmax
   * cross-entropy, or half the mean squared error. The L2 term is left out so
   * the figure compares with evaluateLocal and across different l2 settings.
   */
  loss: number;
  /**
   * logistic and softmax: the fraction of the last epoch's samples classified
   * right, each batch measured just before its own update as the loss is, a row
   * being right as shared's binaryAccuracy and multiclassAccuracy decide. Like the
   * loss, it is not quite the returned model's: the model moves during the epoch.
   * Absent for linear models and when there are no samples.
   */
  accuracy?: number;
  /** n; with no samples nothing is trained and loss is 0. */
  samples: number;
  /** Gradient steps taken: epochs x ceil(n / batchSize), fewer when the last rows of an epoch join the batch before (minBatchSize). */
  steps: number;
  /** kmeans: the clusters sent as zero under minClusterRows, and the site's rows they hold. */
  suppressed?: { clusters: number; rows: number };
}

/** Fisher–Yates, driven by the seeded generator. */
export function shuffle(order: Uint32Array, random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

export function validate(o: TrainOptions): void {
  const { shape, n } = o;
  const isCount = (v: number) => Number.isInteger(v) && v >= 0;
  if (!isCount(shape.inputDim) || !isCount(shape.outputDim) || shape.outputDim < 1) throw new Error('invalid model shape');
  if (shape.kind === 'kmeans' && !(o.jobRows !== undefined && Number.isSafeInteger(o.jobRows) && o.jobRows >= 0)) throw new Error('a kmeans model needs the job\'s row count');
  if (shape.kind !== 'softmax' && shape.kind !== 'svm' && shape.kind !== 'kmeans' && shape.outputDim !== 1) throw new Error(`a ${shape.kind} model has outputDim 1`);
  if (shape.kind === 'svm' && shape.outputDim === 2) throw new Error('a two-class svm has one margin, outputDim 1');
  if (o.params.length !== parameterCount(shape)) throw new Error('parameters do not match the model shape');
  if (!isCount(n)) throw new Error('n must be a non-negative integer');
  if (o.x.length !== n * shape.inputDim) throw new Error('features do not match n x inputDim');
  if (o.y.length !== n) throw new Error('targets do not match n');
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new Error('epochs must be a positive integer');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error('batchSize must be a positive integer');
  if (o.minBatchSize !== undefined && (!Number.isInteger(o.minBatchSize) || o.minBatchSize < 1)) throw new Error('minBatchSize must be a positive integer');
  if (o.minClusterRows !== undefined && (!Number.isInteger(o.minClusterRows) || o.minClusterRows < 1)) throw new Error('minClusterRows must be a positive integer');
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate)) throw new Error('learningRate must be positive');
  if (!(o.l2 >= 0) || !Number.isFinite(o.l2)) throw new Error('l2 must be non-negative');
  if (!Number.isFinite(o.seed)) throw new Error('seed must be a finite number');
  if (o.proximalMu !== undefined && !(o.proximalMu >= 0 && Number.isFinite(o.proximalMu))) throw new Error('proximalMu must be non-negative');
  if (o.correction !== undefined && o.correction.length !== o.params.length) throw new Error('the correction does not match the model shape');
  // Bad labels would otherwise train silently on garbage (a one-hot out of range is all zeros); k-means reads none.
  for (let i = 0; i < (shape.kind === 'kmeans' ? 0 : n); i++) {
    const label = o.y[i];
    const ok =
      shape.kind === 'logistic' || (shape.kind === 'svm' && shape.outputDim === 1)
        ? label === 0 || label === 1
        : shape.kind === 'softmax' || shape.kind === 'svm'
          ? Number.isInteger(label) && label >= 0 && label < shape.outputDim
          : Number.isFinite(label);
    if (!ok) throw new Error(`invalid ${shape.kind} target ${label} at row ${i}`);
  }
}
