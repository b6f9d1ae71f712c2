/**
 * What one enrolled participant's junk costs the coordinator: validly signed
 * statistics of 100,000 features with 200-character names (~29 MB of JSON) for
 * a job that waits for participants and awaits none from it, sent one after
 * another's ack by a light participant in its own process. The figure is the
 * longest the coordinator's event loop was held meanwhile: how long every
 * other participant and admin waited.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { JobView } from '@fl/shared';
import { Federation } from './federation';
import { spec } from './rounds';

export async function floodBench(): Promise<Record<string, number>> {
  const federation = await Federation.start();
  try {
    const job = await federation.api<JobView>('POST', '/api/jobs', spec('logistic', 10, 3));
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    // Three: each counts 30 refusals (one and one per MiB), so the default limit of 100 closes the connection after the fourth.
    const codes = await federation.flood({ job: job.id, features: 100_000, messages: 3 });
    stalls.disable();
    if (codes.length !== 3 || codes.some((code) => code !== 'NOT_SELECTED')) throw new Error(`the flood was answered ${codes.join(', ')}, not NOT_SELECTED three times`);
    return { 'flood.statistics_29mb.maxStallMs': stalls.max / 1e6 };
  } finally {
    await federation.close();
  }
}
