/**
 * The weighted average folds updates two at a time. Its result must be the one
 * of folding each update in its turn, bit for bit: the audit verifier recomputes
 * committed models and compares their SHA-256.
 */
import { MEAN_PIECE, WeightedAverage } from './average';
import { seededRandom } from './random';

/** The arithmetic the average stands for: each update folded in its turn, then divided. */
function oneAtATime(updates: Float32Array[], weights: number[]): { sum: Float64Array; mean: Float32Array } {
  const sum = new Float64Array(updates[0].length);
  updates.forEach((update, u) => {
    for (let i = 0; i < sum.length; i++) sum[i] += update[i] * weights[u];
  });
  const total = weights.reduce((a, b) => a + b, 0);
  return { sum, mean: Float32Array.from(sum, (s) => s / total) };
}

const sameBits = (a: Float32Array | Float64Array, b: Float32Array | Float64Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

/** Updates whose float sums depend on the order of adding: wide magnitudes; 13 weights, not a multiple of 8. */
function updates(count: number, seed: number): { updates: Float32Array[]; weights: number[] } {
  const random = seededRandom(seed);
  return {
    updates: Array.from({ length: count }, () => Float32Array.from({ length: 13 }, () => (random() - 0.5) * 10 ** Math.floor(random() * 12 - 6))),
    weights: Array.from({ length: count }, () => 1 + Math.floor(random() * 5000)),
  };
}

describe('WeightedAverage', () => {
  it.each([1, 2, 3, 4, 5, 20, 21])('gives, for %i updates, the bits of folding each in its turn', (count) => {
    // Prepare
    const { updates: list, weights } = updates(count, count);
    const average = new WeightedAverage(13, new Float64Array(13).fill(Number.NaN));
    const sums: boolean[] = [];
    // Execute: the running sum is read after every second update, when no update waits for its pair
    list.forEach((update, u) => {
      average.add(update, weights[u]);
      if (u % 2 === 1) sums.push(sameBits(average.buffer, oneAtATime(list.slice(0, u + 1), weights.slice(0, u + 1)).sum));
    });
    const result = average.result()!;
    // Assert: identical bits, not merely close values, of the float64 sums too; a reused sum's old contents play no part
    expect(sums).toEqual(Array.from({ length: Math.floor(count / 2) }, () => true));
    expect(sameBits(result, oneAtATime(list, weights).mean)).toBe(true);
    expect(average.weight).toBe(weights.reduce((a, b) => a + b, 0));
  });

  it('depends on the order of the updates, as float sums do, which is why the audit records that order', () => {
    // Prepare
    const { updates: list, weights } = updates(4, 7);
    const forward = new WeightedAverage(13);
    const backward = new WeightedAverage(13);
    // Execute
    list.forEach((update, u) => forward.add(update, weights[u]));
    [...list.keys()].reverse().forEach((u) => backward.add(list[u], weights[u]));
    // Assert: each order has the bits of its reference, and the two orders' sums differ somewhere
    expect(sameBits(forward.buffer, oneAtATime(list, weights).sum)).toBe(true);
    expect(sameBits(backward.buffer, oneAtATime([...list].reverse(), [...weights].reverse()).sum)).toBe(true);
    expect(sameBits(forward.buffer, backward.buffer)).toBe(false);
  });

  it('has no result before an update, refuses an update of another size, and is taken once', () => {
    // Prepare
    const empty = new WeightedAverage(3);
    const average = new WeightedAverage(3);
    average.add(Float32Array.of(1, 2, 3), 1);
    // Execute and Assert
    expect(empty.result()).toBeNull();
    expect(() => average.add(new Float32Array(4), 1)).toThrow('update size differs');
    expect(average.result()).toEqual(Float32Array.of(1, 2, 3));
    expect(() => average.result()).toThrow('already taken');
    expect(() => average.add(Float32Array.of(1, 2, 3), 1)).toThrow('after the result was taken');
  });

  it.each([
    ['one update (none folded)', 1],
    ['two updates (none waiting)', 2],
    ['three updates (one waiting)', 3],
  ])('hands over its mean piece by piece, in order, with the bits of the whole, for %s', (_, count) => {
    // Prepare: two pieces and a short one
    const size = 2 * MEAN_PIECE + 3;
    const random = seededRandom(count);
    const list = Array.from({ length: count }, () => Float32Array.from({ length: size }, () => (random() - 0.5) * 10 ** Math.floor(random() * 12 - 6)));
    const weights = list.map((_, u) => 1 + u * 17);
    const whole = new WeightedAverage(size);
    const inPieces = new WeightedAverage(size);
    list.forEach((update, u) => {
      whole.add(update, weights[u]);
      inPieces.add(update, weights[u]);
    });
    const pieces: Float32Array[] = [];
    // Execute: a copy of each piece as it is handed over
    const mean = inPieces.result((piece) => pieces.push(piece.slice()))!;
    // Assert
    expect(pieces.map((p) => p.length)).toEqual([MEAN_PIECE, MEAN_PIECE, 3]);
    const joined = new Float32Array(size);
    pieces.reduce((at, piece) => (joined.set(piece, at), at + piece.length), 0);
    expect(sameBits(joined, mean)).toBe(true);
    expect(sameBits(mean, whole.result()!)).toBe(true);
    expect(sameBits(mean, oneAtATime(list, weights).mean)).toBe(true);
  });
});
