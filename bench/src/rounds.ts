/**
 * The federated benchmarks: whole rounds over loopback with every agent in a
 * separate process, signed messages and the real SQLite store.
 *
 * Model sizes. d = 100 is a logistic model on 100 numeric columns (101 weights)
 * trained by real fl-agent processes on CSV files. The large models are softmax
 * models whose size comes from the class count, since a job has at most 10,000
 * feature columns: 249 columns x 4,000 classes gives (249 + 1) x 4,000 =
 * 1,000,000 weights, 999 columns x 10,000 classes gives 10,000,000. Their
 * participants are light agents (light-agent.ts) that answer the statistics
 * phase with statistics of standardized columns and "train" by adding noise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobSpecInput } from '@fl/shared';
import { Federation, roundIntervals, type CpuSnapshot, type JobTimeline } from './federation';
import { median } from './measure';
import { syntheticClasses } from './light-agent';
import { neighboursFor } from './secagg';
import { featureNames, writeLogisticCsv } from './synthetic';

/** Jobs timed per benchmark, after the warm-up jobs; the figure is their median. */
const REPEATS = 5;
/**
 * Untimed jobs first. V8 optimizes a function once it has run often with
 * settled type feedback, and the code of a round runs only a few times per
 * round in each process, so a fresh federation keeps getting faster for
 * thousands of rounds. At n = 5, d = 100, in one job of 3,000 rounds, the
 * median round over each 250 rounds went 9.1, 7.9, 6.7, 6.4, 5.8, 5.4 ms and
 * stayed at 5.0-5.4 from round 1,500 on; at n = 20, 26.8, 24.6, 22.2, 22.9,
 * 24.5, then 20.2-21.1 from round 1,250 on (the agents, one per process, run
 * their round code as often at n = 20 as at n = 5). A warm-up of one job of
 * 1,000 rounds, as this benchmark once ran, left the timed jobs in the middle
 * of that climb. The warm-up is five jobs rather than one long job because a
 * new job changes things a long job does not: the first job after a single
 * warm-up job threw away the agent's optimized code for its round (the job's
 * prepared data replaces the previous job's, a change V8 had assumed would not
 * come) and ran it unoptimized for the rest of the benchmark. The figures are
 * of processes that, at a partner site, run for weeks and many jobs; the
 * median round of each warm-up job goes to stderr beside them.
 *
 * A d = 1,000,000 round is mostly native work (hashing, folding, copying), and
 * its curve flattens sooner: 71.8 ms over rounds 1-50, 65.8 over 51-100, 64.6
 * over 101-150 (one job of 400 rounds). Each of its rounds also stores a 4 MB
 * model, hence fewer rounds there.
 */
const WARMUP = { d100: { jobs: 5, rounds: 500 }, d1m: { jobs: 1, rounds: 100 } } as const;
/** Rounds timed per job, after the first. */
const TIMED_ROUNDS = 10;

export function spec(model: 'logistic' | 'softmax', columns: number, participants: number, change: Partial<JobSpecInput> = {}): JobSpecInput {
  return {
    name: `bench ${model} ${columns} columns, ${participants} participants`,
    model,
    features: featureNames(columns).map((name) => ({ name, type: 'numeric' as const })),
    target: 'label',
    rounds: TIMED_ROUNDS + 1,
    minParticipants: participants,
    roundDeadlineSeconds: 120,
    localEpochs: 1,
    batchSize: 32,
    learningRate: 0.1,
    ...change,
  };
}

/**
 * Wall time of rounds 2..11 divided by 10: from round 1's commit to round 11's,
 * evaluation phases included. The CPU time spent per round meanwhile goes to
 * stderr: on two cores it bounds what the wall time can be.
 */
function perRound(timeline: JobTimeline): number {
  const { first, last } = timeline.cpu;
  if (first && last) {
    const cpu = (key: Exclude<keyof CpuSnapshot, 'perParticipant'>) => ((last[key] - first[key]) / TIMED_ROUNDS).toFixed(1);
    process.stderr.write(
      `  CPU per round: coordinator ${cpu('coordinator')} ms (system ${cpu('coordinatorSystem')}), ` +
        `agents ${cpu('agents')} ms in all (system ${cpu('agentsSystem')})\n`,
    );
  }
  return (timeline.rounds[TIMED_ROUNDS] - timeline.rounds[0]) / TIMED_ROUNDS;
}

