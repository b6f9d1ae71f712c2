/**
 * Verifies an audit log from what is stored: the records' exact text, the
 * retained updates, the global models and the strategy states. It needs no
 * trust in whoever stored them but the coordinator key of record 1 (compared
 * with a pinned one when given): every record is checked byte for byte, every
 * signature verified, and every committed model and strategy state recomputed
 * by the job's strategy (shared/src/strategy) from the updates when all of them
 * were retained, so a coordinator that lies about an aggregate while keeping its
 * chain valid is caught. It stops at the first inconsistency and names it as the
 * source names the stored item.
 */
import { decodeWeights, encodeWeights, sha256Hex } from '../codec/weights';
import { canonicalJson, canonicalJsonOf, PROTOCOL_VERSIONS, type ProtocolVersion, type SignatureDomain } from '../crypto/canonical';
import { decodePublicKey, defaultEngine, fingerprint, verifyHeader } from '../crypto/keys';
import { JobSpecSchema, type JobSpec } from '../protocol/job';
import { aggregate, withoutParticipants, type LocalTraining } from '../strategy/aggregate';
import { DEFAULT_STRATEGY, STRATEGY_TITLES, strategyOf, type StrategySpec } from '../strategy/spec';
import { decodeState, EMPTY_STATE, stateDigest, type StrategyState } from '../strategy/state';
import { SecAggError } from '../secagg/errors';
import { removeMasks } from '../secagg/protocol';
import { ringDigest } from '../secagg/ring';
import { statisticsEncoding } from '../secagg/statistics-layout';
import { frequentBuckets, gatheredValues, presenceWords, valueWords, withCategories } from '../secagg/vocabulary';
import { secureUpdate } from '../secagg/update';
import { CENTRAL_NOISE, centralUpdate } from '../privacy/central';
import type { ParticipantStatus } from '../protocol/enrollment';
import {
  AUDIT_DATA,
  AUDIT_GENESIS,
  StoredAuditRecordSchema,
  auditHash,
  initialModelAttestation,
  modelAttestation,
  recordVersion,
  verifyAuditSignature,
  type AuditData,
  type AuditRecord,
  type StoredAuditRecord,
} from './record';
import type { AuditKind } from './kinds';

/** A stored item, as failures name it. */
export type AuditItem =
  | { record: number }
  | { update: [job: string, round: number, participant: string] }
  | { model: [job: string, round: number] }
  | { state: [job: string, round: number] };

/** Stored bytes, or undefined when not there; a source may read them asynchronously (a database). */
type Bytes = Uint8Array | undefined;

export interface AuditSource {
  /** the stored records in order, as stored text */
  records(): Iterable<{ seq: number; text: string; notUtf8?: true }> | AsyncIterable<{ seq: number; text: string; notUtf8?: true }>;
  /** the retained bytes of an update; undefined when not there */
  update(job: string, round: number, participant: string, sha256: string): Bytes | Promise<Bytes>;
  /** the stored bytes of a job's global model of a round (0 = initial); undefined when not there */
  model(job: string, round: number): Bytes | Promise<Bytes>;
  /** the stored bytes of a job's strategy state after a round (encodeState); undefined when not there, or when the source holds no states */
  state?(job: string, round: number): Bytes | Promise<Bytes>;
  /** how messages name where an item is stored, e.g. "audit record 12" or "update of bank-a, round 3 of job J (file updates/J/3/bank-a.<sha>.f32)" */
  describe(item: AuditItem): string;
  /**
   * Set when the source holds the retained updates of this participant only (an
   * export for one site): the others' are not expected, and rounds they
   * contributed to cannot be recomputed.
   */
  readonly updatesOf?: string;
  /**
   * The last record the source says it holds (a bundle's manifest). Checked
   * against the records: a log cut short at a record boundary is otherwise a
   * valid log.
   */
  readonly claimedHead?: { records: number; hash: string; where: string };
}

export interface AuditCounts {
  records: number;
  /** participant names given a key */
  participants: number;
  jobs: number;
  /** update.accepted records */
  updates: number;
  /** of those, the ones whose bytes were retained */
  updatesRetained: number;
  /** retained updates whose bytes were in the source and hashed */
  updatesChecked: number;
  /** stored models hashed against their records */
  modelsChecked: number;
  roundsRecomputed: number;
  roundsNotRecomputable: number;
}

export interface AuditReport {
  ok: boolean;
  /** what was checked, one finding a line; the last names the failure when there is one */
  lines: string[];
  failure?: { where: string; reason: string };
  counts: AuditCounts;
  /** the coordinator key announced in record 1 (base64), once read */
  coordinatorKey?: string;
  /** the hash of the last record verified */
  head?: string;
  /** what the log says at its end, e.g. to hold a store's tables to it: each participant's key (base64) and status */
  participants: Map<string, { publicKey: string; status: ParticipantStatus }>;
  /** the jobs the log creates */
  jobs: Set<string>;
  /** the SHA-256 of each committed model, by `job/round` */
  committed: Map<string, string>;
}

export interface VerifyAuditOptions {
  /** the coordinator key the verifier trusts (base64): record 1 must announce it */
  coordinatorKey?: string;
  /** told each line as it is found */
  onLine?: (line: string) => void;
  /** told each record once it is verified, e.g. to look for one's own updates; its kind may be one this verifier does not know */
  onRecord?: (record: StoredAuditRecord) => void;
}

