/**
 * What this site accepted of each job, and what it has sent of it. Whoever
 * holds the coordinator's key can sign any request, so every request of an
 * accepted job is held to the job as the site accepted it before it is
 * answered: the spec does not change; no round beyond the job's rounds; one
 * global model for each round and one per-round config for each round trained;
 * a secure job's inputs leave masked, once under a round's keys, in rounds and
 * sums of at least its minimum of parties; and under differential privacy no
 * more noised inputs than the ε it accepted allows, each attempt of a round
 * counted. All of it is read from the journal's lines, so that a restart
 * forgets nothing.
 */
import { canonicalJson, DpSpecSchema, epsilonAfter, JobSpecSchema, mostEpsilon, type EvaluateHeader, type JobSpec, type SecAggRequestHeader, type TrainHeader } from '@fl/shared';
import { z } from 'zod';
import type { JournalCharge, JournalEntry, JournalJob, JournalLine } from './journal';
import type { Decline, PrivacyLoss } from './policy';

/** A line as the agent writes it or reads it back: an update's has no `kind` when written. */
export type Journaled = JournalEntry | JournalLine | JournalJob | JournalCharge;

/** A job by its line's names: the same job name of another coordinator or participant is another job. */
type Names = Pick<JournalJob, 'coordinator' | 'participant' | 'job'>;

interface Sent {
  /** the spec as accepted */
  spec?: JobSpec;
  /** per round k, the SHA-256 of the global model of round k this site was sent (with a train request of round k + 1, or to evaluate) */
  models: Map<number, string>;
  /** per round trained, the per-round config it was trained with, as canonical JSON */
  configs: Map<number, string>;
  /** masked inputs of training rounds sent: under dp each carries noise of its own */
  noised: number;
  /** training rounds whose last advertised keys masked an input: a second input under the same masks would give away the difference */
  masked: Set<number>;
  /** per statistics-phase round (−2 to 0), the survivors of the first sum this site helped unmask */
  sums: Map<number, readonly string[]>;
}

export class AcceptedJobs {
  private readonly jobs = new Map<string, Sent>();
  /** specs found to be the accepted one, with their job: a job's setup keeps its spec object, compared once */
  private readonly alike = new WeakMap<JobSpec, string>();
  /** the most ε and the δ of each job accepted, of any coordinator and participant, by its line's names, `charged` when its job line counts it at once (an earlier release's); a job without dp spends none */
  private readonly losses = new Map<string, { epsilon: number; delta: number; charged: boolean } | null>();
  /** jobs charged, by their names, whether their job line was read yet or not */
  private readonly charges = new Set<string>();
  /** the journal's job lines and charges are in `losses` */
  private journalRead = false;

  /**
   * `journaled`: the journal's lines of a job, read once, when the job is first asked about; `everyJob`: its job lines
   * of every coordinator and participant, read once, when the privacy loss is first asked for
   */
  constructor(
    private readonly journaled: (job: string) => readonly Journaled[],
    private readonly everyJob: () => readonly (JournalJob | JournalCharge)[] = () => [],
  ) {}

  /** The privacy loss of every DP job this site charged, whichever coordinator ran it; throws when the journal cannot be read. */
  privacyLoss(): PrivacyLoss {
    this.readJournal();
    const loss = { epsilon: 0, delta: 0, jobs: 0 };
    for (const [key, spent] of this.losses) {
      if (!spent || !this.charged(key, spent)) continue;
      loss.epsilon += spent.epsilon;
      loss.delta += spent.delta;
      loss.jobs++;
    }
    return loss;
  }

  /** True for a DP job this site accepted whose ε is not charged yet; throws when the journal cannot be read. */
  uncharged(names: Names): boolean {
    this.readJournal();
    const key = keyOf(names);
    const spent = this.losses.get(key);
    return spent ? !this.charged(key, spent) : false;
  }

  /** The spec this site accepted the job with; undefined before it accepted it. */
  spec(job: string): JobSpec | undefined {
    return this.of(job).spec;
  }

  /** Null when the spec is the one accepted (or none is yet), else why the request is refused. */
  changed(job: string, spec: JobSpec): Decline | null {
    const accepted = this.of(job).spec;
    if (!accepted || this.alike.get(spec) === job) return null;
    const fields = differences(accepted, spec);
    if (fields.length === 0) {
      this.alike.set(spec, job);
      return null;
    }
    return outside(`the job is not the one this site accepted: ${fields.join(', ')} ${fields.length === 1 ? 'differs' : 'differ'}`, { fields: fields.length });
  }

