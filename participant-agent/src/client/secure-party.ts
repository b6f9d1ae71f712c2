/**
 * The agent's side of secure aggregation (docs/privacy.md): one SecAggClient
 * per job and round, answering the coordinator's steps, and the masked input
 * that replaces the update when a train request carries shares, or, in rounds
 * −2 to 0 (the statistics phase), the site's vocabulary or statistics vector.
 * Secrets live in memory for the round only.
 */
import {
  decodePublicKey,
  neighbourGraph,
  secureQuantization,
  addPartyNoise,
  randomNonce,
  SecAggClient,
  SecAggError,
  secureInput,
  sha256Hex,
  signHeader,
  thresholdOf,
  type JobSpec,
  type SecAggReplyHeader,
  type SecAggRequestHeader,
  type SecureAggregationSpec,
  type TrainHeader,
} from '@fl/shared';

interface RoundState {
  client: SecAggClient;
  participants: string[];
  spec: JobSpec;
  /** rounds −2 to 0: the site's vector and its words per element, masked at the masked step */
  vector?: { vector: Uint32Array; width: number };
}

/** A signed reply, as the agent sends it. */
export interface SecureReplyMessage {
  header: SecAggReplyHeader;
  signature: string;
  masked?: Uint8Array;
}

export class SecureParty {
  private readonly rounds = new Map<string, RoundState>();
  /**
   * By job and round (−2 to 0), the survivors of the statistics-phase sum this
   * site helped unmask: the data are the same every time, so two sums over sets
   * that differ by one site would give away that site's part. Those of an
   * earlier run of the agent come from `journaledSum`. A training round's
   * attempt started again after its unmasking fell short must be answered over
   * other sites, or dropouts would stall the job (docs/security-model.md).
   */
  private readonly sums = new Map<string, string>();

  constructor(
    private readonly participant: () => string,
    private readonly secretKey: Uint8Array,
    private readonly log: (message: string) => void = () => {},
    /** the survivors of the sum of a statistics-phase round this site helped unmask, as its journal has them */
    private readonly journaledSum: (job: string, round: number) => readonly string[] | undefined = () => undefined,
  ) {}

  /** The job a round's keys were advertised for: a statistics-phase round's spec comes with its advertise request only. */
  specOf(job: string, round: number): JobSpec | undefined {
    return this.rounds.get(`${job}/${round}`)?.spec;
  }

  /**
   * The answer to one step; throws a SecAggError (with its code) when the
   * request must be refused. The statistics phase's advertise (rounds −2 to 0)
   * is given the site's vector, which its masked step masks.
   */
  async answer(request: SecAggRequestHeader, spec: JobSpec, vector?: { vector: Uint32Array; width: number }): Promise<SecureReplyMessage> {
    const options = secureOptionsOf(spec);
    const key = `${request.job}/${request.round}`;
    const me = this.participant();
    if (request.step === 'advertise') {
      // Old rounds' secrets go: a round is answered from one advertisement only.
      for (const old of this.rounds.keys()) if (old.startsWith(`${request.job}/`)) this.rounds.delete(old);
      const client = new SecAggClient({ job: request.job, round: request.round }, me, this.secretKey, thresholdOf(options, request.participants.length));
      this.rounds.set(key, { client, participants: request.participants, spec, vector });
      return this.reply(request, { step: 'advertise', advert: client.advertise() });
    }
    const state = this.rounds.get(key);
    if (!state) throw noKeys(request);
    if (request.step === 'share') {
      const neighbours = neighbourGraph(state.participants, Math.min(options.neighbours, state.participants.length - 1)).get(me) ?? [];
      const identities = request.identities ?? {};
      const shares = await state.client.shareKeys(request.adverts ?? [], neighbours, (id) => (identities[id] ? (decodePublicKey(identities[id]) ?? undefined) : undefined));
      return this.reply(request, { step: 'share', shares });
    }
    if (request.step === 'masked') {
      // Only the statistics round asks for its masked input here; a training round's comes with the train request.
      if (!state.vector) throw new SecAggError('SECAGG_PHASE', `round ${request.round} sends its masked input with its train request`);
      this.opened(request, state.client.receiveShares(request.shares ?? []));
      const words = state.client.maskedInput(state.vector.vector, state.vector.width);
      state.vector = undefined;
      const masked = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
      return { ...this.reply(request, { step: 'masked', maskedSha256: sha256Hex(masked) }), masked };
    }
    const one = request.round <= 0 ? this.oneStatisticsSum(request.job, request.round, request.survivors ?? []) : undefined;
    const { seedShares, keyShares } = state.client.unmask({ job: request.job, round: request.round, survivors: request.survivors ?? [], dropped: request.dropped ?? [] });
    // Kept once answered: a request the protocol refuses asks nothing of this site.
    if (one) this.sums.set(key, one);
    this.rounds.delete(key);
    return this.reply(request, { step: 'unmask', seedShares, keyShares });
  }

