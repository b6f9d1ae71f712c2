import { isRight, LOSSES, type GradientModelKind } from './losses';

/** Logits and labels of three rows for each kind. */
const FIXTURES: Record<GradientModelKind, { k: number; z: number[]; labels: number[] }> = {
  logistic: { k: 1, z: [-1.5, 0.25, 3], labels: [0, 1, 1] },
  softmax: { k: 3, z: [0.2, -0.4, 1.1, 2, 0.5, -1, -0.3, -0.3, 0.6], labels: [2, 0, 1] },
  linear: { k: 1, z: [0.5, -2, 1.25], labels: [1, -1.5, 3] },
  // One-vs-rest over 3 classes: margins inside the hinge, beyond it, and on the wrong side.
  svm: { k: 3, z: [0.2, -0.4, 1.5, 2, 0.5, -1.3, -0.3, 0.95, 0.6], labels: [2, 0, 1] },
};

describe.each(Object.keys(FIXTURES) as GradientModelKind[])('the %s loss', (kind) => {
  const { k, z, labels } = FIXTURES[kind];
  const rowLoss = (logitsOfRow: number[], row: number, gradient?: Float64Array) => LOSSES[kind](Float64Array.from(logitsOfRow), k, labels[row], gradient);
  const rowOf = (values: number[], row: number) => values.slice(row * k, row * k + k);

  it('has the gradient of its loss: each logit moved by ±h changes the row loss by the gradient x 2h', () => {
    // Prepare
    const h = 1e-5;

    for (let row = 0; row < 3; row++) {
      // Execute
      const gradient = new Float64Array(k);
      rowLoss(rowOf(z, row), row, gradient);

      // Assert: central differences, in float64, to about 1e-7.
      for (let c = 0; c < k; c++) {
        const up = rowLoss(rowOf(z, row).map((v, i) => (i === c ? v + h : v)), row);
        const down = rowLoss(rowOf(z, row).map((v, i) => (i === c ? v - h : v)), row);
        expect(gradient[c]).toBeCloseTo((up - down) / (2 * h), 7);
      }
    }
  });

  it('is what the hand-computed formula gives, row by row', () => {
    for (let row = 0; row < 3; row++) {
      // Execute
      const loss = rowLoss(rowOf(z, row), row);

      // Assert
      const zi = rowOf(z, row);
      const label = labels[row];
      const expected =
        kind === 'logistic'
          ? -(label * Math.log(1 / (1 + Math.exp(-zi[0]))) + (1 - label) * Math.log(1 - 1 / (1 + Math.exp(-zi[0]))))
          : kind === 'linear'
            ? 0.5 * (zi[0] - label) ** 2
            : kind === 'svm'
              ? zi.reduce((sum, v, c) => sum + Math.max(0, 1 - (c === label ? 1 : -1) * v) ** 2, 0)
              : Math.log(zi.reduce((sum, v) => sum + Math.exp(v), 0)) - zi[label];
      expect(loss).toBeCloseTo(expected, 12);
    }
  });
});

describe('the losses at extreme logits', () => {
  it('stay finite, with the limits of their gradients, where a naive formula overflows', () => {
    // Prepare
    const gradient = new Float64Array(3);

    // Execute / Assert: softplus(800) − 0·800 = 800, σ(800) − 0 = 1; softplus(−800) − 0 = 0, σ(−800) − 1 = −1 (the loss 800).
    expect(LOSSES.logistic(Float64Array.of(800), 1, 0, gradient)).toBeCloseTo(800, 9);
    expect(gradient[0]).toBe(1);
    expect(LOSSES.logistic(Float64Array.of(-800), 1, 1, gradient)).toBeCloseTo(800, 9);
    expect(gradient[0]).toBe(-1);
    expect(LOSSES.softmax(Float64Array.of(1000, 0, -1000), 3, 1, gradient)).toBeCloseTo(1000, 9);
    expect(Array.from(gradient)).toEqual([1, -1, 0]);
  });
});

describe('a two-class svm', () => {
  it('takes 0/1 labels as the signs −1/+1 of its one margin', () => {
    // Execute / Assert: label 1, z = 0.25: (1 − 0.25)² = 0.5625, gradient −2·0.75; label 0: (1 + 0.25)².
    const gradient = new Float64Array(1);
    expect(LOSSES.svm(Float64Array.of(0.25), 1, 1, gradient)).toBeCloseTo(0.5625, 12);
    expect(gradient[0]).toBeCloseTo(-1.5, 12);
    expect(LOSSES.svm(Float64Array.of(0.25), 1, 0, gradient)).toBeCloseTo(1.5625, 12);
    expect(gradient[0]).toBeCloseTo(2.5, 12);
  });
});

describe('isRight', () => {
  it('decides the class as shared does: z >= 0 is class 1, and the first of tied largest logits', () => {
    // Execute / Assert
    expect(isRight(Float64Array.of(0), 1, 1)).toBe(true);
    expect(isRight(Float64Array.of(-0.1), 1, 0)).toBe(true);
    expect(isRight(Float64Array.of(2), 1, 0)).toBe(false);
    expect(isRight(Float64Array.of(1, 1, 0), 3, 0)).toBe(true);
    expect(isRight(Float64Array.of(1, 1, 0), 3, 1)).toBe(false);
    expect(isRight(Float64Array.of(0, 2, 2), 3, 1)).toBe(true);
  });
});