async function medianRound(federation: Federation, job: JobSpecInput, warmup: { jobs: number; rounds: number }): Promise<number> {
  const warm: string[] = [];
  for (let i = 0; i < warmup.jobs; i++) {
    const timeline = await federation.runJob({ ...job, rounds: warmup.rounds }, { timeoutMs: 3_600_000 });
    warm.push(median(roundIntervals(timeline, 2, warmup.rounds)).toFixed(2));
  }
  process.stderr.write(`  warm-up of ${warmup.jobs} x ${warmup.rounds} rounds, median round of each job: ${warm.join(', ')} ms\n`);
  const figures: number[] = [];
  for (let i = 0; i < REPEATS; i++) figures.push(perRound(await federation.runJob(job)));
  return median(figures);
}

async function withFederation<T>(options: { maxFrameBytes?: number }, body: (federation: Federation) => Promise<T>): Promise<T> {
  const federation = await Federation.start(options);
  try {
    return await body(federation);
  } finally {
    await federation.close();
  }
}

/**
 * n real agents, each training 1 epoch over 2,000 local rows (batch 32, lr 0.1)
 * and evaluating the new global model on its 500 held-out rows every round.
 */
export function roundD100(participants: number): Promise<number> {
  return withFederation({}, async (federation) => {
    const d = 100;
    fs.mkdirSync(path.join(federation.dir, 'data'));
    const files = Array.from({ length: participants }, (_, i) => {
      const file = path.join(federation.dir, 'data', `party-${i + 1}.csv`);
      writeLogisticCsv(file, 2500, d, 100 + i);
      return file;
    });
    await federation.startAgents('agent', files);
    const job = spec('logistic', d, participants, { evaluateEvery: 1, evaluationFraction: 0.2 });
    return medianRound(federation, job, WARMUP.d100);
  });
}

/** n light agents on a 1,000,000-weight model, training trivial, no evaluation. */
export function roundD1m(participants: number): Promise<number> {
  return withFederation({}, async (federation) => {
    await federation.startLightAgents('light', participants, participants, { rows: 2000, classes: 4000 });
    const job = spec('softmax', 249, participants, { evaluateEvery: 0 });
    return medianRound(federation, job, WARMUP.d1m);
  });
}

/**
 * 500 light participants, 50 per process, all contributing to a d = 100 model
 * without evaluation: the median round time, and the largest resident memory of
 * the process that runs the coordinator, sampled every 50 ms from the first
 * connection to the end of the job.
 */
export function scaleN500(): Promise<Record<string, number>> {
  return withFederation({}, async (federation) => {
    const participants = 500;
    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
    try {
      await federation.startLightAgents('scale', participants, 10, { rows: 2000, classes: 2 });
      const timeline = await federation.runJob(spec('logistic', 100, participants, { rounds: 8, evaluateEvery: 0 }));
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      return {
        'scale.n500.coordinatorRssMb': peakRss / 2 ** 20,
        'scale.n500_d100.roundMs': median(roundIntervals(timeline, 2, 8)),
      };
    } finally {
      clearInterval(sampler);
    }
  });
}

/** The coordinator's frame limit in the transfer benchmark: each 40 MB message crosses it in three pieces. */
const TRANSFER_FRAME_BYTES = 16 * 2 ** 20;

/**
 * Two light agents on a 10,000,000-weight model (40 MB a message each way). The
 * coordinator's frame limit is 16 MiB, so each train request comes down and each
 * update goes up in acknowledged pieces (the protocol's chunked messages). The
 * figure is the median of three rounds' wall times, the first from the start of
 * training, each later one from the previous commit.
 */
export function transferD10m(): Promise<number> {
  return withFederation({ maxFrameBytes: TRANSFER_FRAME_BYTES }, async (federation) => {
    await federation.startLightAgents('transfer', 2, 2, { rows: 2000, classes: 10_000 });
    const timeline = await federation.runJob(spec('softmax', 999, 2, { rounds: 3, evaluateEvery: 0 }), { timeoutMs: 600_000 });
    return median(roundIntervals(timeline, 1, 3)) / 1000;
  });
}

/** Declared bounds of the light agents' standardized columns, for a secure job's statistics. */
const STANDARDIZED_BOUNDS: [number, number] = [-4, 4];
/** Rounds per timed job of the secure-aggregation overhead, after the first; fewer at d = 100,000, whose rounds are slower. */
const OVERHEAD_ROUNDS = { d100: 20, d100k: 5 } as const;
/** Timed jobs of each kind, alternated so that both see the same machine; the figure is the median of their mean rounds. */
const OVERHEAD_REPEATS = 3;

