import { addDiscreteGaussian, clipL2, discreteGaussian, partyNoiseLevels, secureUniform } from './noise';

describe('DP noise', () => {
  it('clips to the L2 norm and leaves shorter vectors alone', () => {
    const long = Float64Array.from([3, 4]);
    expect(clipL2(long, 1)).toBeCloseTo(0.2);
    expect(Math.hypot(long[0], long[1])).toBeCloseTo(1, 12);
    const short = Float64Array.from([0.3, 0.4]);
    expect(clipL2(short, 1)).toBe(1);
    expect(Array.from(short)).toEqual([0.3, 0.4]);
  });

  it('discrete Gaussian samples are integers with mean 0 and variance σ²', () => {
    const random = secureUniform();
    for (const sigma of [0.8, 3, 40]) {
      const n = 40_000;
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < n; i++) {
        const x = discreteGaussian(sigma, random);
        expect(Number.isInteger(x)).toBe(true);
        sum += x;
        sq += x * x;
      }
      const variance = sq / n - (sum / n) ** 2;
      // the discrete Gaussian's variance is below σ² and within 1% of it for σ ≥ 1
      expect(Math.abs(sum / n)).toBeLessThan((5 * sigma) / Math.sqrt(n));
      expect(variance).toBeGreaterThan(sigma * sigma * (sigma < 1 ? 0.6 : 0.95));
      expect(variance).toBeLessThan(sigma * sigma * 1.05);
    }
  });
});

describe('distributed noise under secure aggregation', () => {
  it('parties that each add their share of the noise make a sum with σ = z·C', () => {
    const parties = 5;
    const levelsPerUnit = 1000;
    const sigma = partyNoiseLevels(1.2, 0.5, levelsPerUnit, parties);
    const d = 20_000;
    const sum = new Uint32Array(d);
    const random = secureUniform();
    for (let p = 0; p < parties; p++) {
      const input = new Uint32Array(d);
      addDiscreteGaussian(input, sigma, d, random);
      for (let i = 0; i < d; i++) sum[i] += input[i];
    }
    let sq = 0;
    for (const v of sum) sq += ((v | 0) / levelsPerUnit) ** 2;
    const sd = Math.sqrt(sq / d);
    expect(sd).toBeGreaterThan(0.6 * 0.97);
    expect(sd).toBeLessThan(0.6 * 1.03);
  });
});
