/**
 * Synthetic data for the benchmarks: features uniform in [-0.5, 0.5) and a 0/1
 * label from a fixed linear rule, seeded, so that every run does the same work.
 */
import * as fs from 'node:fs';
import { seededRandom } from '@fl/shared';

export function featureNames(d: number): string[] {
  return Array.from({ length: d }, (_, j) => `f${j}`);
}

/** n rows of d features, row-major, and their labels. */
export function logisticData(n: number, d: number, seed: number): { x: Float32Array; y: Float32Array } {
  const random = seededRandom(seed);
  // The same rule for every seed: parties hold different rows of one problem.
  const ruleRandom = seededRandom(1);
  const truth = Float64Array.from({ length: d }, () => ruleRandom() - 0.5);
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < d; j++) {
      const v = random() - 0.5;
      x[i * d + j] = v;
      z += v * truth[j];
    }
    y[i] = z > 0 ? 1 : 0;
  }
  return { x, y };
}

/** The same data as a CSV file with columns f0..f{d-1} and label, as a party's agent reads it. */
export function writeLogisticCsv(file: string, n: number, d: number, seed: number): void {
  const { x, y } = logisticData(n, d, seed);
  const lines = [[...featureNames(d), 'label'].join(',')];
  for (let i = 0; i < n; i++) {
    const row: string[] = [];
    for (let j = 0; j < d; j++) row.push(x[i * d + j].toFixed(4));
    row.push(String(y[i]));
    lines.push(row.join(','));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}