  /** The masked input that answers a train request carrying shares. */
  masked(request: TrainHeader, spec: JobSpec, global: Float32Array, local: Float32Array, numSamples: number): SecureReplyMessage {
    const state = this.rounds.get(`${request.job}/${request.round}`);
    if (!state) throw noKeys(request);
    secureOptionsOf(spec);
    this.opened(request, state.client.receiveShares(request.secagg?.shares ?? []));
    const q = secureQuantization(spec, state.participants.length);
    const strategy = spec.strategy as { weighting?: 'samples' | 'uniform'; clipNorm?: number };
    // Under DP the update is clipped to the norm the noise is calibrated to (the tighter bound when both are set).
    const clipNorm = spec.dp ? Math.min(spec.dp.clipNorm, strategy.clipNorm ?? Infinity) : strategy.clipNorm;
    const input = secureInput(global, local, numSamples, q, { weighting: strategy.weighting ?? 'samples', clipNorm });
    if (spec.dp) addPartyNoise(input, q, spec.dp, spec.minParticipants);
    const words = state.client.maskedInput(input);
    const masked = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    return { ...this.reply(request, { step: 'masked', maskedSha256: sha256Hex(masked) }), masked };
  }

  /** Says which neighbours' shares did not open: this site holds none of their secrets this round, and still masks with them. */
  private opened(request: { job: string; round: number }, skipped: { source: string; reason: string }[]): void {
    for (const { source, reason } of skipped) {
      this.log(`job ${request.job} round ${request.round}: ${reason} [SECAGG_BAD_SHARE]; skipped: this site holds none of ${source}'s secrets this round, and still masks with it`);
    }
  }

  /** Refuses to help unmask a second sum of a statistics-phase round over other sites than the first (see `sums`); returns the sites of this one. */
  private oneStatisticsSum(job: string, round: number, survivors: string[]): string {
    const key = `${job}/${round}`;
    const sites = (names: readonly string[]) => [...names].sort().join('\0');
    const journaled = this.journaledSum(job, round);
    const first = this.sums.get(key) ?? (journaled && sites(journaled));
    const these = sites(survivors);
    if (first !== undefined && first !== these) {
      throw new SecAggError('SECAGG_STATISTICS_AGAIN', `this site already helped unmask statistics round ${key} over other sites: the difference of two sums would reveal a site's statistics`);
    }
    return these;
  }

  private reply(request: { job: string; round: number }, body: Omit<SecAggReplyHeader, 'type' | 'job' | 'round' | 'participant' | 'nonce'>): SecureReplyMessage {
    const header: SecAggReplyHeader = { type: 'secagg', job: request.job, round: request.round, participant: this.participant(), nonce: randomNonce(), ...body };
    return { header, signature: signHeader('secagg', header, this.secretKey) };
  }
}

function secureOptionsOf(spec: JobSpec): SecureAggregationSpec {
  if (!spec.secureAggregation) throw new SecAggError('SECAGG_PHASE', 'the job does not use secure aggregation');
  return spec.secureAggregation;
}

const noKeys = (request: { job: string; round: number }) =>
  new SecAggError('SECAGG_NO_KEYS', `no keys of round ${request.round} of job ${request.job} (the agent restarted since it advertised them)`);
