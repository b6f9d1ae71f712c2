/**
 * The attacks by hand: what each kind makes of a global model and an honest
 * update, and of a site's statistics; parsing of KIND[:PARAM].
 */
import { seededRandom, type LocalStatistics } from '@fl/shared';
import { attackStatistics, attackWeights, flipLabels, formatAttack, parseAttack } from './attack';

describe('--attack KIND[:PARAM]', () => {
  it('reads each kind, with its default parameter when left out', () => {
    expect(parseAttack('sign-flip:10')).toEqual({ kind: 'sign-flip', param: 10 });
    expect(parseAttack('scale')).toEqual({ kind: 'scale', param: 10 });
    expect(parseAttack('inflate-samples:1e9')).toEqual({ kind: 'inflate-samples', param: 1e9 });
    expect(parseAttack('label-flip')).toEqual({ kind: 'label-flip' });
    expect(formatAttack(parseAttack('huge-weights:-1e30'))).toBe('huge-weights:-1e+30');
    expect(() => parseAttack('gaussian:0')).toThrow('gaussian:SIGMA must be above 0');
    expect(() => parseAttack('inflate-samples:2.5')).toThrow('inflate-samples:N must be a whole number');
  });
});

describe('the weights an attacker sends', () => {
  const global = Float32Array.of(1, 2, 3);
  const honest = Float32Array.of(2, 2, 1); // an honest difference of (1, 0, -2)
  const random = seededRandom(1);

  it('sign-flip:S sends the global model minus S times the honest difference', () => {
    expect(Array.from(attackWeights(global, honest, { kind: 'sign-flip', param: 10 }, random))).toEqual([-9, 2, 23]);
  });

  it('scale:S sends the global model plus S times the honest difference', () => {
    expect(Array.from(attackWeights(global, honest, { kind: 'scale', param: 3 }, random))).toEqual([4, 2, -3]);
  });

  it('nan, huge-weights and gaussian replace the weights; others send the honest update', () => {
    expect(Array.from(attackWeights(global, honest, { kind: 'nan' }, random)).every(Number.isNaN)).toBe(true);
    expect(Array.from(attackWeights(global, honest, { kind: 'huge-weights', param: 3e38 }, random))).toEqual([3e38, 3e38, 3e38].map(Math.fround));
    const noise = attackWeights(global, honest, { kind: 'gaussian', param: 2 }, seededRandom(7));
    expect(Array.from(noise)).toEqual(Array.from(attackWeights(global, honest, { kind: 'gaussian', param: 2 }, seededRandom(7))));
    expect(Array.from(noise)).not.toEqual(Array.from(honest));
    expect(Array.from(attackWeights(global, honest, { kind: 'inflate-samples', param: 5 }, random))).toEqual([2, 2, 1]);
  });
});

describe('the statistics an attacker reports', () => {
  const stats: LocalStatistics = {
    rows: 10,
    features: [
      { name: 'x', type: 'numeric', count: 8, sum: 16, sumSquares: 40, missing: 2 },
      { name: 'c', type: 'categorical', counts: [['a', 3], ['b', 7]], missing: 0 },
    ],
    target: { type: 'categorical', counts: [['no', 6], ['yes', 4]] },
  };

  it('inflate-samples:N scales every count and sum alike, so only the row count is implausible', () => {
    const inflated = attackStatistics(stats, { kind: 'inflate-samples', param: 1000 });
    expect(inflated).toEqual({
      rows: 1000,
      features: [
        { name: 'x', type: 'numeric', count: 800, sum: 1600, sumSquares: 4000, missing: 200 },
        { name: 'c', type: 'categorical', counts: [['a', 300], ['b', 700]], missing: 0 },
      ],
      target: { type: 'categorical', counts: [['no', 600], ['yes', 400]] },
    });
  });

  it('huge-sums:V sets every numeric sum; extra-class moves one row to a class of its own', () => {
    expect(attackStatistics(stats, { kind: 'huge-sums', param: 1e300 }).features[0]).toMatchObject({ sum: 1e300, sumSquares: 1e300 });
    expect(attackStatistics(stats, { kind: 'extra-class' }).target).toEqual({ type: 'categorical', counts: [['no', 5], ['yes', 4], ['attack-class', 1]] });
  });

  it('shift-means:S moves each numeric mean by S of its own deviations, keeping counts and spread', () => {
    // x: 8 values of mean 2 and deviation 1, moved to mean 12
    expect(attackStatistics(stats, { kind: 'shift-means', param: 10 })).toEqual({ ...stats, features: [{ ...stats.features[0], sum: 96, sumSquares: 1160 }, stats.features[1]] });
  });

  it('label-flip trains on class k-1-i for class i, and mirrors a numeric target', () => {
    expect(flipLabels(['b', 'a', 'c', 'a'], ['c', 'a', 'b'])).toEqual(['b', 'c', 'a', 'c']);
    expect(flipLabels(['1', '5', '2'], [])).toEqual(['5', '1', '4']);
  });
});
