/**
 * A secure-aggregation round as four phases (docs/privacy.md): advertise keys,
 * share keys, train and send a masked input, unmask. Rounds −2 to 0 are a
 * secure job's statistics phase: the same steps, the masked input a vector of
 * the site's (vocabulary presence and values, then statistics: shared/src/secagg),
 * asked with its shares rather than with a train request. The job run supplies the
 * phase machinery (`runStep`); this module decides what each step asks, what a
 * reply must hold, and what the coordinator keeps: masked inputs and rebuilt
 * secrets, never an unmasked update.
 */
import {
  ackError,
  decodePublicKey,
  neighbourGraph,
  secureQuantization,
  rebuildSecrets,
  removeMasks,
  SecAggError,
  sha256Hex,
  sharingParties,
  shortOfNeighbours,
  sumOutOfRange,
  thresholdOf,
  verifyAdvertisement,
  type Ack,
  type Advertisement,
  type AuditData,
  type EncryptedShare,
  type JobSpec,
  type Quantization,
  type SecAggReplyHeader,
  type SecAggStep,
  type SecAggRequest,
  type SecAggRequestHeader,
  type SecureAggregationSpec,
  type UnmaskResponse,
} from '@fl/shared';
import type { Failure, ReplyCollection } from '../collection';

/** A reply as the collection keeps it. */
export interface SecureReply {
  header: SecAggReplyHeader;
  signature: string;
  /** the masked input: bytes of the reply's own, which the round keeps */
  masked?: Uint8Array;
}

/** What a step's replies must hold beyond their schema and signature; null to accept. */
export type StepCheck = (participant: string, reply: SecureReply) => Ack | null;

export interface SecureRoundHost {
  job: string;
  spec: JobSpec & { secureAggregation: SecureAggregationSpec };
  /** the model's size: a training round's masked input has one more word, the weight */
  size: number;
  /** rounds −2 to 0: the vector each site masks (its words and words per element), and what the advertise request tells it */
  vector?: { words: number; width: number; advertise: Partial<SecAggRequestHeader> };
  /** runs one step as a phase; null when a pause cut it short and the round must start again */
  runStep(
    step: SecAggStep,
    participants: string[],
    check: StepCheck,
    ask: { event: 'secagg-request'; messageFor: (participant: string) => SecAggRequest } | { event: 'train'; shares: (participant: string) => EncryptedShare[] },
  ): Promise<ReplyCollection<SecureReply> | null>;
  sign(header: SecAggRequestHeader): string;
  identityKey(participant: string): Uint8Array | undefined;
  /** the same, base64, as neighbours are told it */
  identityKeyText(participant: string): string | undefined;
  now(): number;
  deadline(): number;
}

export type SecureOutcome =
  | { kind: 'restart' }
  /** a step closed below the minimum, or unmasking failed: the round starts again */
  | { kind: 'short'; collection: ReplyCollection<unknown>; what: string; reason?: string }
  | {
      kind: 'sum';
      sum: Uint32Array;
      /** a training round's; none in round 0 */
      quantization?: Quantization;
      /** the masked inputs, in the order they were accepted: the round's contributors */
      inputs: { participant: string; sha256: string }[];
      unmasked: AuditData<'secagg.unmasked'>;
      collection: ReplyCollection<SecureReply>;
      /** who failed a step (went offline, refused it, sent what it must not), as the first step it failed recorded it */
      failures: ReadonlyMap<string, Failure>;
    };