/**
 * A secure-aggregation round against a plain FedAvg round, in the same run:
 * n light agents (at most 10 per process) on a d = 100 logistic model or a
 * d = 100,000 softmax model (99 columns x 1,000 classes), each job's rounds
 * timed from commit to commit, after a warm-up job of each kind. The secure
 * job has SecAgg+ with the neighbours of the in-process benchmark (secagg.ts)
 * and the default threshold; its parties mask with the agent's own code.
 *
 * Two figures per kind of round (docs/performance.md, "Secure aggregation"):
 * `plainMs`/`secureMs`, the wall time with every agent and the coordinator on
 * this machine's cores, and `plainSitesMs`/`secureSitesMs`, the CPU time on the
 * round's critical path when each site has a machine of its own: the
 * coordinator's CPU per round plus that of the busiest participant (its
 * process's CPU per round over the participants it runs).
 */
export function secaggOverhead(participants: number, d: 100 | 100_000): Promise<Record<string, number>> {
  return withFederation({}, async (federation) => {
    const large = d === 100_000;
    const processes = Math.min(participants, 10);
    const classes = large ? 1000 : 2;
    await federation.startLightAgents('secagg', participants, processes, { rows: 2000, classes });
    const rounds = large ? OVERHEAD_ROUNDS.d100k : OVERHEAD_ROUNDS.d100;
    const plain = large ? spec('softmax', 99, participants, { evaluateEvery: 0, rounds: rounds + 1 }) : spec('logistic', 100, participants, { evaluateEvery: 0, rounds: rounds + 1 });
    const secure: JobSpecInput = {
      ...plain,
      name: `${plain.name}, secure`,
      secureAggregation: { ...neighboursFor(participants), range: 1, maxWeight: 1000 },
      // Its statistics phase (secure round 0) sums over declared bounds and classes: those of the light agents' standardized columns.
      features: plain.features.map((f) => ({ ...f, bounds: STANDARDIZED_BOUNDS })),
      classes: syntheticClasses(plain.model, classes),
    };
    /** The job's mean round: wall time, and CPU on the critical path of separate sites. */
    const mean = (timeline: JobTimeline): { wall: number; sites: number } => {
      const { first, last } = timeline.cpu;
      if (!first || !last) throw new Error('no CPU snapshot of the first or last round');
      const coordinator = (last.coordinator - first.coordinator) / rounds;
      const busiest = Math.max(...last.perParticipant.map((cpu, i) => (cpu - (first.perParticipant[i] ?? 0)) / rounds));
      process.stderr.write(`  CPU per round: coordinator ${coordinator.toFixed(0)} ms, agents ${((last.agents - first.agents) / rounds).toFixed(0)} ms in all, busiest participant ${busiest.toFixed(1)} ms\n`);
      return { wall: (timeline.rounds[rounds] - timeline.rounds[0]) / rounds, sites: coordinator + busiest };
    };
    await federation.runJob(plain, { timeoutMs: 1_800_000 });
    await federation.runJob(secure, { timeoutMs: 1_800_000 });
    const plainRuns: { wall: number; sites: number }[] = [];
    const secureRuns: { wall: number; sites: number }[] = [];
    for (let i = 0; i < OVERHEAD_REPEATS; i++) {
      plainRuns.push(mean(await federation.runJob(plain, { timeoutMs: 1_800_000 })));
      secureRuns.push(mean(await federation.runJob(secure, { timeoutMs: 1_800_000 })));
    }
    const name = `secagg.n${participants}_d${large ? '100k' : '100'}`;
    const shown = (runs: { wall: number; sites: number }[]) => runs.map((r) => `${r.wall.toFixed(1)} (sites ${r.sites.toFixed(1)})`).join(', ');
    process.stderr.write(`  ${name}: plain rounds ${shown(plainRuns)} ms; secure ${shown(secureRuns)} ms\n`);
    const [p, s] = [median(plainRuns.map((r) => r.wall)), median(secureRuns.map((r) => r.wall))];
    const [ps, ss] = [median(plainRuns.map((r) => r.sites)), median(secureRuns.map((r) => r.sites))];
    return {
      [`${name}.plainMs`]: p,
      [`${name}.secureMs`]: s,
      [`${name}.overhead`]: s / p,
      [`${name}.plainSitesMs`]: ps,
      [`${name}.secureSitesMs`]: ss,
      [`${name}.sitesOverhead`]: ss / ps,
    };
  });
}
