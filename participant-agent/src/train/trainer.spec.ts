import {
  ModelShape,
  binaryAccuracy,
  binaryLogLoss,
  initialParameters,
  meanSquaredError,
  multiclassAccuracy,
  multiclassLogLoss,
  predict,
} from '@fl/shared';
import { sgd } from './sgd';
import { TrainOptions, evaluateLocal, trainLocal } from './trainer';

/** Seeded data for the tests, so a failure reproduces. */
function generator(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

const TINY_X = Float32Array.from([1, 2, 3, -1]);

function options(overrides: Partial<TrainOptions> & Pick<TrainOptions, 'shape' | 'params' | 'x' | 'y' | 'n'>): TrainOptions {
  return { epochs: 1, batchSize: 32, learningRate: 0.1, l2: 0, seed: 7, ...overrides };
}

function expectClose(actual: ArrayLike<number>, expected: number[], digits = 5) {
  expect(actual.length).toBe(expected.length);
  expected.forEach((value, i) => expect(actual[i]).toBeCloseTo(value, digits));
}

/** Linearly separable 0/1 labels from a fixed rule with a margin. */
function separableLogistic(n: number, d: number, seed: number) {
  const { uniform } = generator(seed);
  const truth = Array.from({ length: d }, (_, j) => (j % 2 ? -1 : 1) * (1 + j / d));
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0.3;
    do {
      z = 0.3;
      for (let j = 0; j < d; j++) {
        x[i * d + j] = uniform() * 2 - 1;
        z += x[i * d + j] * truth[j];
      }
    } while (Math.abs(z) < 0.1);
    y[i] = z > 0 ? 1 : 0;
  }
  return { x, y };
}

/** Three well-separated Gaussian blobs in 2-d, the class of row i being i % 3. */
function threeBlobs(n: number, seed: number) {
  const centres = [
    [0, 5],
    [5, 0],
    [-5, -5],
  ];
  const { normal } = generator(seed);
  const x = new Float32Array(n * 2);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i * 2] = centres[i % 3][0] + normal();
    x[i * 2 + 1] = centres[i % 3][1] + normal();
    y[i] = i % 3;
  }
  return { x, y };
}

