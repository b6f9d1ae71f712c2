/**
 * The evaluation metrics the simulator reports, each on a case small enough to
 * work out by hand; the expected values are derived in the comments.
 */
import { auc, binaryF1, macroF1, meanAbsoluteError, rootMeanSquaredError } from '.';

describe('auc', () => {
  it('counts the positive–negative pairs ranked the right way', () => {
    // Prepare: positives score 0.35 and 0.8, negatives 0.1 and 0.4.
    const scores = [0.1, 0.4, 0.35, 0.8];
    const labels = [0, 0, 1, 1];
    // Execute
    const area = auc(scores, labels);
    // Assert: 0.35 > 0.1, 0.35 < 0.4, 0.8 > both: 3 of 4 pairs
    expect(area).toBeCloseTo(0.75, 12);
  });

  it('counts a tie between a positive and a negative as one half', () => {
    // Prepare: positives 0.5 and 0.9, negatives 0.5 and 0.2
    const scores = [0.5, 0.5, 0.2, 0.9];
    const labels = [1, 0, 0, 1];
    // Execute
    const area = auc(scores, labels);
    // Assert: (0.5 vs 0.5) = 1/2, (0.5 vs 0.2) = 1, (0.9 vs 0.5) = 1, (0.9 vs 0.2) = 1: 3.5 of 4
    expect(area).toBeCloseTo(0.875, 12);
  });

  it('is one half when every score ties, 1 for a perfect ranking and 0 for a reversed one', () => {
    // Prepare
    const labels = [1, 0, 0];
    // Execute and Assert
    expect(auc([0.3, 0.3, 0.3], labels)).toBeCloseTo(0.5, 12);
    expect(auc([0.9, 0.2, 0.1], labels)).toBe(1);
    expect(auc([0.1, 0.2, 0.9], labels)).toBe(0);
  });

  it('does not depend on the order of the rows', () => {
    // Prepare: the tie case above, rows reversed
    const scores = [0.9, 0.2, 0.5, 0.5];
    const labels = [1, 0, 0, 1];
    // Execute and Assert
    expect(auc(scores, labels)).toBeCloseTo(0.875, 12);
  });

  it('is undefined (NaN) when one class is absent', () => {
    expect(auc([0.2, 0.7], [1, 1])).toBeNaN();
    expect(auc([0.2, 0.7], [0, 0])).toBeNaN();
  });
});

describe('binaryF1', () => {
  it('is 2TP / (2TP + FP + FN) at the 0.5 threshold', () => {
    // Prepare: predicted 1, 1, 0, 1, 0 against 1, 0, 1, 1, 0: TP 2 (rows 0, 3), FP 1 (row 1), FN 1 (row 2)
    const probabilities = [0.9, 0.8, 0.3, 0.5, 0.1];
    const labels = [1, 0, 1, 1, 0];
    // Execute
    const f1 = binaryF1(probabilities, labels);
    // Assert: 4 / (4 + 1 + 1); 0.5 itself is predicted positive
    expect(f1).toBeCloseTo(2 / 3, 12);
  });

  it('is 0 when nothing is positive, predicted or true', () => {
    expect(binaryF1([0.1, 0.2], [0, 0])).toBe(0);
  });
});

describe('macroF1', () => {
  // labels 0 0 1 1 2 2; argmax predictions 0 1 1 1 2 0
  const probabilities = [
    [0.8, 0.1, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.2, 0.7],
    [0.5, 0.2, 0.3],
  ];
  const labels = [0, 0, 1, 1, 2, 2];

  it('averages the per-class F1 scores without weights', () => {
    // Prepare
    const flat = probabilities.flat();
    // Execute
    const f1 = macroF1(flat, labels, 3);
    // Assert: class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 2, FP 1 -> 4/5; class 2: TP 1, FN 1 -> 2/3
    expect(f1).toBeCloseTo((1 / 2 + 4 / 5 + 2 / 3) / 3, 12);
  });

  it('leaves out a class that is neither a label nor a prediction', () => {
    // Prepare: a fourth class that no row has and no row is predicted as
    const flat = probabilities.flatMap((row) => [...row, 0]);
    // Execute
    const f1 = macroF1(flat, labels, 4);
    // Assert: the same three classes are averaged
    expect(f1).toBeCloseTo((1 / 2 + 4 / 5 + 2 / 3) / 3, 12);
  });

  it('counts a class that is predicted but never true as F1 0', () => {
    // Prepare: one row of class 0 predicted as class 1
    const flat = [0.2, 0.8];
    // Execute
    const f1 = macroF1(flat, [0], 2);
    // Assert: class 0: FN 1 -> 0; class 1: FP 1 -> 0
    expect(f1).toBe(0);
  });
});

describe('regression errors', () => {
  it('mean absolute error and root mean squared error', () => {
    // Prepare: errors 1, 0, 3
    const predictions = [1, 2, 5];
    const targets = [2, 2, 2];
    // Execute and Assert: (1 + 0 + 3) / 3 and sqrt((1 + 0 + 9) / 3)
    expect(meanAbsoluteError(predictions, targets)).toBeCloseTo(4 / 3, 12);
    expect(rootMeanSquaredError(predictions, targets)).toBeCloseTo(Math.sqrt(10 / 3), 12);
  });
});
