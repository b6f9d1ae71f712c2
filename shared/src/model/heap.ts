/**
 * Garbage collection in a process that receives and sends models every round.
 */
import * as v8 from 'node:v8';

/**
 * How far V8 lets the old generation grow past what its last full collection
 * kept: 300% (4x) instead of V8's own factor, which depends on how fast it
 * collects (the coordinator's 27 MB heap got a 50 MB limit, +85%, in a
 * --trace-incremental-marking run). Model-sized buffers come and go every round
 * outside the heap, and V8 counts them against the same limit, so with a
 * 1,000,000-weight model each process marked its whole heap about every round.
 * On the benchmark machine (five agents and the coordinator on two cores) that
 * was ~10 ms of the coordinator's CPU a round and ~20 ms of the agents', and
 * the round took ~90 ms instead of ~80. A coordinator with 500 connected
 * participants resided in 235 MiB with it and 226 without (one run each;
 * bench: scale.n500.coordinatorRssMb).
 */
const HEAP_GROWING_PERCENT = 300;

/**
 * Sets the growing percent above for this process, unless it was started with
 * its own. Process-wide, as V8's flags are; V8 reads this one at every full
 * collection, so setting it after start takes effect from the next.
 */
export function tuneHeapForModels(): void {
  if (process.execArgv.some((arg) => arg.replace(/_/g, '-').startsWith('--heap-growing-percent'))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