describe('a single full-batch step (lr = 1) matches the hand-computed update', () => {
  // Two samples, both in one batch, so the shuffle cannot change the step.
  it('logistic: p = sigmoid(XW+b), g = p - y', async () => {
    // Prepare: z = [-0.25, 0.55], p = [0.437823, 0.634136], g = [-0.562177, 0.634136],
    // dW = Xᵀg/2 = [0.670115, -0.879244], db = mean(g) = 0.035980.
    const shape: ModelShape = { kind: 'logistic', inputDim: 2, outputDim: 1 };
    const params = Float32Array.from([0.1, -0.2, 0.05]);
    const y = Float32Array.from([1, 0]);

    // Execute
    const result = await trainLocal(options({ shape, params, x: TINY_X, y, n: 2, batchSize: 2, learningRate: 1 }));

    // Assert: the loss is measured before the update, −(ln p1 + ln(1−p2))/2, and so is the
    // accuracy: z = [-0.25, 0.55] gets both labels wrong.
    expectClose(result.params, [-0.570115136, 0.679244296, 0.014020455]);
    expect(result.loss).toBeCloseTo(0.91571595, 5);
    expect(result.loss).toBeCloseTo(evaluateLocal(shape, params, TINY_X, y, 2).loss, 5);
    expect(result.accuracy).toBe(0);
    expect(result).toMatchObject({ samples: 2, steps: 1 });
  });

  it('softmax: p = softmax(XW+b), g = p - onehot(y)', async () => {
    // Prepare: z = [[0.2, 0.2, 0], [0.4, -0.8, 0.9]], labels 2 and 0.
    const shape: ModelShape = { kind: 'softmax', inputDim: 2, outputDim: 3 };
    const params = Float32Array.from([0.1, -0.2, 0.3, 0.0, 0.2, -0.1, 0.1, 0.0, -0.1]);
    const y = Float32Array.from([2, 0]);

    // Execute
    const result = await trainLocal(options({ shape, params, x: TINY_X, y, n: 2, batchSize: 2, learningRate: 1 }));

    // Assert: W - Xᵀg/2 and b - mean(g) with p = [[0.354770, 0.354770, 0.290461], [0.338993, 0.102103, 0.558905]].
    expectClose(result.params, [
      0.914126052, -0.53053879, -0.183587262, -0.685273225, -0.103718277, 0.888991502, 0.253118815, -0.228436132,
      -0.024682683,
    ]);
    expect(result.loss).toBeCloseTo(1.15903161, 5);
    expect(result.loss).toBeCloseTo(evaluateLocal(shape, params, TINY_X, y, 2).loss, 5);
    // Class 0, the first of the tied 0 and 1, for label 2; class 2 for label 0.
    expect(result.accuracy).toBe(0);
  });

  it('linear: g = XW+b - y, loss 0.5 * mean(g²)', async () => {
    // Prepare: z = [-0.25, 0.55], g = [-1.25, 2.55], dW = [3.2, -2.525], db = 0.65.
    const shape: ModelShape = { kind: 'linear', inputDim: 2, outputDim: 1 };
    const params = Float32Array.from([0.1, -0.2, 0.05]);
    const y = Float32Array.from([1, -2]);

    // Execute
    const result = await trainLocal(options({ shape, params, x: TINY_X, y, n: 2, batchSize: 2, learningRate: 1 }));

    // Assert: loss = 0.5 * (1.5625 + 6.5025) / 2.
    expectClose(result.params, [-3.1, 2.325, -0.6]);
    expect(result.loss).toBeCloseTo(2.01625, 5);
    expect(result.accuracy).toBeUndefined();
  });

  it('l2 adds l2·W to the weight gradient and leaves the bias alone', async () => {
    // Prepare: as the linear case, with dW = [3.2, -2.525] + 0.5 * [0.1, -0.2].
    const shape: ModelShape = { kind: 'linear', inputDim: 2, outputDim: 1 };
    const params = Float32Array.from([0.1, -0.2, 0.05]);

    // Execute
    const result = await trainLocal(
      options({ shape, params, x: TINY_X, y: Float32Array.from([1, -2]), n: 2, batchSize: 2, learningRate: 1, l2: 0.5 }),
    );

    // Assert: the reported loss leaves the penalty out.
    expectClose(result.params, [-3.15, 2.425, -0.6]);
    expect(result.loss).toBeCloseTo(2.01625, 5);
  });
});

describe('the per-round config of a strategy is one more term of the step', () => {
  // One row x = 1, y = 0, a linear model from θ0 = (w 1, b 0), lr 0.5, two steps.
  const shape: ModelShape = { kind: 'linear', inputDim: 1, outputDim: 1 };
  const run = (extra: Partial<TrainOptions>) =>
    trainLocal(options({ shape, params: Float32Array.of(1, 0), x: Float32Array.of(1), y: Float32Array.of(0), n: 1, batchSize: 1, epochs: 2, learningRate: 0.5, ...extra }));

  it('FedProx: μ·(θ − θ_global) pulls each step back to the global model', async () => {
    // step 1: z = 1, g = 1, θ1 = (0.5, −0.5), the proximal term 0 at θ0; step 2: z = 0, g = 0,
    // the proximal term 1·(θ1 − θ0) = (−0.5, −0.5), θ2 = θ1 − 0.5·(−0.5, −0.5) = (0.75, −0.25)
    expectClose((await run({ proximalMu: 1 })).params, [0.75, -0.25]);
    expectClose((await run({})).params, [0.5, -0.5]);
  });

  it('SCAFFOLD: the correction c − c_i is added to every gradient', async () => {
    // c − c_i = (0.2, −0.4): θ1 = (1 − 0.5·1.2, 0 − 0.5·0.6) = (0.4, −0.3); z = 0.1:
    // θ2 = (0.4 − 0.5·(0.1 + 0.2), −0.3 − 0.5·(0.1 − 0.4)) = (0.25, −0.15)
    expectClose((await run({ correction: Float32Array.of(0.2, -0.4) })).params, [0.25, -0.15]);
  });

  it('refuses a correction of another shape', async () => {
    await expect(run({ correction: Float32Array.of(1) })).rejects.toThrow(/correction/);
  });
});

