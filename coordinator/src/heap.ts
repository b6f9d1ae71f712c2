import * as v8 from 'node:v8';

/**
 * The V8 heap setting `fl-coordinator` makes at start (the benchmarks that run a coordinator in process make it too).
 * A replica serving thousands of agents makes garbage fast, and V8's own growing factor then lets its heap reach up to
 * 4x what the last full collection kept; 1.5x keeps a replica's memory bounded (docs/performance.md, "Memory").
 * A setting given on the command line (`node --heap-growing-percent=N`) wins.
 */
export function limitHeapGrowth(): void {
  if (!process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) v8.setFlagsFromString('--heap-growing-percent=50');
}