class Inconsistency extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${where}: ${reason}`);
  }
}


interface JobState {
  /** the last round with a model: -1 before the initial model */
  round: number;
  sha256?: string;
  /** parameters of the job's models, from its initial model */
  size?: number;
  rounds: number;
  recomputed: number;
  /** updates folded in by recomputation */
  folded: number;
  notRetained: number;
  notExported: number;
  /** rounds whose updates the retention policy deleted */
  pruned: number;
  /** the global model of `round`, the base the next round's strategy steps from */
  weights?: Float32Array;
  /** the strategy the job's spec names, and its local training settings (SCAFFOLD counts steps with them) */
  strategy: StrategySpec;
  training: LocalTraining;
  /** central differential privacy (a job with dp but no secure aggregation): the noise's parameters */
  centralDp?: { noiseMultiplier: number; clipNorm: number };
  /** the strategy's state after `round`: from the store, checked against its digest, or recomputed */
  strategyState: StrategyState;
  /** strategies seen, for the summary line */
  strategies: Set<string>;
  /** the spec of its job.created record */
  spec: JobSpec;
  /** a secure job's statistics vector, in words and words per element */
  statistics?: { words: number; width: number };
  /** how its vocabulary.secure and statistics.secure records were checked, for the summary line */
  vocabularyChecked?: string;
  statisticsChecked?: string;
}

interface AcceptedUpdate {
  seq: number;
  sha256: string;
  numSamples: number;
  retained: boolean;
}

/**
 * Base64 as encodeKey writes it, for 64 bytes. Base64 can spell the same bytes
 * several ways (padding bits, characters the decoder skips), and the signature is
 * outside the hash it signs: without this, a changed byte there could go unseen.
 */
const isCanonicalSignature = (text: string): boolean =>
  /^[A-Za-z0-9+/]{86}==$/.test(text) && Buffer.from(text, 'base64').toString('base64') === text;

/** A count and its noun, as the verifiers' lines and reports say it: "1 record", "2 records". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function verifyAudit(source: AuditSource, options: VerifyAuditOptions = {}): Promise<AuditReport> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
  };
  const counts: AuditCounts = {
    records: 0,
    participants: 0,
    jobs: 0,
    updates: 0,
    updatesRetained: 0,
    updatesChecked: 0,
    modelsChecked: 0,
    roundsRecomputed: 0,
    roundsNotRecomputable: 0,
  };
  const participants = new Map<string, { key: Uint8Array; publicKey: string; status: ParticipantStatus }>();
  const committed = new Map<string, string>();
  const jobs = new Map<string, JobState>();
  const accepted = new Map<string, AcceptedUpdate[]>();
  /** secure aggregation: accepted masked inputs, as update.accepted's; and each round's unmasking record */
  const maskedAccepted = new Map<string, AcceptedUpdate[]>();
  const unmaskedOf = new Map<string, { seq: number; data: AuditData<'secagg.unmasked'> }>();
  const acceptedKey = (job: string, round: number, participant: string) => JSON.stringify([job, round, participant]);
  /**
   * Retained updates whose bytes are not in the source. The retention policy may
   * delete them later, and says so in an updates.pruned record further on; any
   * still unaccounted for at the end of the log is an inconsistency.
   */
  const missing = new Map<string, { item: AuditItem; seq: number; job: string; round: number }>();
  let coordinatorKey: Uint8Array | undefined;
  let coordinatorKeyText: string | undefined;
  let head: string | undefined;

  /** Throws the inconsistency unless `ok`; the reason is only worked out then. */
  const check: (ok: unknown, item: AuditItem, reason: () => string) => asserts ok = (ok, item, reason) => {
    if (!ok) throw new Inconsistency(source.describe(item), reason());
  };

  /** The bytes of an update or model checked against their recorded hash and the job's model size; undefined when absent. */
  const storedWeights = (item: AuditItem, bytes: Uint8Array | undefined, sha256: string, size: number, recordSeq: number) => {
    if (!bytes) return undefined;
    check(sha256Hex(bytes) === sha256, item, () => `its bytes do not hash to ${sha256}, the SHA-256 in audit record ${recordSeq}`);
    const weights = decodeWeights(bytes);
    check(weights?.length === size, item, () => `${bytes.byteLength} bytes, not the ${size * 4} of the job's ${size} parameters`);
    return weights;
  };

  const job = (name: string, seq: number): JobState => {
    const state = jobs.get(name);
    check(state !== undefined, { record: seq }, () => `job ${name} was never created (no job.created before this record)`);
    return state;
  };

  /**
   * A secure round's one update, recomputed: the retained masked inputs, their
   * masks removed with the secrets its secagg.unmasked record holds, moved onto
   * the previous global model as the coordinator did. No single input is unmasked.
   */
  const secureSum = async (
    attested: Omit<AuditData<'model.committed'>, 'signature'>,
    folded: { participant: string; sha256: string; update: AcceptedUpdate }[],
    state: JobState,
    seq: number,
  ): Promise<{ participant: string; weights: Float32Array; numSamples: number }[]> => {
    const at = { record: seq };
    const unmasked = unmaskedOf.get(`${attested.job}/${attested.round}`);
    check(unmasked !== undefined, at, () => `a secure round without its secagg.unmasked record`);
    const maskedInputs: Record<string, Uint32Array> = {};
    for (const c of folded) {
      const item = { update: [attested.job, attested.round, c.participant] as [string, number, string] };
      const bytes = await source.update(attested.job, attested.round, c.participant, c.sha256);
      check(bytes !== undefined, item, () => `missing, though audit record ${c.update.seq} says it was retained`);
      check(sha256Hex(bytes) === c.sha256, item, () => `its bytes do not hash to ${c.sha256}, the SHA-256 in audit record ${c.update.seq}`);
      maskedInputs[c.participant] = new Uint32Array(new Uint8Array(bytes).buffer);
    }
    let weights: Float32Array;
    let weight: number;
    try {
      const u = unmasked.data;
      const sum = removeMasks({ ...u, adverts: u.adverts, maskedInputs }, { seeds: u.seeds, maskKeys: u.maskKeys });
      if (!u.quantization) throw new SecAggError('SECAGG_QUANTIZATION', 'the record names no quantization');
      ({ weights, weight } = secureUpdate(state.weights!, sum, u.quantization));
    } catch (err) {
      if (!(err instanceof SecAggError)) throw err;
      throw new Inconsistency(source.describe({ record: unmasked.seq }), `the masks cannot be removed: ${err.message}`);
    }
    check(weight === attested.secure!.weight, at, () => `the unmasked sum carries weight ${weight}, not the recorded ${attested.secure!.weight}`);
    return [{ participant: 'secure-sum', weights, numSamples: weight }];
  };

  /**
   * A central-DP round's one update, recomputed: the contributors' updates
   * clipped, summed and noised from the seed kept beside them (checked against
   * the SHA-256 the record commits to), as the coordinator did.
   */
  const centralSum = (
    updates: { weights: Float32Array }[],
    state: JobState,
    seed: Uint8Array,
  ): { participant: string; weights: Float32Array; numSamples: number }[] => {
    const { weights, weight } = centralUpdate(state.weights!, updates.map((u) => u.weights), state.centralDp!, seed);
    return [{ participant: 'central-sum', weights, numSamples: weight }];
  };

  /**
   * A statistics-phase round's sum, recomputed from the retained masked inputs
   * and the round's secagg.unmasked record, checked against the recorded
   * digest; undefined when an input was not retained. `words`: the length the
   * inputs must have, when their records could not check it.
   */
  const statisticsSum = async (
    name: string,
    round: number,
    recorded: { contributors: { participant: string; sha256: string }[]; sumSha256: string },
    seq: number,
    words?: number,
  ): Promise<Uint32Array | undefined> => {
    const at = { record: seq };
    const unmasked = unmaskedOf.get(`${name}/${round}`);
    check(unmasked !== undefined, at, () => `no secagg.unmasked record of round ${round} before it`);
    const maskedInputs: Record<string, Uint32Array> = {};
    let recomputable = recorded.contributors.length > 0;
    for (const c of recorded.contributors) {
      const match = maskedAccepted.get(acceptedKey(name, round, c.participant))?.find((u) => u.sha256 === c.sha256);
      check(match !== undefined, at, () => `contributor ${c.participant}: no accepted masked input of round ${round} with SHA-256 ${c.sha256}`);
      const item = { update: [name, round, c.participant] as [string, number, string] };
      const bytes = await source.update(name, round, c.participant, c.sha256);
      if (!match.retained || bytes === undefined) {
        recomputable = false;
        continue;
      }
      check(sha256Hex(bytes) === c.sha256, item, () => `its bytes do not hash to ${c.sha256}, the SHA-256 in audit record ${match.seq}`);
      check(words === undefined || bytes.byteLength === words * 4, item, () => `${bytes.byteLength} bytes, not the ${words! * 4} of a masked input`);
      maskedInputs[c.participant] = new Uint32Array(new Uint8Array(bytes).buffer);
    }
    if (!recomputable) return undefined;
    let sum: Uint32Array;
    try {
      const u = unmasked.data;
      sum = removeMasks({ ...u, maskedInputs, width: u.width }, { seeds: u.seeds, maskKeys: u.maskKeys });
    } catch (err) {
      if (!(err instanceof SecAggError)) throw err;
      throw new Inconsistency(source.describe({ record: unmasked.seq }), `the masks of round ${round}'s inputs cannot be removed: ${err.message}`);
    }
    const digest = ringDigest(sum);
    check(digest === recorded.sumSha256, at, () => `round ${round}'s sum is not that of its masked inputs: recomputed SHA-256 ${digest}, recorded ${recorded.sumSha256}`);
    return sum;
  };

  const verifyRecord = async (seq: number, record: AuditRecord) => {
    const at = { record: seq };
    const { data } = record;
    // What a record holds was signed in the version the record was written in.
    const version = recordVersion(record);
    const signedBy = (domain: SignatureDomain, header: unknown, signature: string, key: Uint8Array) =>
      isCanonicalSignature(signature) && verifyHeader(domain, header, signature, key, defaultEngine, version);
    switch (record.kind) {
      case 'coordinator.key': {
        const { publicKey } = data as AuditData<'coordinator.key'>;
        // Rotation is not part of the format: a later announcement may only repeat the key.
        check(publicKey === coordinatorKeyText, at, () => 'announces a coordinator key other than the one of record 1');
        return;
      }
      case 'participant.enrolled':
      case 'participant.registered': {
        const { name, publicKey } = data as AuditData<'participant.enrolled' | 'participant.registered'>;
        const key = decodePublicKey(publicKey);
        check(key !== null, at, () => `participant ${name}: the key is not a base64 Ed25519 public key`);
        const known = participants.get(name);
        check(!known || known.status === 'rejected' || known.status === 'revoked', at, () => `participant ${name} already has a key (${known!.status})`);
        if (!known) counts.participants++;
        participants.set(name, { key, publicKey, status: record.kind === 'participant.registered' ? 'approved' : 'pending' });
        return;
      }
      case 'participant.approved':
      case 'participant.rejected':
      case 'participant.revoked': {
        const { name } = data as AuditData<'participant.approved'>;
        const known = participants.get(name);
        const from: ParticipantStatus[] = record.kind === 'participant.revoked' ? ['pending', 'approved'] : ['pending'];
        check(known !== undefined && from.includes(known.status), at, () =>
          known ? `participant ${name} is ${known.status}, not ${from.join(' or ')}` : `participant ${name} was never enrolled or registered`,
        );
        known.status = record.kind === 'participant.approved' ? 'approved' : record.kind === 'participant.rejected' ? 'rejected' : 'revoked';
        return;
      }
      case 'job.created': {
        const { job: name, spec } = data as AuditData<'job.created'>;
        check(!jobs.has(name), at, () => `job ${name} is created a second time`);
        const strategy = safely(() => strategyOf(spec));
        check(strategy !== undefined, at, () => `job ${name}: its spec names no strategy this verifier knows`);
        const training = localTraining(spec);
        check(training !== undefined, at, () => `job ${name}: its spec's local training settings are not valid`);
        jobs.set(name, {
          round: -1,
          rounds: 0,
          recomputed: 0,
          folded: 0,
          notRetained: 0,
          notExported: 0,
          pruned: 0,
          strategy,
          training,
          ...(spec.dp && !spec.secureAggregation ? { centralDp: spec.dp as { noiseMultiplier: number; clipNorm: number } } : {}),
          strategyState: EMPTY_STATE,
          strategies: new Set(),
          // As stored: the parsed spec the job was created with.
          spec: spec as unknown as JobSpec,
          statistics: spec.secureAggregation ? safely(() => statisticsWords(spec as unknown as JobSpec)) : undefined,
        });
        counts.jobs++;
        return;
      }
      case 'job.control':
      case 'job.resumed':
        job((data as AuditData<'job.control' | 'job.resumed'>).job, seq);
        return;
      case 'model.initial': {
        const { signature, ...attested } = data as AuditData<'model.initial'>;
        const state = job(attested.job, seq);
        check(state.round === -1, at, () => `job ${attested.job} already has an initial model`);
        check(signedBy('model', initialModelAttestation(attested), signature, coordinatorKey!), at, () =>
          'the initial model is not signed by the coordinator key',
        );
        const item = { model: [attested.job, 0] as [string, number] };
        const bytes = await source.model(attested.job, 0);
        check(bytes !== undefined, item, () => `missing (audit record ${seq} records it)`);
        const weights = storedWeights(item, bytes, attested.sha256, attested.size, seq);
        counts.modelsChecked++;
        Object.assign(state, { round: 0, sha256: attested.sha256, size: attested.size, weights });
        return;
      }
      case 'update.accepted': {
        const { header, signature, ...update } = data as AuditData<'update.accepted'>;
        const state = job(update.job, seq);
        const who = participants.get(update.participant);
        check(who !== undefined, at, () => `participant ${update.participant} has no key in the log`);
        check(who.status === 'approved', at, () => `participant ${update.participant} is ${who.status}, not approved`);
        check(update.round === state.round + 1, at, () =>
          state.round < 0 ? `job ${update.job} has no initial model to train from` : `an update for round ${update.round} while round ${state.round + 1} of job ${update.job} is open`,
        );
        const differs: string[] = (['job', 'round', 'participant', 'numSamples'] as const).filter((field) => header[field] !== update[field]);
        if (header.weightsSha256 !== update.sha256) differs.push('sha256');
        check(differs.length === 0, at, () => `the signed header and the record disagree on ${differs.join(', ')}`);
        check(signedBy('update', header, signature, who.key), at, () =>
          `the update is not signed by the key of ${update.participant}`,
        );
        counts.updates++;
        if (update.retained) counts.updatesRetained++;
        const item = { update: [update.job, update.round, update.participant] as [string, number, string] };
        const expected = update.retained && (source.updatesOf === undefined || source.updatesOf === update.participant);
        const bytes = await source.update(update.job, update.round, update.participant, update.sha256);
        if (bytes === undefined && expected) missing.set(`${acceptedKey(update.job, update.round, update.participant)}${update.sha256}`, { item, seq, job: update.job, round: update.round });
        if (storedWeights(item, bytes, update.sha256, state.size!, seq)) counts.updatesChecked++;
        const key = acceptedKey(update.job, update.round, update.participant);
        // A round started again (too few updates, or a pause) accepts a participant's update once per attempt.
        accepted.set(key, [...(accepted.get(key) ?? []), { seq, sha256: update.sha256, numSamples: update.numSamples, retained: update.retained }]);
        return;
      }
      case 'secagg.input': {
        const { header, signature, ...input } = data as AuditData<'secagg.input'>;
        const state = job(input.job, seq);
        const who = participants.get(input.participant);
        check(who !== undefined, at, () => `participant ${input.participant} has no key in the log`);
        check(who.status === 'approved', at, () => `participant ${input.participant} is ${who.status}, not approved`);
        check(inRound(input.round, state), at, () => `a masked input for round ${input.round} while round ${state.round + 1} of job ${input.job} is open`);
        const differs: string[] = (['job', 'round', 'participant'] as const).filter((field) => header[field] !== input[field]);
        if (header.maskedSha256 !== input.sha256 || header.step !== 'masked') differs.push('sha256');
        check(differs.length === 0, at, () => `the signed header and the record disagree on ${differs.join(', ')}`);
        check(signedBy('secagg', header, signature, who.key), at, () => `the masked input is not signed by the key of ${input.participant}`);
        counts.updates++;
        if (input.retained) counts.updatesRetained++;
        const item = { update: [input.job, input.round, input.participant] as [string, number, string] };
        const bytes = await source.update(input.job, input.round, input.participant, input.sha256);
        const expected = input.retained && (source.updatesOf === undefined || source.updatesOf === input.participant);
        const key = acceptedKey(input.job, input.round, input.participant);
        if (bytes === undefined && expected) missing.set(`${key}${input.sha256}`, { item, seq, job: input.job, round: input.round });
        // Rounds −2 to 0 are the statistics phase: its inputs are the vectors it lays out, a values round's once its vocabulary record names the buckets.
        const words = input.round === 0 ? state.statistics?.words : input.round === -2 ? safely(() => presenceWords(state.spec)) : input.round === -1 ? -1 : state.size! + 1;
        check(words !== undefined, at, () => `a masked statistics input for job ${input.job}, whose spec has no secure statistics`);
        if (bytes) {
          check(sha256Hex(bytes) === input.sha256, item, () => `its bytes do not hash to ${input.sha256}, the SHA-256 in audit record ${seq}`);
          check(words < 0 || bytes.byteLength === words * 4, item, () => `${bytes.byteLength} bytes, not the ${words * 4} of a masked input`);
          counts.updatesChecked++;
        }
        maskedAccepted.set(key, [...(maskedAccepted.get(key) ?? []), { seq, sha256: input.sha256, numSamples: 0, retained: input.retained }]);
        return;
      }
      case 'secagg.unmasked': {
        const unmasked = data as AuditData<'secagg.unmasked'>;
        const state = job(unmasked.job, seq);
        check(inRound(unmasked.round, state), at, () => `unmasks round ${unmasked.round} while round ${state.round + 1} of job ${unmasked.job} is open`);
        unmaskedOf.set(`${unmasked.job}/${unmasked.round}`, { seq, data: unmasked });
        return;
      }
      case 'vocabulary.secure': {
        const recorded = data as AuditData<'vocabulary.secure'>;
        const state = job(recorded.job, seq);
        check(state.round === -1, at, () => `gathered vocabularies for job ${recorded.job}, which has its initial model already`);
        const presence = await statisticsSum(recorded.job, -2, recorded.presence, seq);
        const values = presence && (await statisticsSum(recorded.job, -1, recorded.values, seq, valueWords(state.spec, recorded.frequentBuckets)));
        if (presence && values) {
          const frequent = safely(() => frequentBuckets(presence, state.spec, recorded.presence.contributors.length));
          check(frequent !== undefined && canonicalJson(frequent) === canonicalJson(recorded.frequentBuckets), at, () => 'the buckets asked for their values are not those the presence sum holds at least minSites sites in');
          const categories = safely(() => gatheredValues(values, state.spec, frequent).categories);
          check(categories !== undefined && canonicalJson(categories) === canonicalJson(recorded.categories), at, () => 'the categories are not those the values sum reveals');
        }
        state.vocabularyChecked = presence && values ? 'vocabularies recomputed' : 'vocabularies not recomputable (masked inputs not retained)';
        state.statistics = safely(() => statisticsWords(withCategories(state.spec, recorded.categories)));
        return;
      }
      case 'statistics.secure': {
        const recorded = data as AuditData<'statistics.secure'>;
        const state = job(recorded.job, seq);
        check(state.round === -1 && state.statistics !== undefined, at, () => `secure statistics for job ${recorded.job}, which ${state.round >= 0 ? 'has its initial model already' : 'has no secure statistics'}`);
        const sum = await statisticsSum(recorded.job, 0, recorded, seq);
        state.statisticsChecked = sum
          ? `statistics recomputed from ${plural(recorded.contributors.length, 'masked input')}`
          : 'statistics not recomputable (masked inputs not retained)';
        return;
      }
      case 'update.excluded': {
        // An exclusion names what the participant signed: the coordinator cannot drop a site's round on a claim it made up.
        const { header, signature, ...excluded } = data as AuditData<'update.excluded'>;
        const who = participants.get(excluded.participant);
        check(who !== undefined, at, () => `participant ${excluded.participant} has no key in the log`);
        const differs = (['job', 'round', 'participant'] as const).filter((field) => header[field] !== excluded[field]);
        check(differs.length === 0, at, () => `the signed header and the record disagree on ${differs.join(', ')}`);
        check(signedBy('update', header, signature, who.key), at, () =>
          `the update left out is not signed by the key of ${excluded.participant}`,
        );
        return;
      }
      case 'model.committed': {
        const { signature, ...attested } = data as AuditData<'model.committed'>;
        const state = job(attested.job, seq);
        check(state.round >= 0, at, () => `job ${attested.job} has no initial model`);
        check(attested.round === state.round + 1, at, () => `commits round ${attested.round} after round ${state.round}`);
        check(attested.previous === state.sha256, at, () => `its previous model ${attested.previous} is not round ${state.round}'s ${state.sha256}`);
        check(signedBy('model', modelAttestation(attested), signature, coordinatorKey!), at, () =>
          'the committed model is not signed by the coordinator key',
        );
        check(attested.contributors.length > 0, at, () => 'a committed model without contributors');
        const seen = new Set<string>();
        const folded: { participant: string; sha256: string; numSamples: number; update: AcceptedUpdate }[] = [];
        for (const c of attested.contributors) {
          check(!seen.has(c.participant), at, () => `${c.participant} contributes twice`);
          seen.add(c.participant);
          if (attested.secure) {
            const match = maskedAccepted.get(acceptedKey(attested.job, attested.round, c.participant))?.find((u) => u.sha256 === c.sha256);
            check(match !== undefined, at, () => `contributor ${c.participant}: no accepted masked input of round ${attested.round} with SHA-256 ${c.sha256}`);
            folded.push({ ...c, update: match });
            continue;
          }
          const match = accepted.get(acceptedKey(attested.job, attested.round, c.participant))?.find((u) => u.sha256 === c.sha256 && u.numSamples === c.numSamples);
          check(match !== undefined, at, () => `contributor ${c.participant}: no accepted update of round ${attested.round} with SHA-256 ${c.sha256} and ${c.numSamples} samples`);
          folded.push({ ...c, update: match });
        }
        // A record without a strategy was written before strategies were recorded: FedAvg, no state.
        const strategy = attested.strategy ?? DEFAULT_STRATEGY;
        check(canonicalJson(strategy) === canonicalJson(state.strategy), at, () =>
          `aggregated with ${canonicalJson(strategy)}, not the ${canonicalJson(state.strategy)} its job's spec names`,
        );
        check(attested.strategy === undefined || attested.stateSha256 !== undefined, at, () => 'names a strategy but no digest of its state');
        for (const name of attested.revoked ?? []) {
          const status = participants.get(name)?.status;
          check(status === 'revoked', at, () => `drops from its strategy's state what it kept of ${name}, who is ${status ?? 'not a participant'} here, not revoked`);
        }
        state.strategies.add(strategy.name);
        const item = { model: [attested.job, attested.round] as [string, number] };
        const bytes = await source.model(attested.job, attested.round);
        check(bytes !== undefined, item, () => `missing (audit record ${seq} commits it)`);
        const weights = storedWeights(item, bytes, attested.sha256, state.size!, seq)!;
        counts.modelsChecked++;
        let stored: StrategyState | undefined;
        if (attested.stateSha256 !== undefined) {
          const stateItem = { state: [attested.job, attested.round] as [string, number] };
          const stateBytes = await source.state?.(attested.job, attested.round);
          check(stateBytes !== undefined, stateItem, () => `missing (audit record ${seq} names its SHA-256)`);
          check(sha256Hex(stateBytes) === attested.stateSha256, stateItem, () => `its bytes do not hash to ${attested.stateSha256}, the SHA-256 in audit record ${seq}`);
          stored = decodeState(stateBytes) ?? undefined;
          check(stored !== undefined, stateItem, () => 'not a strategy state');
        }
        state.rounds++;
        const exported = (p: string) => source.updatesOf === undefined || source.updatesOf === p;
        const pruned = folded.some((c) => missing.has(`${acceptedKey(attested.job, attested.round, c.participant)}${c.sha256}`));
        check((attested.centralNoise !== undefined) === (state.centralDp !== undefined), at, () =>
          attested.centralNoise ? 'commits central noise in a job without central differential privacy' : 'a central differential privacy round that commits to no noise seed',
        );
        // Central DP's seed is kept beside the updates and exported with all of them only.
        const seed = attested.centralNoise && exported(CENTRAL_NOISE) ? await source.update(attested.job, attested.round, CENTRAL_NOISE, attested.centralNoise.seedSha256) : undefined;
        if (!pruned && folded.every((c) => c.update.retained && exported(c.participant)) && (!attested.centralNoise || exported(CENTRAL_NOISE))) {
          const plain = async () => {
            const updates = [];
            for (const c of folded) {
              const updateItem = { update: [attested.job, attested.round, c.participant] as [string, number, string] };
              const weights = storedWeights(updateItem, await source.update(attested.job, attested.round, c.participant, c.sha256), c.sha256, state.size!, c.update.seq);
              check(weights !== undefined, updateItem, () => `missing, though audit record ${c.update.seq} says it was retained`);
              updates.push({ participant: c.participant, weights, numSamples: c.numSamples });
            }
            return updates;
          };
          if (attested.centralNoise) {
            const seedItem = { update: [attested.job, attested.round, CENTRAL_NOISE] as [string, number, string] };
            check(seed !== undefined, seedItem, () => `the central noise seed is missing, though the round's updates were retained (audit record ${seq} commits to it)`);
            check(sha256Hex(seed) === attested.centralNoise.seedSha256, seedItem, () => `its bytes do not hash to ${attested.centralNoise!.seedSha256}, the SHA-256 in audit record ${seq}`);
          }
          const updates = attested.secure
            ? await secureSum(attested, folded, state, seq)
            : attested.centralNoise
              ? centralSum(await plain(), state, seed!)
              : await plain();
          const base = withoutParticipants(strategy, state.strategyState, attested.revoked ?? []);
          const result = aggregate(strategy, { global: state.weights!, state: base, training: state.training }, updates)!;
          const recomputed = sha256Hex(encodeWeights(result.weights));
          check(recomputed === attested.sha256, at, () =>
            `the committed model is not the ${STRATEGY_TITLES[strategy.name]} of its contributors' updates: recomputed SHA-256 ${recomputed}, recorded ${attested.sha256}`,
          );
          const digest = stateDigest(result.state);
          check(attested.stateSha256 === undefined ? Object.keys(result.state).length === 0 : digest === attested.stateSha256, at, () =>
            `the committed strategy state is not the one its contributors' updates give: recomputed SHA-256 ${digest}, recorded ${attested.stateSha256}`,
          );
          stored ??= result.state;
          state.recomputed++;
          state.folded += folded.length;
          counts.roundsRecomputed++;
        } else {
          if (pruned) state.pruned++;
          else if (folded.some((c) => !c.update.retained)) state.notRetained++;
          else state.notExported++;
          counts.roundsNotRecomputable++;
        }
        Object.assign(state, { round: attested.round, sha256: attested.sha256, weights, strategyState: stored ?? EMPTY_STATE });
        committed.set(`${attested.job}/${attested.round}`, attested.sha256);
        return;
      }
      case 'updates.pruned': {
        const { job: name, throughRound } = data as AuditData<'updates.pruned'>;
        const state = job(name, seq);
        check(throughRound <= state.round, at, () => `prunes updates up to round ${throughRound} of job ${name}, which has committed ${state.round}`);
        for (const [key, m] of missing) if (m.job === name && m.round <= throughRound) missing.delete(key);
        return;
      }
      default:
        // Users, tokens and invitations: their records are checked as records; nothing else depends on them.
        return;
    }
  };

  let expected = 1;
  /** records of kinds a newer coordinator writes: their chain and signatures verified, their content not */
  const foreign = new Map<string, number>();
  try {
    let previous = AUDIT_GENESIS;
    for await (const { seq, text, notUtf8 } of source.records()) {
      const at = { record: seq };
      check(seq === expected, at, () => `found where record ${expected} should be: records are missing or out of order`);
      check(!notUtf8, at, () => 'not UTF-8: its bytes were changed');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Left undefined: reported below.
      }
      check(parsed !== undefined, at, () => 'not JSON');
      const version = (parsed as { version?: unknown } | null)?.version ?? 1;
      check(PROTOCOL_VERSIONS.includes(version as ProtocolVersion), at, () =>
        `written in format version ${JSON.stringify(version)}, which this verifier does not know (it knows ${PROTOCOL_VERSIONS.join(', ')})`,
      );
      let canonical: string | undefined;
      try {
        canonical = canonicalJsonOf(version as ProtocolVersion, parsed);
      } catch {
        // Left undefined: not its canonical form.
      }
      check(canonical === text, at, () => 'not stored as its canonical JSON: its bytes were changed');
      const shape = StoredAuditRecordSchema.safeParse(parsed);
      check(shape.success, at, () => `not an audit record: ${issue(shape.error!)}`);
      const record = shape.data;
      check(record.seq === seq, at, () => `says it is record ${record.seq}`);
      const known = Object.hasOwn(AUDIT_DATA, record.kind);
      if (known) {
        const data = AUDIT_DATA[record.kind as AuditKind].safeParse(record.data);
        check(data.success, at, () => `not a valid ${record.kind} record: ${issue(data.error!)}`);
      } else foreign.set(record.kind, (foreign.get(record.kind) ?? 0) + 1);
      check(record.prev === previous, at, () => `its prev ${record.prev} is not the hash of ${seq === 1 ? 'the genesis' : `record ${seq - 1}`} (${previous})`);
      check(record.hash === auditHash(record), at, () => 'its hash does not match its content');
      if (seq === 1) {
        check(record.kind === 'coordinator.key', at, () => `the first record is ${record.kind}, not coordinator.key`);
        const { publicKey, fingerprint: printed } = record.data as AuditData<'coordinator.key'>;
        const key = decodePublicKey(publicKey);
        check(key !== null, at, () => 'the coordinator key is not a base64 Ed25519 public key');
        check(printed === fingerprint(key), at, () => 'the fingerprint is not that of the coordinator key');
        check(options.coordinatorKey === undefined || options.coordinatorKey === publicKey, at, () =>
          `announces coordinator key ${fingerprint(key)}, not the trusted ${trustedFingerprint(options.coordinatorKey!)}`,
        );
        coordinatorKey = key;
        coordinatorKeyText = publicKey;
      }
      check(isCanonicalSignature(record.signature) && verifyAuditSignature(record, coordinatorKey!), at, () => 'not signed by the coordinator key of record 1');
      if (known) await verifyRecord(seq, record as AuditRecord);
      previous = record.hash;
      head = record.hash;
      counts.records = seq;
      expected++;
      options.onRecord?.(record);
    }
    if (counts.records === 0) throw new Inconsistency('the audit log', 'holds no record');
    const [unaccounted] = missing.values();
    if (unaccounted) {
      throw new Inconsistency(source.describe(unaccounted.item), `missing, though audit record ${unaccounted.seq} says it was retained and no updates.pruned record deletes it`);
    }
    const claimed = source.claimedHead;
    if (claimed && (claimed.records !== counts.records || claimed.hash !== head)) {
      throw new Inconsistency(claimed.where, `says the log ends at record ${claimed.records} with hash ${claimed.hash}; its records end at ${counts.records} with ${head}`);
    }
  } catch (err) {
    if (!(err instanceof Inconsistency)) throw err;
    if (counts.records > 0) say(`chain: records 1 to ${counts.records} verified before the inconsistency`);
    say(`FAILED: ${err.where}: ${err.reason}`);
    return { ok: false, lines, failure: { where: err.where, reason: err.reason }, counts, coordinatorKey: coordinatorKeyText, head, participants: statesOf(participants), jobs: new Set(jobs.keys()), committed };
  }

  say(`chain: ${plural(counts.records, 'record')}, hashes and coordinator signatures verified (coordinator key ${fingerprint(coordinatorKey!)})`);
  if (foreign.size) {
    say(`records of kinds this verifier does not know (chain and signature verified, content not): ${[...foreign].map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
  }
  const statuses = new Map<ParticipantStatus, number>();
  for (const { status } of participants.values()) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const shown = [...statuses].map(([status, n]) => `${n} ${status}`).join(', ');
  say(`participants: ${counts.participants}${shown ? ` (${shown})` : ''}`);
  if (counts.updates > 0) {
    say(
      `updates: ${counts.updates} accepted, participant signatures verified; ${counts.updatesRetained} retained` +
        (counts.updatesChecked === counts.updatesRetained ? ', bytes match their hashes' : `, ${counts.updatesChecked} of them in this source, bytes match their hashes`),
    );
  }
  for (const [name, state] of jobs) say(jobLine(name, state));
  return { ok: true, lines, counts, coordinatorKey: coordinatorKeyText, head, participants: statesOf(participants), jobs: new Set(jobs.keys()), committed };
}

const statesOf = (participants: Map<string, { publicKey: string; status: ParticipantStatus }>) =>
  new Map([...participants].map(([name, { publicKey, status }]) => [name, { publicKey, status }]));

function jobLine(name: string, state: JobState): string {
  return [roundsLine(name, state), state.vocabularyChecked, state.statisticsChecked].filter((part) => part !== undefined).join('; ');
}

/** Whether a masked input or unmasking belongs to the round a job has open: rounds −2 to 0, the statistics phase, come before its initial model. */
const inRound = (round: number, state: JobState): boolean => (round <= 0 ? state.round === -1 : round === state.round + 1);

function roundsLine(name: string, state: JobState): string {
  if (state.round < 0) return `job ${name}: no model yet`;
  if (state.rounds === 0) return `job ${name}: no round committed, initial model matches`;
  let line = `job ${name}: ${plural(state.rounds, 'round')}, ${state.recomputed} recomputed from ${plural(state.folded, 'retained update')}`;
  if (state.notRetained) line += `, ${state.notRetained} not recomputable (updates not retained)`;
  if (state.pruned) line += `, ${state.pruned} not recomputable (updates deleted by the retention policy)`;
  if (state.notExported) line += `, ${state.notExported} not recomputable (other sites' updates are not in this export)`;
  const strategies = [...state.strategies];
  // FedAvg keeps no state; any other strategy's is checked with its models.
  return strategies.length === 1 && strategies[0] === 'fedavg' ? `${line}, models match` : `${line}, models and strategy states match (${strategies.join(', ')})`;
}

/** The length of a secure job's statistics vector, from its spec (with its gathered categories). */
function statisticsWords(spec: JobState['spec']): { words: number; width: number } {
  const { elements, width } = statisticsEncoding(spec);
  return { words: elements * width, width };
}

/** The local training settings of a job as its job.created record gives them, the job schema's defaults for those left out. */
function localTraining(spec: Record<string, unknown>): LocalTraining | undefined {
  const { learningRate, localEpochs, batchSize } = JobSpecSchema.shape;
  const parsed = [learningRate.safeParse(spec.learningRate), localEpochs.safeParse(spec.localEpochs), batchSize.safeParse(spec.batchSize)];
  if (!parsed.every((p) => p.success)) return undefined;
  return { learningRate: parsed[0].data!, localEpochs: parsed[1].data!, batchSize: parsed[2].data! };
}

function issue(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const [first] = error.issues;
  return first ? `${first.path.map(String).join('.') || 'record'}: ${first.message}` : 'malformed';
}

function trustedFingerprint(key: string): string {
  const bytes = decodePublicKey(key);
  return bytes ? fingerprint(bytes) : `key ${key}`;
}

/** The value, or undefined where making it throws (a spec this verifier cannot read). */
function safely<T>(make: () => T): T | undefined {
  try {
    return make();
  } catch {
    return undefined;
  }
}
