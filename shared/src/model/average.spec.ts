/**
 * The weighted average is FedAvg's arithmetic; the audit verifier recomputes
 * committed models with it and compares their SHA-256, so its bits matter.
 */
import { WeightedAverage } from './average';

describe('WeightedAverage', () => {
  it('weights each model by its sample count', () => {
    // Prepare
    const average = new WeightedAverage(2);
    // Execute
    average.add(Float32Array.of(1, 10), 1);
    average.add(Float32Array.of(4, 20), 3);
    // Assert: (1·1 + 4·3) / 4 = 3.25, (10·1 + 20·3) / 4 = 17.5
    expect(Array.from(average.result()!)).toEqual([3.25, 17.5]);
    expect(average.weight).toBe(4);
  });

  it('depends on the order of the updates, as float sums do, which is why the audit records that order', () => {
    // Prepare: 2^60 + 1 is 2^60 in float64, so the 1 survives only when added after the large values cancel
    const list = [Float32Array.of(2 ** 60), Float32Array.of(-(2 ** 60)), Float32Array.of(1)];
    const forward = new WeightedAverage(1);
    const backward = new WeightedAverage(1);
    // Execute
    list.forEach((update) => forward.add(update, 1));
    [...list].reverse().forEach((update) => backward.add(update, 1));
    // Assert
    expect(forward.result()![0]).toBe(Math.fround(1 / 3));
    expect(backward.result()![0]).toBe(0);
  });

  it('has no result before an update, and refuses an update of another size', () => {
    // Prepare
    const average = new WeightedAverage(3);
    // Execute and Assert
    expect(average.result()).toBeNull();
    expect(() => average.add(new Float32Array(4), 1)).toThrow('update size differs');
  });
});