  /** A plain statistics request: a secure job's statistics leave only masked. */
  statistics(spec: JobSpec): Decline | null {
    return spec.secureAggregation ? outside('statistics of a secure job, asked for unmasked') : null;
  }

  train(request: TrainHeader, spec: JobSpec): Decline | null {
    const sent = this.of(request.job);
    const { round } = request;
    if (spec.secureAggregation && !request.secagg) return outside('an update of a secure job, asked for unmasked');
    const beyond = beyondRounds(round, spec);
    if (beyond) return beyond;
    const model = sent.models.get(round - 1);
    if (model !== undefined && model !== request.weightsSha256) return outside(`its model is not the model of round ${round - 1} this site was sent before`);
    const config = sent.configs.get(round);
    if (config !== undefined && config !== configText(request.config)) return outside(`its per-round config is not the one this site trained round ${round} with`);
    if (!request.secagg) return null;
    if (sent.masked.has(round)) return outside(`a second masked input under the keys this site advertised for round ${round}`);
    return noisedInput(sent, spec);
  }

  evaluate(request: EvaluateHeader, spec: JobSpec): Decline | null {
    const { round } = request;
    const model = this.of(request.job).models.get(round);
    if (model !== undefined && model !== request.weightsSha256) return outside(`its model is not the model of round ${round} this site was sent before`);
    return beyondRounds(round, spec);
  }

  /** A secure-aggregation step: rounds and sums of the job's minimum of parties at least; a training round within the job's rounds and its ε. */
  secureStep(request: SecAggRequestHeader, spec: JobSpec): Decline | null {
    const parties = request.step === 'unmask' ? (request.survivors?.length ?? 0) : request.participants.length;
    if (parties < spec.minParticipants) {
      const what = request.step === 'unmask' ? 'the sum to unmask has' : 'the round has';
      return outside(`${what} ${parties} parties, fewer than the job's minimum of ${spec.minParticipants}`, { participants: parties });
    }
    if (request.round < 1) return null;
    const beyond = beyondRounds(request.round, spec);
    if (beyond) return beyond;
    // Refused before any key goes out, as the train request after it would be.
    return request.step === 'advertise' ? noisedInput(this.of(request.job), spec) : null;
  }

  /** The survivors of the sum of a statistics-phase round this site helped unmask first, as journaled (its unmask line names them). */
  sum(job: string, round: number): readonly string[] | undefined {
    return this.of(job).sums.get(round);
  }

  /** Takes in lines as they are journaled, before they are sent: what the later requests are held to. */
  sent(lines: readonly Journaled[]): void {
    for (const line of lines) {
      if ('kind' in line && line.kind === 'job-charged') this.accept(line);
      else this.take(this.of(line.job), line);
      if ('kind' in line && line.kind === 'job') this.accept(line);
    }
  }

  /** A DP job counts against the totals from its first training input on (its charge), or at once for a job line of an earlier release. */
  private charged(key: string, spent: { charged: boolean }): boolean {
    return spent.charged || this.charges.has(key);
  }

  private readJournal(): void {
    if (this.journalRead) return;
    for (const line of this.everyJob()) this.accept(line);
    this.journalRead = true;
  }

  /** A job line or a charge taken in, once by its names: the same job read back from the journal, or taken again, counts once. */
  private accept(line: JournalJob | JournalCharge): void {
    const key = keyOf(line);
    if (line.kind === 'job-charged') {
      this.charges.add(key);
      return;
    }
    if (this.losses.has(key)) return;
    const loss = lossOf(line.spec);
    // A job line of an earlier release counts at once, as it did then.
    this.losses.set(key, loss && { ...loss, charged: line.charged !== false });
  }

  private of(job: string): Sent {
    let sent = this.jobs.get(job);
    if (!sent) {
      sent = { models: new Map(), configs: new Map(), noised: 0, masked: new Set(), sums: new Map() };
      this.jobs.set(job, sent);
      for (const line of this.journaled(job)) this.take(sent, line);
    }
    return sent;
  }

