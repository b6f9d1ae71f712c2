/** Timing and summary helpers shared by every benchmark. */

/** Milliseconds from a monotonic clock, unaffected by wall-clock changes. */
export const now = (): number => performance.now();

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs `once` `repeats` times after `warmups` untimed runs; returns the median of its results. */
export async function medianOf(repeats: number, once: () => Promise<number> | number, warmups = 1): Promise<number> {
  for (let i = 0; i < warmups; i++) await once();
  const results: number[] = [];
  for (let i = 0; i < repeats; i++) results.push(await once());
  return median(results);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `probe` returns true; polls, since not every condition has an event. */
export async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
