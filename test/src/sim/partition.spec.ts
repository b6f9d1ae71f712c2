/**
 * The simulator's partitioners: every row in exactly one party, the column
 * partition exact, Dirichlet label skew measurable and controlled by alpha,
 * size skew likewise, the held-out split stratified, all reproducible by seed.
 */
import { seededRandom } from '@fl/shared';
import {
  columnPartition,
  dirichletLabelPartition,
  iidPartition,
  parsePartition,
  quantileStrata,
  quantityPartition,
  sampleDirichlet,
  sampleGamma,
  stratifiedSplit,
} from './partition';

/** Every position 0..n-1 appears in exactly one part. */
function expectExactCover(parts: number[][], n: number): void {
  const all = parts.flat().sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
}

/** Labels with the given class sizes, interleaved so that file order says nothing about the class. */
function labelsOf(sizes: Record<string, number>): string[] {
  const labels: string[] = [];
  const left = { ...sizes };
  while (Object.values(left).some((n) => n > 0)) {
    for (const c of Object.keys(left)) if (left[c]-- > 0) labels.push(c);
  }
  return labels;
}

/**
 * Mean total-variation distance between each party's label distribution and the
 * overall one: 0 when every party looks like the whole, up to 1 when each holds one class.
 */
function labelSkew(parts: number[][], labels: string[]): number {
  const classes = [...new Set(labels)];
  const share = (rows: number[], c: string) => rows.filter((i) => labels[i] === c).length / rows.length;
  const all = labels.map((_, i) => i);
  const distances = parts.map((rows) => classes.reduce((sum, c) => sum + Math.abs(share(rows, c) - share(all, c)), 0) / 2);
  return distances.reduce((a, b) => a + b, 0) / parts.length;
}

describe('parsePartition', () => {
  it('reads the four forms', () => {
    expect(parsePartition('iid')).toEqual({ kind: 'iid' });
    expect(parsePartition('dirichlet:0.5')).toEqual({ kind: 'dirichlet', alpha: 0.5 });
    expect(parsePartition('column:Home')).toEqual({ kind: 'column', column: 'Home' });
    expect(parsePartition('quantity:2')).toEqual({ kind: 'quantity', alpha: 2 });
  });

  it('refuses unknown forms and concentrations that are not positive numbers', () => {
    expect(() => parsePartition('random')).toThrow(/unknown partition "random"/);
    expect(() => parsePartition('dirichlet')).toThrow(/unknown partition/);
    expect(() => parsePartition('dirichlet:0')).toThrow(/positive number/);
    expect(() => parsePartition('quantity:abc')).toThrow(/positive number, at least 1e-300, not "abc"/);
    expect(() => parsePartition('column:')).toThrow(/unknown partition/);
    expect(() => parsePartition('dirichlet:1e-320')).toThrow(/at least 1e-300/);
  });
});

describe('stratifiedSplit', () => {
  it('holds out the fraction of every stratum and keeps the rest, each row once', () => {
    // Prepare: 60 of class a, 40 of class b
    const strata = labelsOf({ a: 60, b: 40 });
    // Execute
    const { train, test } = stratifiedSplit(strata, 0.25, seededRandom(1));
    // Assert: 15 of a and 10 of b held out
    expectExactCover([train, test], 100);
    expect(test.filter((i) => strata[i] === 'a')).toHaveLength(15);
    expect(test.filter((i) => strata[i] === 'b')).toHaveLength(10);
  });

  it('gives the same split for the same seed and another for another seed', () => {
    const strata = labelsOf({ a: 50, b: 50 });
    expect(stratifiedSplit(strata, 0.2, seededRandom(3))).toEqual(stratifiedSplit(strata, 0.2, seededRandom(3)));
    expect(stratifiedSplit(strata, 0.2, seededRandom(3)).test).not.toEqual(stratifiedSplit(strata, 0.2, seededRandom(4)).test);
  });

  it('bins a numeric target by rank into quantile strata', () => {
    // Prepare: ten values in scrambled order
    const values = [5, 1, 9, 3, 7, 0, 8, 2, 6, 4];
    // Execute
    const strata = quantileStrata(values, 5);
    // Assert: 0,1 -> bin 0; 2,3 -> bin 1; ... 8,9 -> bin 4
    expect(strata).toEqual(values.map((v) => String(Math.floor(v / 2))));
  });
});