export async function runSecureRound(host: SecureRoundHost, round: number, selected: string[]): Promise<SecureOutcome> {
  const { job, spec } = host;
  const options = spec.secureAggregation;
  const participants = [...selected].sort();
  const neighbours = Math.min(options.neighbours, participants.length - 1);
  const threshold = thresholdOf(options, participants.length);
  // The statistics phase sums vectors the host lays out; a training round, quantized updates and their weight.
  const { vector } = host;
  const quantization = vector ? undefined : secureQuantization(spec, participants.length);
  const width = vector?.width ?? 1;
  const graph = neighbourGraph(participants, neighbours);
  const enough = (replies: number) => replies >= spec.minParticipants;
  const request = (step: SecAggRequestHeader['step'], extra: Partial<SecAggRequestHeader> = {}): SecAggRequest => {
    const header: SecAggRequestHeader = { type: 'secagg-request', job, round, step, participants, deadline: host.deadline(), issuedAt: host.now(), ...extra };
    return { header, signature: host.sign(header) };
  };

  const failures = new Map<string, Failure>();
  const runStep: SecureRoundHost['runStep'] = async (...args) => {
    const collection = await host.runStep(...args);
    for (const [participant, failure] of collection?.failures ?? []) if (!failures.has(participant)) failures.set(participant, failure);
    return collection;
  };

  // 1. advertise
  const adverts = new Map<string, Advertisement>();
  const advertise = request('advertise', vector?.advertise);
  const advertised = await runStep('advertise', participants, (participant, { header }) => {
    const advert = header.advert;
    if (!advert || advert.participant !== participant) return ackError('INVALID_FRAME', 'an advertise reply holds the participant’s own signed keys');
    try {
      verifyAdvertisement(advert, { job, round }, host.identityKey(participant));
    } catch (err) {
      return ackError('BAD_SIGNATURE', (err as Error).message);
    }
    adverts.set(participant, advert);
    return null;
  }, { event: 'secagg-request', messageFor: () => advertise });
  if (!advertised) return { kind: 'restart' };
  if (!enough(advertised.replies.size)) return { kind: 'short', collection: advertised, what: `round ${round} (key advertisement)` };
  // A party with fewer than t live neighbours would refuse to share its secrets: it is left out, not waited for.
  const live0 = sharingParties(graph, advertised.replies.keys(), threshold);
  if (!enough(live0.size)) {
    const reason = `SECAGG_TOO_FEW_NEIGHBOURS: ${live0.size} of the ${advertised.replies.size} parties that advertised keys keep at least ${threshold} (the threshold) live neighbours, below the minimum of ${spec.minParticipants}`;
    return { kind: 'short', collection: advertised, what: `round ${round} (key advertisement)`, reason };
  }

  // 2. share keys: each party gets its live neighbours' keys
  const shares = new Map<string, EncryptedShare[]>(participants.map((p) => [p, []]));
  const sharedBy = new Map<string, EncryptedShare[]>();
  const shareRequests = new Map<string, SecAggRequest>();
  const shared = await runStep('share', [...live0], (participant, { header }) => {
    const expected = graph.get(participant)!.filter((p) => live0.has(p));
    const got = header.shares ?? [];
    const destinations = got.map((s) => s.destination).sort();
    if (got.some((s) => s.source !== participant) || destinations.join('\0') !== [...expected].sort().join('\0')) {
      return ackError('INVALID_FRAME', `a share reply holds one share from the participant to each of its live neighbours: ${expected.join(', ')}`);
    }
    sharedBy.set(participant, got);
    return null;
  }, {
    event: 'secagg-request',
    messageFor: (participant) => {
      let message = shareRequests.get(participant);
      if (!message) {
        const near = graph.get(participant)!.filter((p) => live0.has(p));
        const identities = Object.fromEntries(near.map((p) => [p, host.identityKeyText(p)!]));
        message = request('share', { adverts: near.map((p) => adverts.get(p)!), identities });
        shareRequests.set(participant, message);
      }
      return message;
    },
  });
  if (!shared) return { kind: 'restart' };
  if (!enough(shared.replies.size)) return { kind: 'short', collection: shared, what: `round ${round} (key sharing)` };
  const sharers = new Set(shared.replies.keys());
  // A sharer whose shares reached fewer than t other sharers can have its masks removed by no one: the round is over before anyone trains.
  const stranded = shortOfNeighbours(graph, sharers, threshold);
  if (stranded.length > 0) {
    const reason = `SECAGG_THRESHOLD: ${stranded.join(', ')} shared keys with fewer than the threshold of ${threshold} parties that shared theirs, so the round could not unmask`;
    return { kind: 'short', collection: shared, what: `round ${round} (key sharing)`, reason };
  }
  for (const [source, sent] of sharedBy) if (sharers.has(source)) for (const s of sent) if (sharers.has(s.destination)) shares.get(s.destination)!.push(s);

  // 3. train, and send the masked input
  const inputs: { participant: string; sha256: string }[] = [];
  const maskedInputs: Record<string, Uint32Array> = {};
  const words = vector ? vector.words : host.size + 1;
  const trained = await runStep('masked', [...sharers], (participant, { header, masked }) => {
    if (!masked || !header.maskedSha256) return ackError('INVALID_FRAME', 'a masked reply carries its input and the input’s SHA-256');
    if (masked.byteLength !== words * 4) return ackError('WRONG_SHAPE', `a masked input of ${masked.byteLength} bytes, not ${words * 4}`);
    if (sha256Hex(masked) !== header.maskedSha256) return ackError('DIGEST_MISMATCH', 'the masked input does not hash to maskedSha256');
    // The host hands over bytes of its own (not a view into a frame), read in place when word-aligned.
    maskedInputs[participant] = masked.byteOffset % 4 === 0 ? new Uint32Array(masked.buffer, masked.byteOffset, words) : new Uint32Array(new Uint8Array(masked).buffer, 0, words);
    inputs.push({ participant, sha256: header.maskedSha256 });
    return null;
  }, vector
    ? { event: 'secagg-request', messageFor: (participant) => request('masked', { shares: shares.get(participant)! }) }
    : { event: 'train', shares: (participant) => shares.get(participant)! });
  if (!trained) return { kind: 'restart' };
  if (!enough(trained.replies.size)) return { kind: 'short', collection: trained, what: `round ${round} (masked inputs)` };
  const survivors = [...trained.replies.keys()].sort();
  const dropped = [...sharers].filter((p) => !trained.replies.has(p)).sort();

  // 4. unmask
  const responses: UnmaskResponse[] = [];
  const survivorSet = new Set(survivors);
  const droppedSet = new Set(dropped);
  const unmaskRequest = request('unmask', { survivors, dropped });
  const unmasked = await runStep('unmask', survivors, (participant, { header }) => {
    const seedShares = header.seedShares ?? {};
    const keyShares = header.keyShares ?? {};
    if (Object.keys(seedShares).some((p) => !survivorSet.has(p)) || Object.keys(keyShares).some((p) => !droppedSet.has(p))) {
      return ackError('INVALID_FRAME', 'seed shares are of survivors, mask-key shares of dropped parties');
    }
    responses.push({ participant, seedShares, keyShares });
    return null;
  }, { event: 'secagg-request', messageFor: () => unmaskRequest });
  if (!unmasked) return { kind: 'restart' };
  const material = {
    job,
    round,
    participants,
    neighbours,
    threshold,
    adverts: [...sharers].sort().map((p) => adverts.get(p)!),
    sharers: [...sharers].sort(),
    maskedInputs,
    responses,
    width,
  };
  try {
    const secrets = await rebuildSecrets(material);
    const sum = removeMasks(material, secrets);
    // A dishonest party's input cannot be named, but a sum no honest inputs make is not committed: the round starts again, and the job pauses if it goes on.
    const outOfRange = quantization && sumOutOfRange(spec, quantization, sum, survivors.length);
    if (outOfRange) return { kind: 'short', collection: unmasked, what: `round ${round} (unmasking)`, reason: `SECAGG_OUT_OF_RANGE: ${outOfRange}` };
    // A holder whose shares do not fit is named; it cannot be told apart from an owner that dealt it a bad share, so the reason names both.
    for (const holder of new Set(secrets.misfits.map((m) => m.holder))) {
      const of = secrets.misfits.filter((m) => m.holder === holder).map((m) => `the ${m.secret} of ${m.of}`);
      failures.set(holder, { code: 'SECAGG_BAD_SHARE', reason: `returned a share that does not fit the others of ${of.join(', ')}: it altered the share, or its owner dealt it so` });
    }
    const record: AuditData<'secagg.unmasked'> = {
      job,
      round,
      participants,
      neighbours,
      threshold,
      ...(quantization ? { quantization } : { width }),
      adverts: material.adverts,
      sharers: material.sharers,
      seeds: secrets.seeds,
      maskKeys: secrets.maskKeys,
    };
    return { kind: 'sum', sum, quantization, inputs, unmasked: record, collection: trained, failures };
  } catch (err) {
    if (!(err instanceof SecAggError)) throw err;
    return { kind: 'short', collection: unmasked, what: `round ${round} (unmasking)`, reason: `${err.code}: ${err.message}` };
  }
}

/** The identity key a participant registered, as the store holds it. */
export const identityKeyOf = (publicKey: string | undefined): Uint8Array | undefined => (publicKey === undefined ? undefined : (decodePublicKey(publicKey) ?? undefined));