describe('trainLocal', () => {
  it('uses the last partial batch, averaged over its own size', async () => {
    // Prepare: three identical rows x = 1, y = 1, batch 2, so the shuffle is moot:
    // step 1 (2 rows): g = -1 -> w = b = 0.1; step 2 (1 row): g = 0.2 - 1 -> w = b = 0.18.
    // Dropping the partial batch would give 0.1, dividing it by the full size 0.14.
    const shape: ModelShape = { kind: 'linear', inputDim: 1, outputDim: 1 };
    const ones = Float32Array.from([1, 1, 1]);

    // Execute
    const result = await trainLocal(options({ shape, params: initialParameters(shape), x: ones, y: ones, n: 3, batchSize: 2 }));

    // Assert
    expectClose(result.params, [0.18, 0.18]);
    expect(result.steps).toBe(2);
  });

  it.each<[string, ModelShape]>([
    ['logistic', { kind: 'logistic', inputDim: 3, outputDim: 1 }],
    ['softmax', { kind: 'softmax', inputDim: 3, outputDim: 2 }],
    ['linear', { kind: 'linear', inputDim: 3, outputDim: 1 }],
  ])('%s: lowers the loss it reports epoch after epoch, and the loss evaluated', async (_, shape) => {
    // Prepare: labels 0/1 from a linear rule, which every kind can fit better than its initial model.
    const n = 300;
    const { x, y } = separableLogistic(n, 3, 13);
    const params = initialParameters(shape);
    const run = options({ shape, params, x, y, n, learningRate: 0.3 });

    // Execute
    const oneEpoch = await trainLocal(run);
    const tenEpochs = await trainLocal({ ...run, epochs: 10 });

    // Assert
    const before = evaluateLocal(shape, params, x, y, n).loss;
    const after = evaluateLocal(shape, tenEpochs.params, x, y, n).loss;
    expect(tenEpochs.loss).toBeLessThan(0.8 * oneEpoch.loss);
    expect(after).toBeLessThan(0.5 * before);
  });

  it('reaches accuracy > 0.95 with logistic regression on linearly separable data', async () => {
    // Prepare
    const d = 5;
    const n = 1000;
    const shape: ModelShape = { kind: 'logistic', inputDim: d, outputDim: 1 };
    const { x, y } = separableLogistic(n, d, 1);
    const params = initialParameters(shape);

    // Execute
    const result = await trainLocal(options({ shape, params, x, y, n, epochs: 20, learningRate: 0.5 }));

    // Assert
    const evaluation = evaluateLocal(shape, result.params, x, y, n);
    expect(evaluation.accuracy).toBeGreaterThan(0.95);
    expect(result.loss).toBeLessThan(Math.log(2) / 2);
    expect(result).toMatchObject({ samples: n, steps: 20 * Math.ceil(n / 32) });
  });

  it('under a site’s least batch, lets an epoch’s last rows, too few for a step of their own, join the batch before', async () => {
    // Prepare: batches of 4; ten rows leave 2 at the end of an epoch, eleven leave 3
    const shape: ModelShape = { kind: 'logistic', inputDim: 5, outputDim: 1 };
    const params = initialParameters(shape);
    const run = (n: number, minBatchSize?: number) => {
      const { x, y } = separableLogistic(n, 5, 3);
      return trainLocal(options({ shape, params, x, y, n, epochs: 3, batchSize: 4, ...(minBatchSize !== undefined && { minBatchSize }) }));
    };

    // Execute
    const [ten, tenAtLeast3, eleven, elevenAtLeast3] = await Promise.all([run(10), run(10, 3), run(11), run(11, 3)]);

    // Assert: 2 rows join the 4 before them, a step of 6; 3 rows make a step of their own, as without the least
    expect(ten.steps).toBe(3 * 3);
    expect(tenAtLeast3.steps).toBe(3 * 2);
    expect(tenAtLeast3.params).not.toEqual(ten.params);
    expect(elevenAtLeast3).toEqual(eleven);
    await expect(run(10, 0)).rejects.toThrow('minBatchSize must be a positive integer');
  });

  it('reaches accuracy > 0.95 with softmax on three well-separated blobs', async () => {
    // Prepare
    const n = 600;
    const { x, y } = threeBlobs(n, 2);
    const shape: ModelShape = { kind: 'softmax', inputDim: 2, outputDim: 3 };

    // Execute
    const result = await trainLocal(options({ shape, params: initialParameters(shape), x, y, n, epochs: 10 }));

    // Assert
    expect(evaluateLocal(shape, result.params, x, y, n).accuracy).toBeGreaterThan(0.95);
  });

  it('reaches accuracy > 0.95 with a two-class svm, and with a one-vs-rest svm on three blobs', async () => {
    // Prepare
    const d = 5;
    const n = 1000;
    const binary: ModelShape = { kind: 'svm', inputDim: d, outputDim: 1 };
    const { x, y } = separableLogistic(n, d, 4);
    const { x: blobs, y: classes } = threeBlobs(600, 5);
    const multiclass: ModelShape = { kind: 'svm', inputDim: 2, outputDim: 3 };

    // Execute
    const two = await trainLocal(options({ shape: binary, params: initialParameters(binary), x, y, n, epochs: 20, learningRate: 0.05 }));
    const three = await trainLocal(options({ shape: multiclass, params: initialParameters(multiclass), x: blobs, y: classes, n: 600, epochs: 10, learningRate: 0.01 }));

    // Assert
    expect(evaluateLocal(binary, two.params, x, y, n).accuracy).toBeGreaterThan(0.95);
    expect(evaluateLocal(multiclass, three.params, blobs, classes, 600).accuracy).toBeGreaterThan(0.95);
    expect(two.accuracy).toBeGreaterThan(0.9);
  });

  it('recovers y = 2·x0 − 3·x1 + 1 with linear regression', async () => {
    // Prepare
    const n = 500;
    const { uniform, normal } = generator(3);
    const x = new Float32Array(n * 2);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x[i * 2] = uniform() * 2 - 1;
      x[i * 2 + 1] = uniform() * 2 - 1;
      y[i] = 2 * x[i * 2] - 3 * x[i * 2 + 1] + 1 + 0.01 * normal();
    }
    const shape: ModelShape = { kind: 'linear', inputDim: 2, outputDim: 1 };

    // Execute
    const result = await trainLocal(options({ shape, params: initialParameters(shape), x, y, n, epochs: 50, batchSize: 16 }));

    // Assert
    const [w0, w1, b] = result.params;
    expect(Math.abs(w0 - 2)).toBeLessThan(0.05);
    expect(Math.abs(w1 + 3)).toBeLessThan(0.05);
    expect(Math.abs(b - 1)).toBeLessThan(0.05);
    expect(evaluateLocal(shape, result.params, x, y, n).mse).toBeLessThan(0.001);
  });

  it('shrinks the weights with l2 compared to none', async () => {
    // Prepare
    const d = 5;
    const n = 500;
    const shape: ModelShape = { kind: 'logistic', inputDim: d, outputDim: 1 };
    const { x, y } = separableLogistic(n, d, 4);
    const base = options({ shape, params: initialParameters(shape), x, y, n, epochs: 10, learningRate: 0.5 });
    const weightNorm = (params: Float32Array) => Math.hypot(...params.subarray(0, d));

    // Execute
    const plain = await trainLocal(base);
    const penalised = await trainLocal({ ...base, l2: 0.1 });

    // Assert
    expect(weightNorm(penalised.params)).toBeLessThan(0.8 * weightNorm(plain.params));
  });

  it('gives bit-identical parameters for the same seed and different ones for another seed', async () => {
    // Prepare
    const d = 4;
    const n = 300;
    const shape: ModelShape = { kind: 'logistic', inputDim: d, outputDim: 1 };
    const { x, y } = separableLogistic(n, d, 5);
    const base = options({ shape, params: initialParameters(shape), x, y, n, epochs: 3, seed: 11 });

    // Execute
    const first = await trainLocal(base);
    const again = await trainLocal(base);
    const other = await trainLocal({ ...base, seed: 12 });

    // Assert
    expect(Buffer.from(again.params.buffer).equals(Buffer.from(first.params.buffer))).toBe(true);
    expect(again.loss).toBe(first.loss);
    expect(Buffer.from(other.params.buffer).equals(Buffer.from(first.params.buffer))).toBe(false);
  });

  it('does not mutate the global parameters it is given', async () => {
    // Prepare
    const shape: ModelShape = { kind: 'linear', inputDim: 2, outputDim: 1 };
    const params = Float32Array.from([0.1, -0.2, 0.05]);
    const copy = params.slice();

    // Execute
    const result = await trainLocal(options({ shape, params, x: TINY_X, y: Float32Array.from([1, -2]), n: 2, learningRate: 1 }));

    // Assert
    expect(Array.from(params)).toEqual(Array.from(copy));
    expect(result.params).not.toBe(params);
    expect(Array.from(result.params)).not.toEqual(Array.from(copy));
  });

  it('rejects inputs that do not match the model', async () => {
    // Prepare
    const shape: ModelShape = { kind: 'softmax', inputDim: 2, outputDim: 3 };
    const base = options({ shape, params: new Float32Array(9), x: TINY_X, y: Float32Array.from([0, 1]), n: 2 });

    // Execute / Assert
    await expect(trainLocal({ ...base, params: new Float32Array(8) })).rejects.toThrow(/parameters/);
    await expect(trainLocal({ ...base, x: new Float32Array(3) })).rejects.toThrow(/features/);
    await expect(trainLocal({ ...base, y: Float32Array.from([0, 3]) })).rejects.toThrow(/target 3 at row 1/);
    await expect(trainLocal({ ...base, epochs: 0 })).rejects.toThrow(/epochs/);
  });

  it('returns the parameters unchanged when there are no samples', async () => {
    // Prepare
    const shape: ModelShape = { kind: 'linear', inputDim: 2, outputDim: 1 };
    const params = Float32Array.from([1, 2, 3]);

    // Execute
    const result = await trainLocal(options({ shape, params, x: new Float32Array(0), y: new Float32Array(0), n: 0 }));

    // Assert
    expect(Array.from(result.params)).toEqual([1, 2, 3]);
    expect(result).toMatchObject({ loss: 0, samples: 0, steps: 0 });
    expect(result.accuracy).toBeUndefined();
  });
});

