import { cappedMeans, cappedWeights } from './metrics';

describe('the metrics the coordinator reports', () => {
  it('weights each site by its count, capped at the lower median count', () => {
    expect(cappedWeights([10, 20, 30, 1e9, 40])).toEqual([10, 20, 30, 30, 30]);
    expect(cappedWeights([5, 1e9])).toEqual([5, 5]);
    expect(cappedWeights([])).toEqual([]);
  });

  it('cannot be steered by one site claiming a huge count', () => {
    // Prepare: four honest sites near 0.9 accuracy, and one claiming 1e9 examples at 0.06
    const honest = [0.9, 0.92, 0.88, 0.9].map((accuracy) => ({ metrics: { accuracy }, count: 100 }));
    // Execute
    const means = cappedMeans([...honest, { metrics: { accuracy: 0.06 }, count: 1e9 }]);
    // Assert: (0.9 + 0.92 + 0.88 + 0.9 + 0.06) * 100 / 500 = 0.732, where plain weighting would say 0.06
    expect(means.accuracy).toBeCloseTo(0.732);
  });

  it('leaves out a metric whose mean overflows, rather than report it as Infinity (null once stored)', () => {
    const means = cappedMeans([{ metrics: { mse: 1.7e308, loss: 1 }, count: 2 }, { metrics: { mse: 1.7e308, loss: 3 }, count: 2 }]);
    expect(means).toEqual({ loss: 2 });
  });

  it('keeps plain sample weighting for sites up to the median size', () => {
    // (1 * 2 + 3 * 4 + 5 * 4) / 10: the largest is capped at the median, 4
    expect(cappedMeans([{ metrics: { loss: 1 }, count: 2 }, { metrics: { loss: 3 }, count: 4 }, { metrics: { loss: 5 }, count: 8 }]).loss).toBeCloseTo(3.4);
  });
});
