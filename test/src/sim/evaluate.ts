/**
 * Scores one parameter vector on prepared held-out rows: the metric set the
 * simulator reports for the model kind, regression errors in the target's own units.
 */
import {
  auc,
  binaryAccuracy,
  binaryF1,
  binaryLogLoss,
  inertiaPerRow,
  nearestCentre,
  macroF1,
  meanAbsoluteError,
  multiclassAccuracy,
  multiclassLogLoss,
  predict,
  rootMeanSquaredError,
  rSquared,
  type ModelKind,
  type ModelShape,
  type Preprocessing,
} from '@fl/shared';
import type { PreparedData } from '@fl/participant-agent';
import type { TestMetrics } from './report';

/** JSON has no NaN: an undefined metric (AUC of one class, a diverged model) is null. */
const finite = (value: number) => (Number.isFinite(value) ? value : null);

/** From the agents' standardized target back to the original units. */
function destandardize(values: Float32Array, target: Preprocessing['target']): Float64Array {
  const { mean, std } = target.type === 'numeric' ? target : { mean: 0, std: 1 };
  return Float64Array.from(values, (v) => v * std + mean);
}

export function testMetrics(
  shape: ModelShape,
  params: Float32Array,
  data: Pick<PreparedData, 'x' | 'y' | 'n'>,
  target: Preprocessing['target'],
): TestMetrics {
  const p = predict(shape, params, data.x, data.n);
  const { y } = data;
  switch (shape.kind) {
    case 'logistic':
      return { accuracy: finite(binaryAccuracy(p, y)), auc: finite(auc(p, y)), logLoss: finite(binaryLogLoss(p, y)), f1: finite(binaryF1(p, y)) };
    case 'kmeans': {
      const k = shape.outputDim;
      const clusterSizes = new Array<number>(k).fill(0);
      for (let r = 0; r < data.n; r++) clusterSizes[nearestCentre(params, k, shape.inputDim, data.x, r).cluster]++;
      return { inertia: finite(inertiaPerRow(params, k, data.x, data.n, shape.inputDim)), clusterSizes };
    }
    case 'svm': {
      // Margins, not probabilities: a class at margin >= 0 (binary), or the largest margin; AUC ranks the margins.
      const k = shape.outputDim;
      if (k === 1) return { accuracy: finite(binaryAccuracy(p, y, 0)), auc: finite(auc(p, y)), f1: finite(binaryF1(p, y, 0)) };
      return { accuracy: finite(multiclassAccuracy(p, y, k)), macroF1: finite(macroF1(p, y, k)) };
    }
    case 'softmax': {
      const k = shape.outputDim;
      return { accuracy: finite(multiclassAccuracy(p, y, k)), macroF1: finite(macroF1(p, y, k)), logLoss: finite(multiclassLogLoss(p, y, k)) };
    }
    case 'linear': {
      const predicted = destandardize(p, target);
      const actual = destandardize(y, target);
      return {
        rmse: finite(rootMeanSquaredError(predicted, actual)),
        mae: finite(meanAbsoluteError(predicted, actual)),
        r2: finite(rSquared(predicted, actual)),
      };
    }
  }
}

/** The metric that progress lines and the chart follow: accuracy for classifiers, R² for regression, inertia for k-means. */
export function headlineName(kind: ModelKind): 'accuracy' | 'r2' | 'inertia' {
  return kind === 'linear' ? 'r2' : kind === 'kmeans' ? 'inertia' : 'accuracy';
}

export function headline(metrics: TestMetrics): number | null {
  return 'r2' in metrics ? metrics.r2 : 'inertia' in metrics ? metrics.inertia : metrics.accuracy;
}