describe('iidPartition', () => {
  it('deals every row to exactly one party, in shares that differ by one at most', () => {
    // Execute
    const parts = iidPartition(103, 5, seededRandom(7));
    // Assert
    expectExactCover(parts, 103);
    const sizes = parts.map((p) => p.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('is reproducible by seed', () => {
    expect(iidPartition(50, 3, seededRandom(2))).toEqual(iidPartition(50, 3, seededRandom(2)));
    expect(iidPartition(50, 3, seededRandom(2))).not.toEqual(iidPartition(50, 3, seededRandom(5)));
  });
});

describe('Gamma and Dirichlet draws', () => {
  it.each([0.3, 1, 4.5])('Gamma(%p) draws have mean and variance near the shape', (shape) => {
    // Prepare
    const random = seededRandom(11);
    // Execute
    const draws = Array.from({ length: 40_000 }, () => sampleGamma(shape, random));
    // Assert: for Gamma(k, 1), mean = variance = k
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
    expect(draws.every((g) => g >= 0 && Number.isFinite(g))).toBe(true);
    expect(Math.abs(mean - shape) / shape).toBeLessThan(0.03);
    expect(Math.abs(variance - shape) / shape).toBeLessThan(0.08);
  });

  it('Dirichlet proportions are positive-or-zero and sum to one, even for a tiny alpha', () => {
    const random = seededRandom(5);
    for (const alpha of [0.01, 0.5, 10]) {
      const p = sampleDirichlet(alpha, 6, random);
      expect(p).toHaveLength(6);
      expect(p.every((x) => x >= 0)).toBe(true);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });

  it('gives proportions for an alpha so small that every Gamma draw underflows, one party taking nearly all', () => {
    const random = seededRandom(5);
    for (const alpha of [1e-8, 1e-300]) {
      const p = sampleDirichlet(alpha, 5, random);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(Math.max(...p)).toBeGreaterThan(0.999);
    }
  });

  it('gives equal proportions for an alpha so large that the Gamma draws overflow their sum', () => {
    const p = sampleDirichlet(1e308, 5, seededRandom(5));
    expect(p.every((x) => Math.abs(x - 0.2) < 1e-9)).toBe(true);
  });
});

describe('dirichletLabelPartition', () => {
  const labels = labelsOf({ a: 600, b: 300, c: 100 });

  it('deals every row to exactly one party, none empty', () => {
    // Execute
    const parts = dirichletLabelPartition(labels, 5, 0.5, seededRandom(1));
    // Assert
    expect(parts).toHaveLength(5);
    expectExactCover(parts, labels.length);
    expect(parts.every((p) => p.length >= 1)).toBe(true);
  });

  it('skews the label mix more the smaller alpha is', () => {
    // Execute: the same data under strong, moderate and almost no skew, and IID
    const skew = (alpha: number) => labelSkew(dirichletLabelPartition(labels, 5, alpha, seededRandom(2)), labels);
    const strong = skew(0.1);
    const moderate = skew(1);
    const weak = skew(1000);
    const iid = labelSkew(iidPartition(labels.length, 5, seededRandom(2)), labels);
    // Assert: alpha 0.1 leaves parties far from the overall mix, alpha 1000 about as close as IID
    expect(strong).toBeGreaterThan(0.3);
    expect(strong).toBeGreaterThan(moderate);
    expect(moderate).toBeGreaterThan(weak);
    expect(weak).toBeLessThan(0.05);
    expect(iid).toBeLessThan(0.05);
  });

  it('keeps drawing until every party has the minimum, and says so when it cannot', () => {
    // Execute and Assert: 10 rows cannot give 4 parties 3 rows each
    const parts = dirichletLabelPartition(labels, 5, 0.1, seededRandom(3), 20);
    expect(Math.min(...parts.map((p) => p.length))).toBeGreaterThanOrEqual(20);
    expect(() => dirichletLabelPartition(labelsOf({ a: 5, b: 5 }), 4, 0.5, seededRandom(3), 3)).toThrow(
      /fewer than 3 rows; use fewer parties or a larger concentration/,
    );
  });

  it('deals each class to one party under a vanishing alpha, and evenly under a huge one', () => {
    const tiny = dirichletLabelPartition(labelsOf({ a: 30, b: 30 }), 2, 1e-300, seededRandom(2));
    expectExactCover(tiny, 60);
    expect(tiny.map((part) => part.length)).toEqual([30, 30]);
    const huge = dirichletLabelPartition(labels, 4, 1e308, seededRandom(2));
    expectExactCover(huge, labels.length);
    expect(huge.map((part) => part.length)).toEqual([250, 250, 250, 250]);
  });

  it('is reproducible by seed', () => {
    expect(dirichletLabelPartition(labels, 4, 0.5, seededRandom(9))).toEqual(dirichletLabelPartition(labels, 4, 0.5, seededRandom(9)));
  });
});

describe('quantityPartition', () => {
  it('deals every row to exactly one party, with sizes skewed by a small alpha', () => {
    // Execute
    const skewed = quantityPartition(1000, 5, 0.3, seededRandom(4));
    const even = quantityPartition(1000, 5, 1000, seededRandom(4));
    // Assert: the largest party dwarfs the smallest under alpha 0.3, not under alpha 1000
    expectExactCover(skewed, 1000);
    expectExactCover(even, 1000);
    const ratio = (parts: number[][]) => Math.max(...parts.map((p) => p.length)) / Math.min(...parts.map((p) => p.length));
    expect(ratio(skewed)).toBeGreaterThan(5);
    expect(ratio(even)).toBeLessThan(1.3);
    expect(skewed.every((p) => p.length >= 1)).toBe(true);
  });
});

describe('columnPartition', () => {
  it('makes one party per value holding exactly that value\'s rows, and one for the missing ones', () => {
    // Prepare
    const values = ['PT', 'FR', null, 'ES', 'FR', 'PT', null, 'FR'];
    // Execute
    const parts = columnPartition(values);
    // Assert: values in code-unit order, the missing last
    expect(parts).toEqual([
      { value: 'ES', rows: [3] },
      { value: 'FR', rows: [1, 4, 7] },
      { value: 'PT', rows: [0, 5] },
      { value: null, rows: [2, 6] },
    ]);
    expectExactCover(
      parts.map((p) => p.rows),
      values.length,
    );
  });

  it('has no party for missing values when none is missing', () => {
    expect(columnPartition(['b', 'a']).map((p) => p.value)).toEqual(['a', 'b']);
  });
});
