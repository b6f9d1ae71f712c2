/**
 * A job's `dp` options, and the privacy it has spent after some rounds. Every
 * eligible site takes part in every round (sampling rate 1), so the accountant's
 * state is a function of the committed round count, which the job stores: ε
 * survives restarts without a state of its own.
 */
import { z } from 'zod';
import { compose, emptyAccountant, epsilonFromRdp } from './rdp';

export const DpSpecSchema = z.strictObject({
  /** z: the noise's standard deviation in units of clipNorm */
  noiseMultiplier: z.number().positive().max(100),
  /** C: each site's update (its difference from the global model) is clipped to this L2 norm */
  clipNorm: z.number().positive().max(1e6),
  delta: z.number().positive().max(0.01),
  /** the job stops before a round would take ε above this */
  epsilonBudget: z.number().positive().optional(),
});
export type DpSpec = z.infer<typeof DpSpecSchema>;

/** ε after `rounds` rounds of a job's DP mechanism (sampling rate 1). */
export function epsilonAfter(dp: DpSpec, rounds: number): number {
  return rounds === 0 ? 0 : epsilonFromRdp(compose(emptyAccountant(), 1, dp.noiseMultiplier, rounds).rdp, dp.delta).epsilon;
}

/** The most ε a job may spend: it stops before its budget, so the least of the budget and its ε after all its rounds. */
export const mostEpsilon = (dp: DpSpec, rounds: number): number => Math.min(dp.epsilonBudget ?? Infinity, epsilonAfter(dp, rounds));

/** Whether round `round` may run: false when it would take ε over the budget. */
export const withinBudget = (dp: DpSpec, round: number): boolean => dp.epsilonBudget === undefined || epsilonAfter(dp, round) <= dp.epsilonBudget;