  private take(sent: Sent, journaled: Journaled): void {
    // An update's line has no kind as the agent writes it.
    const line: JournalLine | JournalJob | JournalCharge = 'kind' in journaled ? journaled : { kind: 'update', ...journaled };
    switch (line.kind) {
      case 'job':
        // A spec this release reads otherwise (a field it no longer knows) compares as written, unlike any spec sent now.
        sent.spec ??= JobSpecSchema.safeParse(line.spec).data ?? (line.spec as unknown as JobSpec);
        return;
      case 'evaluation':
        if (line.modelSha256 !== undefined && !sent.models.has(line.round)) sent.models.set(line.round, line.modelSha256);
        return;
      case 'secagg':
        if (line.step === 'advertise') sent.masked.delete(line.round);
        if (line.step === 'unmask' && line.survivors && !sent.sums.has(line.round)) sent.sums.set(line.round, line.survivors);
        if (line.step !== 'masked' || line.round < 1) return;
        sent.noised++;
        sent.masked.add(line.round);
        return trainedFrom(sent, line);
      case 'update':
        return trainedFrom(sent, line);
    }
  }
}

/** What a training round was answered from: lines of earlier releases do not say. */
function trainedFrom(sent: Sent, { round, modelSha256, config }: { round: number; modelSha256?: string; config?: Record<string, unknown> }): void {
  if (modelSha256 === undefined) return;
  if (!sent.models.has(round - 1)) sent.models.set(round - 1, modelSha256);
  if (!sent.configs.has(round)) sent.configs.set(round, configText(config));
}

const keyOf = ({ coordinator, participant, job }: Names): string => JSON.stringify([coordinator, participant, job]);

function outside(reason: string, counts: Record<string, number> = {}): Decline {
  return { code: 'REQUEST_OUTSIDE_JOB', counts, reason };
}

function beyondRounds(round: number, spec: JobSpec): Decline | null {
  return round > spec.rounds ? outside(`round ${round} is beyond the job's ${spec.rounds} rounds`, { rounds: spec.rounds }) : null;
}

/** The spec's fields a job's privacy loss is read from: a spec this release reads otherwise as a whole still has them. */
const SpentSchema = z.object({ rounds: z.number().int().min(1), dp: DpSpecSchema.optional() });

/** A job's most ε and its δ as it was accepted; null without dp; a dp this release cannot read may have spent any ε and δ. */
function lossOf(spec: Record<string, unknown>): { epsilon: number; delta: number } | null {
  if (spec.dp === undefined) return null;
  const read = SpentSchema.safeParse(spec);
  if (!read.success || !read.data.dp) return { epsilon: Infinity, delta: Infinity };
  return { epsilon: mostEpsilon(read.data.dp, read.data.rounds), delta: read.data.dp.delta };
}

/** Null when one more noised input keeps ε within what the site accepted: the least of the job's budget and its ε after all its rounds. */
function noisedInput(sent: Sent, spec: JobSpec): Decline | null {
  const { dp } = spec;
  if (!dp) return null;
  const accepted = mostEpsilon(dp, spec.rounds);
  const epsilon = epsilonAfter(dp, sent.noised + 1);
  if (epsilon <= accepted) return null;
  return {
    code: 'PRIVACY_BUDGET_SPENT',
    counts: { inputs: sent.noised },
    reason: `noised input ${sent.noised + 1} would take ε to ${epsilon.toFixed(3)} at δ ${dp.delta}, over the ${accepted.toFixed(3)} this site accepted`,
  };
}

/** A train request's per-round config as it is compared: none is plain training, as an empty one is. */
const configText = (config: Record<string, unknown> | undefined): string => canonicalJson(config ?? {});

/** The spec's fields that differ, by name; under gathered vocabularies, a categorical feature's categories count only where both declare them. */
function differences(accepted: JobSpec, spec: JobSpec): string[] {
  const a = accepted as Record<string, unknown>;
  const b = spec as Record<string, unknown>;
  const gathered = Boolean(accepted.secureAggregation?.vocabulary);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((field) =>
    field === 'features' && gathered ? !sameFeatures(accepted.features, spec.features) : canonicalJson(a[field] ?? null) !== canonicalJson(b[field] ?? null),
  );
}

/** The job's statistics round declares the categories it gathered, which its earlier rounds and its setup leave out. */
function sameFeatures(accepted: JobSpec['features'], features: JobSpec['features']): boolean {
  if (accepted.length !== features.length) return false;
  const categories = (feature: JobSpec['features'][number]) => (feature as { categories?: string[] }).categories;
  return accepted.every((feature, i) => {
    const other = features[i];
    const declared = categories(feature) !== undefined && categories(other) !== undefined;
    const bare = (f: JobSpec['features'][number]) => (declared ? f : { ...f, categories: undefined });
    return canonicalJson(bare(feature)) === canonicalJson(bare(other));
  });
}
