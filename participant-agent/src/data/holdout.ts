/**
 * A participant's local held-out rows: a seeded share of its prepared data that
 * it never trains on, used to evaluate global models for federated evaluation.
 * The same seed always holds out the same rows, round after round.
 */
import { seededRandom, type Preprocessing } from '@fl/shared';
import { encodeFeatures, encodeTarget, type PrepareReport, type PreparedData } from './preprocess';
import type { LocalTable } from './table';

/**
 * Positions 0..n-1 in two parts, each sorted back into file order so that training
 * sees rows as the file has them: `fraction` held out (at least one when there are
 * two or more), the rest to train on.
 */
export function holdoutPositions(n: number, fraction: number, seed: number): { train: Uint32Array; holdout: Uint32Array } {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  const random = seededRandom(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  return { train: order.subarray(held).sort(), holdout: order.subarray(0, held).sort() };
}

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

/** Splits off `fraction` of the rows of prepared data. */
export function splitHoldout(data: PreparedData, fraction: number, seed: number): { train: PreparedData; holdout: PreparedData } {
  const { train, holdout } = holdoutPositions(data.n, fraction, seed);
  return { train: pick(data, train), holdout: pick(data, holdout) };
}

/** Keys are column names from partners' files, so they must not reach Object.prototype. */
function added(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum = Object.create(null) as Record<string, number>;
  for (const key of Object.keys(a)) sum[key] = a[key] + (b[key] ?? 0);
  return sum;
}

/**
 * The same parts as prepare then splitHoldout, each encoded straight from the
 * table: the whole matrix is never held beside its two parts.
 */
export function prepareSplit(
  table: LocalTable,
  preprocessing: Preprocessing,
  fraction: number,
  seed: number,
): { train: PreparedData; holdout: PreparedData } {
  const target = encodeTarget(table, preprocessing.target);
  const positions = holdoutPositions(target.rows.length, fraction, seed);
  const [train, holdout] = [positions.train, positions.holdout].map((at) => ({
    ...encodeFeatures(
      table,
      preprocessing,
      at.map((i) => target.rows[i]),
    ),
    y: Float32Array.from(at, (i) => target.y[i]),
  }));
  const report: PrepareReport = {
    droppedMissingTarget: target.droppedMissingTarget,
    unknownTargets: target.unknownTargets,
    imputed: added(train.imputed, holdout.imputed),
    unknownCategories: added(train.unknownCategories, holdout.unknownCategories),
  };
  const part = ({ n, d, x, y }: PreparedData | typeof train): PreparedData => ({ n, d, x, y, report });
  return { train: part(train), holdout: part(holdout) };
}
