import {
  binaryAccuracy,
  binaryLogLoss,
  logits,
  meanSquaredError,
  multiclassAccuracy,
  multiclassLogLoss,
  parameterCount,
  predict,
  rSquared,
} from '.';

describe('model maths', () => {
  it('counts weights then bias', () => {
    expect(parameterCount({ kind: 'softmax', inputDim: 4, outputDim: 3 })).toBe(15);
    expect(parameterCount({ kind: 'logistic', inputDim: 4, outputDim: 1 })).toBe(5);
  });

  it('predicts a linear model: y = 2*x0 - x1 + 0.5', () => {
    const shape = { kind: 'linear' as const, inputDim: 2, outputDim: 1 };
    const out = predict(shape, new Float32Array([2, -1, 0.5]), new Float32Array([1, 1, 3, 0]), 2);
    expect(Array.from(out)).toEqual([1.5, 6.5]);
  });

  it('predicts a logistic model as a probability', () => {
    const shape = { kind: 'logistic' as const, inputDim: 1, outputDim: 1 };
    const out = predict(shape, new Float32Array([1, 0]), new Float32Array([0, Math.log(3)]), 2);
    expect(out[0]).toBeCloseTo(0.5);
    expect(out[1]).toBeCloseTo(0.75);
  });

  it('predicts softmax probabilities that sum to one', () => {
    const shape = { kind: 'softmax' as const, inputDim: 1, outputDim: 2 };
    // z = [x*0 + 0, x*ln2 + 0] for x = 1 -> probabilities 1/3, 2/3
    const out = predict(shape, new Float32Array([0, Math.log(2), 0, 0]), new Float32Array([1]), 1);
    expect(out[0]).toBeCloseTo(1 / 3);
    expect(out[1]).toBeCloseTo(2 / 3);
  });

  it('predicts an svm\'s margins, one per class one-vs-rest', () => {
    // z = [x - 1, -x + 1]
    const shape = { kind: 'svm' as const, inputDim: 1, outputDim: 2 };
    const out = predict(shape, new Float32Array([1, -1, -1, 1]), new Float32Array([3, 0]), 2);
    expect(Array.from(out)).toEqual([2, -2, -1, 1]);
  });

  it('predicts a k-means model as squared distances to its centres, the cluster weights unread', () => {
    const shape = { kind: 'kmeans' as const, inputDim: 2, outputDim: 2 };
    const out = predict(shape, new Float32Array([0, 0, 3, 4, 0.5, 0.5]), new Float32Array([3, 0]), 1);
    expect(Array.from(out)).toEqual([9, 16]);
  });
});

describe('metrics', () => {
  it('binary accuracy and log loss', () => {
    expect(binaryAccuracy([0.9, 0.2, 0.6, 0.4], [1, 0, 0, 0])).toBe(0.75);
    expect(binaryLogLoss([0.5, 0.5], [1, 0])).toBeCloseTo(Math.log(2));
  });

  it('multiclass accuracy and log loss', () => {
    const p = [0.7, 0.2, 0.1, 0.1, 0.1, 0.8];
    expect(multiclassAccuracy(p, [0, 1], 3)).toBe(0.5);
    expect(multiclassLogLoss(p, [0, 2], 3)).toBeCloseTo(-(Math.log(0.7) + Math.log(0.8)) / 2);
  });

  it('mean squared error and R²', () => {
    expect(meanSquaredError([1, 2], [1, 4])).toBe(2);
    // targets 1,2,3 (mean 2, total 2); predictions off by 0,1,0 -> 1 - 1/2
    expect(rSquared([1, 3, 3], [1, 2, 3])).toBeCloseTo(0.5);
  });
});

describe('logits', () => {
  it('is Wᵀx + b with the parameters in the shared layout, W row-major then b', () => {
    // Prepare: d = 2, k = 3; W = [[1, 2, 3], [4, 5, 6]], b = [0.5, -0.5, 1]; row 1 of x is (2, -1).
    const theta = Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5, 1);
    const x = Float32Array.of(9, 9, 2, -1);
    const z = new Float64Array(3);
    const one = new Float64Array(1);

    // Execute
    logits(theta, x, 1, 2, 3, z);
    logits(Float32Array.of(3, -1, 0.25), x, 1, 2, 1, one);

    // Assert: 2·(1, 2, 3) − (4, 5, 6) + b; 2·3 + 1 + 0.25
    expect(Array.from(z)).toEqual([-1.5, -1.5, 1]);
    expect(one[0]).toBe(7.25);
  });
});