// Called past trainLocal's validation so that a learning rate of 0 can hold the model still.
describe('the accuracy that training reports', () => {
  const train = sgd;
  const n = 200;
  const logistic: ModelShape = { kind: 'logistic', inputDim: 4, outputDim: 1 };
  const softmax: ModelShape = { kind: 'softmax', inputDim: 4, outputDim: 3 };
  const { x, y: binary } = separableLogistic(n, 4, 9);
  const classes = Float32Array.from({ length: n }, (_, i) => i % 3);
  const { normal } = generator(10);
  const someParams = (shape: ModelShape) => Float32Array.from(initialParameters(shape), () => normal());

  it.each([
    ['logistic', logistic, binary, (p: Float32Array) => binaryAccuracy(p, binary)],
    ['softmax', softmax, classes, (p: Float32Array) => multiclassAccuracy(p, classes, 3)],
  ])('%s: is the given parameters\' over all rows when a learning rate of 0 keeps them, ties as shared decides', async (_, shape, y, accuracyOf) => {
    // Prepare: two epochs, of which only the last counts, and a partial last batch (200 = 28 x 7 + 4).
    const run = options({ shape, params: someParams(shape), x, y, n, epochs: 2, batchSize: 7, learningRate: 0 });
    // Zero parameters tie every row: class 1 for logistic (p = 0.5), the first class for softmax.
    const tied = { ...run, params: new Float32Array(run.params.length) };

    // Execute
    const result = await train(run);
    const tiedResult = await train(tied);

    // Assert
    const expected = accuracyOf(predict(shape, run.params, x, n));
    expect(expected).toBeGreaterThan(0.2);
    expect(expected).toBeLessThan(0.8);
    expect(result.accuracy).toBe(expected);
    expect(tiedResult.accuracy).toBe(accuracyOf(predict(shape, tied.params, x, n)));
  });

  it('is measured before each batch\'s update, not of the model returned', async () => {
    // Prepare: one batch of all rows, so the last epoch is one step, measured on the model the
    // epoch before it returned.
    const run = options({ shape: logistic, params: initialParameters(logistic), x, y: binary, n, batchSize: n, learningRate: 0.5 });

    // Execute
    const first = await train(run);
    const second = await train({ ...run, epochs: 2 });

    // Assert
    const before = evaluateLocal(logistic, first.params, x, binary, n).accuracy;
    const after = evaluateLocal(logistic, second.params, x, binary, n).accuracy;
    expect(second.accuracy).toBe(before);
    expect(after).not.toBe(before);
  });

  it('is absent for linear models', async () => {
    // Execute
    const result = await train(options({ shape: { kind: 'linear', inputDim: 4, outputDim: 1 }, params: new Float32Array(5), x, y: binary, n }));

    // Assert
    expect(result.accuracy).toBeUndefined();
  });
});

