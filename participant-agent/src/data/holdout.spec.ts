import type { PreparedData } from './preprocess';
import { splitHoldout } from './holdout';

const data = (n: number): PreparedData => ({
  n,
  d: 2,
  x: Float32Array.from({ length: n * 2 }, (_, i) => i),
  y: Float32Array.from({ length: n }, (_, i) => i),
  report: { droppedMissingTarget: 0, unknownTargets: 0, imputed: {}, unknownCategories: {} },
});

describe('the local holdout', () => {
  it('puts every row in exactly one part, keeping each row whole', () => {
    const { train, holdout } = splitHoldout(data(10), 0.2, 1);
    expect(holdout.n).toBe(2);
    expect(train.n).toBe(8);
    expect([...train.y, ...holdout.y].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const part of [train, holdout]) part.y.forEach((row, i) => expect([part.x[2 * i], part.x[2 * i + 1]]).toEqual([2 * row, 2 * row + 1]));
  });

  it('holds out the same rows for the same seed, and others for another', () => {
    expect(Array.from(splitHoldout(data(50), 0.2, 7).holdout.y)).toEqual(Array.from(splitHoldout(data(50), 0.2, 7).holdout.y));
    expect(Array.from(splitHoldout(data(50), 0.2, 7).holdout.y)).not.toEqual(Array.from(splitHoldout(data(50), 0.2, 8).holdout.y));
  });

  it('holds out at least one row, and never all of them', () => {
    expect(splitHoldout(data(3), 0.01, 1).holdout.n).toBe(1);
    expect(splitHoldout(data(2), 0.5, 1).train.n).toBe(1);
    expect(splitHoldout(data(1), 0.5, 1).holdout.n).toBe(0);
  });
});
