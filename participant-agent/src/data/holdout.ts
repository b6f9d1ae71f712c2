/**
 * A participant's local held-out rows: a seeded share of its prepared data that
 * it never trains on, used to evaluate global models for federated evaluation.
 * The same seed always holds out the same rows, round after round.
 */
import { seededRandom } from '@fl/shared';
import type { PreparedData } from './preprocess';

function pick(data: PreparedData, rows: Uint32Array): PreparedData {
  const { d } = data;
  const x = new Float32Array(rows.length * d);
  const y = new Float32Array(rows.length);
  // Element by element: a subarray per row would be a million small objects for a million rows.
  for (let i = 0, to = 0; i < rows.length; i++) {
    const r = rows[i];
    for (let j = 0, from = r * d; j < d; j++) x[to++] = data.x[from + j];
    y[i] = data.y[r];
  }
  return { n: rows.length, d, x, y, report: data.report };
}

/** Splits off `fraction` of the rows (at least one when there are two or more). */
export function splitHoldout(data: PreparedData, fraction: number, seed: number): { train: PreparedData; holdout: PreparedData } {
  const order = Uint32Array.from({ length: data.n }, (_, i) => i);
  const random = seededRandom(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = data.n < 2 ? 0 : Math.min(data.n - 1, Math.max(1, Math.round(data.n * fraction)));
  // Sorted back into file order, so that training sees rows as the file has them.
  const holdout = order.subarray(0, held).sort();
  const train = order.subarray(held).sort();
  return { train: pick(data, train), holdout: pick(data, holdout) };
}
