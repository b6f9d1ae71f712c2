import type { Preprocessing } from '@fl/shared';
import { prepare, type PreparedData } from './preprocess';
import { prepareSplit, splitHoldout } from './holdout';
import { tableOf } from './table';

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

describe('prepareSplit', () => {
  it('gives the same parts and report as prepare then splitHoldout', () => {
    // Prepare
    const preprocessing: Preprocessing = {
      features: [
        { name: 'age', type: 'numeric', mean: 30, std: 10 },
        { name: 'home', type: 'categorical', vocabulary: ['owner', 'rent'] },
      ],
      target: { type: 'binary', classes: ['good', 'bad'] },
      inputDim: 4,
      rows: 100,
    };
    const homes = ['rent', 'owner', null, 'parents'];
    const statuses = ['good', 'bad', null, 'maybe', 'good'];
    const table = tableOf(
      ['age', 'home', 'status'],
      Array.from({ length: 40 }, (_, i) => [i % 7 ? 20 + i : null, homes[i % 4], statuses[i % 5]]),
      ['numeric', 'categorical', 'categorical'],
    );

    // Execute
    const direct = prepareSplit(table, preprocessing, 0.25, 9);
    const viaWhole = splitHoldout(prepare(table, preprocessing), 0.25, 9);

    // Assert
    for (const part of ['train', 'holdout'] as const) {
      expect(direct[part].n).toBe(viaWhole[part].n);
      expect(Array.from(direct[part].x)).toEqual(Array.from(viaWhole[part].x));
      expect(Array.from(direct[part].y)).toEqual(Array.from(viaWhole[part].y));
      expect({ ...direct[part].report }).toEqual({ ...viaWhole[part].report, imputed: { ...viaWhole[part].report.imputed }, unknownCategories: { ...viaWhole[part].report.unknownCategories } });
    }
    expect(direct.holdout.n).toBeGreaterThan(0);
  });
});