describe('evaluateLocal', () => {
  it('logistic: the mean of −ln p for the true class, and the rows with p >= 0.5 where the label is 1', async () => {
    // Prepare: z = XW + b = [-0.25, 0.55], so p = [0.437823, 0.634136]; labels [0, 0] make the first right.
    const shape: ModelShape = { kind: 'logistic', inputDim: 2, outputDim: 1 };
    const params = Float32Array.from([0.1, -0.2, 0.05]);

    // Execute
    const evaluation = evaluateLocal(shape, params, TINY_X, Float32Array.from([0, 0]), 2);

    // Assert: −(ln(1 − 0.437823) + ln(1 − 0.634136)) / 2.
    expect(evaluation.loss).toBeCloseTo(0.790716, 5);
    expect(evaluation.accuracy).toBe(0.5);
    expect(evaluation.mse).toBeUndefined();
  });

  it('logistic: zero weights predict 0.5 everywhere, which counts as class 1', async () => {
    // Prepare
    const shape: ModelShape = { kind: 'logistic', inputDim: 2, outputDim: 1 };

    // Execute
    const evaluation = evaluateLocal(shape, new Float32Array(3), TINY_X, Float32Array.from([1, 0]), 2);

    // Assert
    expect(evaluation.loss).toBeCloseTo(Math.LN2, 6);
    expect(evaluation.accuracy).toBe(0.5);
  });

  it('softmax: the mean of −ln p of the true class, and the first largest logit as the class', async () => {
    // Prepare: z + b = [[0.2, 0.2, 0], [0.4, -0.8, 0.9]]: row 1 ties classes 0 and 1 (class 0 is
    // predicted), row 2 predicts class 2. Labels 0 and 1 make the first right.
    const shape: ModelShape = { kind: 'softmax', inputDim: 2, outputDim: 3 };
    const params = Float32Array.from([0.1, -0.2, 0.3, 0.0, 0.2, -0.1, 0.1, 0.0, -0.1]);

    // Execute
    const evaluation = evaluateLocal(shape, params, TINY_X, Float32Array.from([0, 1]), 2);

    // Assert: −(ln 0.354770 + ln 0.102103) / 2.
    expect(evaluation.loss).toBeCloseTo(1.659032, 5);
    expect(evaluation.accuracy).toBe(0.5);
  });

  it('linear: half the MSE as the loss, and the MSE', async () => {
    // Prepare: predictions [-0.25, 0.55] against [1, -2].
    const shape: ModelShape = { kind: 'linear', inputDim: 2, outputDim: 1 };

    // Execute
    const evaluation = evaluateLocal(shape, Float32Array.from([0.1, -0.2, 0.05]), TINY_X, Float32Array.from([1, -2]), 2);

    // Assert
    expect(evaluation.mse).toBeCloseTo(4.0325, 5);
    expect(evaluation.loss).toBeCloseTo(2.01625, 5);
    expect(evaluation.accuracy).toBeUndefined();
  });

  it('agrees with the shared model maths over more rows than it uploads at once', async () => {
    // Prepare: 9,000 rows, past one upload of 8,192.
    const n = 9000;
    const { normal } = generator(12);
    const x = Float32Array.from({ length: n * 3 }, () => normal());
    const softmax: ModelShape = { kind: 'softmax', inputDim: 3, outputDim: 4 };
    const logistic: ModelShape = { kind: 'logistic', inputDim: 3, outputDim: 1 };
    const linear: ModelShape = { kind: 'linear', inputDim: 3, outputDim: 1 };
    const classes = Float32Array.from({ length: n }, (_, i) => i % 4);
    const binary = Float32Array.from({ length: n }, (_, i) => i % 2);
    const targets = Float32Array.from({ length: n }, () => normal());
    // Small enough that shared's float32 probabilities stay clear of its clamping at 1e-7.
    const someParams = (shape: ModelShape) => Float32Array.from(initialParameters(shape), () => 0.3 * normal());
    const [softmaxParams, logisticParams, linearParams] = [softmax, logistic, linear].map(someParams);

    // Execute
    const multiclass = evaluateLocal(softmax, softmaxParams, x, classes, n);
    const twoClass = evaluateLocal(logistic, logisticParams, x, binary, n);
    const regression = evaluateLocal(linear, linearParams, x, targets, n);

    // Assert
    const p = predict(softmax, softmaxParams, x, n);
    expect(multiclass.loss).toBeCloseTo(multiclassLogLoss(p, classes, 4), 4);
    expect(multiclass.accuracy).toBe(multiclassAccuracy(p, classes, 4));
    const q = predict(logistic, logisticParams, x, n);
    expect(twoClass.loss).toBeCloseTo(binaryLogLoss(q, binary), 4);
    expect(twoClass.accuracy).toBe(binaryAccuracy(q, binary));
    expect(regression.mse).toBeCloseTo(meanSquaredError(predict(linear, linearParams, x, n), targets), 3);
  });

  it('refuses parameters of another shape', () => {
    expect(() => evaluateLocal({ kind: 'softmax', inputDim: 2, outputDim: 3 }, new Float32Array(8), TINY_X, Float32Array.from([0, 2]), 2)).toThrow(/parameters/);
  });
});

describe('trainLocal for k-means', () => {
  const shape: ModelShape = { kind: 'kmeans', inputDim: 2, outputDim: 2 };
  const centres = Float32Array.from([0, 0, 10, 10, 0.5, 0.5]);

  it('returns per-cluster sums and counts as shares of the job\'s rows, and the centres\' inertia as the loss', async () => {
    // Prepare: two rows near each centre; the job has 8 rows across its sites
    const x = Float32Array.from([0, 1, 1, 0, 10, 11, 11, 10]);

    // Execute
    const result = await trainLocal({ shape, params: centres, x, y: new Float32Array(4), n: 4, epochs: 1, batchSize: 32, learningRate: 0.1, l2: 0, seed: 1, jobRows: 8 });

    // Assert
    expect(Array.from(result.params)).toEqual([1 / 8, 1 / 8, 21 / 8, 21 / 8, 2 / 8, 2 / 8]);
    expect(result.loss).toBeCloseTo(1, 6);
    expect(result.samples).toBe(4);
  });

  it('sends zero sums from a site without rows, never the centres it was sent', async () => {
    const result = await trainLocal({ shape, params: centres, x: new Float32Array(0), y: new Float32Array(0), n: 0, epochs: 1, batchSize: 32, learningRate: 0.1, l2: 0, seed: 1, jobRows: 8 });
    expect(Array.from(result.params)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  describe('under minClusterRows (small-cell suppression)', () => {
    const k3: ModelShape = { kind: 'kmeans', inputDim: 2, outputDim: 3 };
    const three = Float32Array.from([0, 0, 10, 10, 20, 20, 0.3, 0.3, 0.4]);
    const run = (x: number[], minClusterRows?: number, params = three, shape = k3) =>
      trainLocal(options({ shape, params, x: Float32Array.from(x), y: new Float32Array(x.length / 2), n: x.length / 2, jobRows: 20, ...(minClusterRows !== undefined && { minClusterRows }) }));
    /** cluster c's sums and count in an update of the layout [k x 2 sums, k counts] */
    const cluster = (update: Float32Array, c: number, k = 3) => [update[c * 2], update[c * 2 + 1], update[k * 2 + c]];

    it('sends a cluster holding fewer of the site\'s rows as zero sum and count, the others as without it', async () => {
      // Prepare: three rows near the first centre, one near each of the others
      const x = [0, 1, 1, 0, 0, 0, 10, 11, 20, 21];

      // Execute
      const plain = await run(x);
      const suppressed = await run(x, 2);

      // Assert: the two one-row clusters, two rows together, are left out; the first is sent as it was
      expect(cluster(plain.params, 1)).toEqual([Math.fround(10 / 20), Math.fround(11 / 20), Math.fround(1 / 20)]);
      expect(cluster(suppressed.params, 1)).toEqual([0, 0, 0]);
      expect(cluster(suppressed.params, 2)).toEqual([0, 0, 0]);
      expect(cluster(suppressed.params, 0)).toEqual(cluster(plain.params, 0));
      expect(suppressed.suppressed).toEqual({ clusters: 2, rows: 2 });
      expect(plain.suppressed).toEqual({ clusters: 0, rows: 0 });
      // The loss leaves the site with the update: it is the rows' sent, distances 1, 1 and 0; the samples are every row trained on.
      expect(plain.loss).toBeCloseTo(4 / 5, 6);
      expect(suppressed.loss).toBeCloseTo(2 / 3, 6);
      expect(suppressed.samples).toBe(5);
    });

    it('leaves out the smallest clusters too until the rows left out are at least that many: the site\'s total less what it sent would give them away', async () => {
      // Prepare: four rows near the first centre, three near the second, one near the third
      const x = [0, 1, 1, 0, 0, 0, 1, 1, 10, 11, 11, 10, 10, 10, 20, 21];

      // Execute
      const plain = await run(x);
      const suppressed = await run(x, 3);

      // Assert: the one-row cluster, then the three-row one, the smallest sent, so that four rows are left out, not one
      expect(cluster(suppressed.params, 2)).toEqual([0, 0, 0]);
      expect(cluster(suppressed.params, 1)).toEqual([0, 0, 0]);
      expect(cluster(suppressed.params, 0)).toEqual(cluster(plain.params, 0));
      expect(suppressed.suppressed).toEqual({ clusters: 2, rows: 4 });
    });

    it('leaves out nothing when every cluster holding rows holds that many; an empty cluster is no cluster left out', async () => {
      const x = [0, 1, 1, 0, 10, 11, 11, 10];
      const plain = await run(x);
      const within = await run(x, 2);
      expect(Array.from(within.params)).toEqual(Array.from(plain.params));
      expect(within.suppressed).toEqual({ clusters: 0, rows: 0 });
    });

    it('sends every cluster as zero, and no loss, when together they hold fewer rows than that', async () => {
      const all = await run([0, 1, 10, 11, 20, 21], 4);
      expect(Array.from(all.params)).toEqual(new Array(9).fill(0));
      expect(all.suppressed).toEqual({ clusters: 3, rows: 3 });
      expect(all.loss).toBeNaN();
    });

    it('in the initialisation round too: a candidate centre of one row is sent as zero', async () => {
      // Prepare: a model not yet initialised; four rows near each of two points, and two far rows of their own
      const shape: ModelShape = { kind: 'kmeans', inputDim: 2, outputDim: 4 };
      const x = [0, 0, 0, 1, 1, 0, 1, 1, 10, 10, 10, 11, 11, 10, 11, 11, 50, 50, -50, 50];

      // Execute
      const plain = await run(x, undefined, new Float32Array(12), shape);
      const suppressed = await run(x, 2, new Float32Array(12), shape);

      // Assert: the site proposes the two clusters of four rows only; no value of the far rows leaves it
      const shares = (update: Float32Array) => Array.from(update.subarray(8)).sort();
      expect(shares(plain.params)).toEqual([1, 1, 4, 4].map((rows) => Math.fround(rows / 20)).sort());
      expect(shares(suppressed.params)).toEqual([0, 0, Math.fround(4 / 20), Math.fround(4 / 20)]);
      expect(Array.from(suppressed.params).filter((v) => Math.abs(v) === Math.fround(50 / 20))).toEqual([]);
      expect(suppressed.suppressed).toEqual({ clusters: 2, rows: 2 });
    });

    it('refuses a minClusterRows that is not a positive integer', async () => {
      await expect(run([0, 0], 0)).rejects.toThrow('minClusterRows must be a positive integer');
      await expect(run([0, 0], 1.5)).rejects.toThrow('minClusterRows must be a positive integer');
    });
  });

  it('needs the job\'s row count', async () => {
    await expect(trainLocal({ shape, params: centres, x: new Float32Array(2), y: new Float32Array(1), n: 1, epochs: 1, batchSize: 32, learningRate: 0.1, l2: 0, seed: 1 })).rejects.toThrow(/row count/);
  });
});
