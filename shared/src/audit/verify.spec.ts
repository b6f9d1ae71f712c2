/**
 * The audit verifier against a realistic log: real keys, signed updates and
 * models that really are the FedAvg of their updates. Every tampering a
 * coordinator or its storage could do must be caught and named: changed bytes
 * anywhere, a missing or reordered record, an update not signed by its sender,
 * and an aggregate that is not what the updates average to, even when the
 * coordinator re-seals its chain with its own key.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AUDIT_GENESIS,
  auditText,
  BundleSource,
  encodeKey,
  encodeWeights,
  fingerprint,
  generateKeyPair,
  initialModelAttestation,
  modelAttestation,
  randomNonce,
  sealAuditRecord,
  seededRandom,
  sha256Hex,
  signHeader,
  verifyAudit,
  WeightedAverage,
  writeBundle,
  aggregate,
  encodeState,
  EMPTY_STATE,
  StrategySpecSchema,
  STRATEGY_NAMES,
  type AuditData,
  type AuditItem,
  type AuditKind,
  type AuditSource,
  type KeyPair,
  type StrategySpec,
  type StrategyState,
  type UpdateHeader,
} from '..';

const JOB = 'credit-2024';
const SIZE = 37; // not a multiple of 8: the FedAvg fold's tail is exercised too

type Contributor = { participant: string; numSamples: number; sha256: string; weights: Float32Array };

/** Writes a log the way a coordinator does, keeping the bytes it would store. */
class TestLog {
  readonly coordinator = generateKeyPair();
  readonly texts: string[] = [];
  readonly updates = new Map<string, Uint8Array>();
  readonly models = new Map<string, Uint8Array>();
  readonly states = new Map<string, Uint8Array>();
  readonly keys = new Map<string, KeyPair>();
  private head = AUDIT_GENESIS;
  private at = 1_700_000_000_000;
  private readonly random = seededRandom(7);
  private readonly last = new Map<string, string>();
  /** per job: its strategy, the last model and the state the last round left */
  private readonly jobs = new Map<string, { strategy?: StrategySpec; model: Float32Array; state: StrategyState }>();

  constructor() {
    const publicKey = this.coordinator.publicKey;
    this.append('coordinator.key', { publicKey: encodeKey(publicKey), fingerprint: fingerprint(publicKey) });
  }

  append<K extends AuditKind>(kind: K, data: AuditData<K>, actor = 'coordinator', secretKey = this.coordinator.secretKey): void {
    this.at += 1000;
    const record = sealAuditRecord({ seq: this.texts.length + 1, at: this.at, kind, actor, data: data as Record<string, unknown>, prev: this.head }, secretKey);
    this.texts.push(auditText(record));
    this.head = record.hash;
  }

  register(name: string): void {
    const keys = generateKeyPair();
    this.keys.set(name, keys);
    this.append('participant.registered', { name, organisation: `${name} plc`, country: 'DE', publicKey: encodeKey(keys.publicKey) }, 'user:admin');
  }

  enroll(name: string): void {
    const keys = generateKeyPair();
    this.keys.set(name, keys);
    this.append('invitation.created', { id: `inv-${name}`, organisation: `${name} ag`, country: 'CH', name, expiresAt: this.at + 86_400_000, tokenSha256: sha256Hex(Buffer.from(name)) }, 'user:admin');
    this.append('participant.enrolled', { name, organisation: `${name} ag`, country: 'CH', publicKey: encodeKey(keys.publicKey), invitation: `inv-${name}` }, `invitation:inv-${name}`);
  }

  weights(): Float32Array {
    return Float32Array.from({ length: SIZE }, () => this.random() * 2 - 1);
  }

  createJob(job: string, strategy?: StrategySpec): void {
    this.append('job.created', { job, spec: { model: 'logistic', target: 'default', rounds: 3, learningRate: 0.05, batchSize: 16, ...(strategy && { strategy }) } }, 'user:admin');
    const model = this.weights();
    this.jobs.set(job, { strategy, model, state: EMPTY_STATE });
    const bytes = encodeWeights(model);
    const data = { job, round: 0 as const, sha256: sha256Hex(bytes), size: SIZE };
    this.models.set(`${job}/0`, bytes);
    this.last.set(job, data.sha256);
    this.append('model.initial', { ...data, signature: signHeader('model', initialModelAttestation(data), this.coordinator.secretKey) });
  }

  update(job: string, round: number, participant: string, options: { retained?: boolean; signer?: KeyPair; numSamples?: number } = {}): Contributor {
    const weights = this.weights();
    const bytes = encodeWeights(weights);
    const sha256 = sha256Hex(bytes);
    const numSamples = options.numSamples ?? 100 + Math.floor(this.random() * 900);
    const header: UpdateHeader = { type: 'update', job, round, participant, nonce: randomNonce(), numSamples, metrics: { trainLoss: 0.42 }, weightsSha256: sha256 };
    const signature = signHeader('update', header, (options.signer ?? this.keys.get(participant)!).secretKey);
    const retained = options.retained ?? true;
    if (retained) this.updates.set(updateKey(job, round, participant, sha256), bytes);
    this.append('update.accepted', { job, round, participant, sha256, numSamples, header, signature, retained }, `participant:${participant}`);
    return { participant, numSamples, sha256, weights };
  }

  /**
   * Commits FedAvg of the contributors (a log from before strategies were
   * recorded) or the aggregate of the job's strategy, or, with `lie`, another
   * model (or state) the coordinator claims it is.
   */
  commit(job: string, round: number, contributors: Contributor[], lie?: (model: Float32Array, state: StrategyState) => StrategyState | void): void {
    const current = this.jobs.get(job)!;
    let model: Float32Array;
    let recorded: { strategy: StrategySpec; stateSha256: string } | undefined;
    if (!current.strategy) {
      const average = new WeightedAverage(SIZE);
      for (const c of contributors) average.add(c.weights, c.numSamples);
      model = average.result()!;
      lie?.(model, EMPTY_STATE);
    } else {
      const result = aggregate(current.strategy, { global: current.model, state: current.state, training: { learningRate: 0.05, localEpochs: 1, batchSize: 16 } }, contributors)!;
      model = result.weights;
      const state = lie?.(model, result.state) ?? result.state;
      const stateBytes = encodeState(state);
      this.states.set(`${job}/${round}`, stateBytes);
      recorded = { strategy: current.strategy, stateSha256: sha256Hex(stateBytes) };
      current.state = state;
    }
    current.model = model;
    const bytes = encodeWeights(model);
    const data = {
      job,
      round,
      sha256: sha256Hex(bytes),
      previous: this.last.get(job)!,
      contributors: contributors.map(({ participant, numSamples, sha256 }) => ({ participant, numSamples, sha256 })),
      ...recorded,
    };
    this.models.set(`${job}/${round}`, bytes);
    this.last.set(job, data.sha256);
    this.append('model.committed', { ...data, signature: signHeader('model', modelAttestation(data), this.coordinator.secretKey) });
  }

  /** The record numbers of a kind, in order. */
  seqsOf(kind: AuditKind): number[] {
    return this.texts.flatMap((text, i) => (JSON.parse(text).kind === kind ? [i + 1] : []));
  }
}

const updateKey = (job: string, round: number, participant: string, sha256: string) => `${job}/${round}/${participant}/${sha256}`;

function describeItem(item: AuditItem): string {
  if ('record' in item) return `audit record ${item.record}`;
  if ('state' in item) return `strategy state after round ${item.state[1]} of job ${item.state[0]}`;
  if ('update' in item) return `update of ${item.update[2]}, round ${item.update[1]} of job ${item.update[0]}`;
  return `model of round ${item.model[1]} of job ${item.model[0]}`;
}

/** The log as stored; parts replaced to tamper with it. */
function source(
  log: TestLog,
  change: { texts?: string[]; updates?: Map<string, Uint8Array>; models?: Map<string, Uint8Array>; states?: Map<string, Uint8Array> } = {},
): AuditSource {
  const texts = change.texts ?? log.texts;
  const updates = change.updates ?? log.updates;
  const models = change.models ?? log.models;
  const states = change.states ?? log.states;
  return {
    records: () => texts.map((text, i) => ({ seq: i + 1, text })),
    update: (job, round, participant, sha256) => updates.get(updateKey(job, round, participant, sha256)),
    model: (job, round) => models.get(`${job}/${round}`),
    state: (job, round) => states.get(`${job}/${round}`),
    describe: describeItem,
  };
}

/**
 * A consortium's log: an admin, a registered site, an enrolled and approved one,
 * another registered one; a job, its initial model and three rounds of two or
 * three signed updates each.
 */
function consortiumLog(options: { retained?: (round: number) => boolean; strategy?: StrategySpec } = {}): TestLog {
  const log = new TestLog();
  log.append('user.added', { name: 'admin', role: 'admin' }, 'coordinator');
  log.register('bank-a');
  log.enroll('bank-b');
  log.append('participant.approved', { name: 'bank-b' }, 'user:admin');
  log.register('bank-c');
  log.createJob(JOB, options.strategy);
  const sites = [['bank-a', 'bank-b', 'bank-c'], ['bank-b', 'bank-a'], ['bank-c', 'bank-a', 'bank-b']];
  sites.forEach((names, i) => {
    const round = i + 1;
    const retained = options.retained?.(round) ?? true;
    log.commit(JOB, round, names.map((name) => log.update(JOB, round, name, { retained })));
  });
  return log;
}

const flip = (text: string, index: number, bit = 0x01): string => {
  const bytes = Buffer.from(text, 'utf8');
  bytes[index] ^= bit;
  return bytes.toString('utf8');
};

const flipBytes = (bytes: Uint8Array, index: number): Uint8Array => {
  const copy = new Uint8Array(bytes);
  copy[index] ^= 0x01;
  return copy;
};

describe('verifyAudit', () => {
  const log = consortiumLog();

  it('verifies a clean log, recomputing every round from the retained updates', async () => {
    // Execute
    const report = await verifyAudit(source(log), { coordinatorKey: encodeKey(log.coordinator.publicKey) });
    // Assert
    expect(report.failure).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.counts).toEqual({
      records: 20,
      participants: 3,
      jobs: 1,
      updates: 8,
      updatesRetained: 8,
      updatesChecked: 8,
      modelsChecked: 4,
      roundsRecomputed: 3,
      roundsNotRecomputable: 0,
    });
    expect(report.lines).toEqual([
      `chain: 20 records, hashes and coordinator signatures verified (coordinator key ${fingerprint(log.coordinator.publicKey)})`,
      'participants: 3 (3 approved)',
      'updates: 8 accepted, participant signatures verified; 8 retained, bytes match their hashes',
      `job ${JOB}: 3 rounds, 3 recomputed from 8 retained updates, models match`,
    ]);
    expect(report.coordinatorKey).toBe(encodeKey(log.coordinator.publicKey));
    expect(report.head).toBe(JSON.parse(log.texts[19]).hash);
  });

  it('tells each line as it goes and each verified record', async () => {
    // Prepare
    const lines: string[] = [];
    const kinds: string[] = [];
    // Execute
    const report = await verifyAudit(source(log), { onLine: (line) => lines.push(line), onRecord: (record) => kinds.push(record.kind) });
    // Assert
    expect(lines).toEqual(report.lines);
    expect(kinds).toHaveLength(20);
    expect(kinds[0]).toBe('coordinator.key');
  });

  it('verifies the chain and signature of a record of a kind it does not know (a newer coordinator), names the kind, and passes it on', async () => {
    // Prepare: a newer coordinator's record between the rounds, sealed and signed as every record is
    const newer = consortiumLog();
    newer.append('job.rescheduled' as AuditKind, { job: JOB, at: 1 } as never);
    newer.commit(JOB, 4, [newer.update(JOB, 4, 'bank-a')]);
    const seq = newer.texts.length - 2;
    const kinds: string[] = [];
    // Execute
    const report = await verifyAudit(source(newer), { onRecord: (record) => kinds.push(record.kind) });
    const altered = await verifyAudit(source(newer, { texts: newer.texts.map((text, i) => (i === seq - 1 ? text.replace('"at":1', '"at":2') : text)) }));
    // Assert
    expect(report.failure).toBeUndefined();
    expect(report.lines).toEqual(
      expect.arrayContaining([
        'records of kinds this verifier does not know (chain and signature verified, content not): 1 job.rescheduled',
        `job ${JOB}: 4 rounds, 4 recomputed from 9 retained updates, models match`,
      ]),
    );
    expect(kinds[seq - 1]).toBe('job.rescheduled');
    expect(altered.failure).toEqual({ where: `audit record ${seq}`, reason: 'its hash does not match its content' });
  });

  /** Verifies the log with one byte of one record changed; the failure it names. */
  const failureAt = async (seq: number, index: number, bit: number) => {
    const texts = [...log.texts];
    texts[seq - 1] = flip(log.texts[seq - 1], index, bit);
    return (await verifyAudit(source(log, { texts }))).failure?.where;
  };

  it('names the record of every byte changed in a whole update record', async () => {
    // The flipped bit alternates between a low one and the one that makes the byte invalid UTF-8.
    const seq = log.seqsOf('update.accepted')[0];
    for (let index = 0; index < Buffer.byteLength(log.texts[seq - 1]); index++) {
      const bit = index % 2 ? 0x80 : 0x01;
      // Execute and Assert
      expect({ index, where: await failureAt(seq, index, bit) }).toEqual({ index, where: `audit record ${seq}` });
    }
  });

  it('names the record of a byte changed in a sample of positions of every other kind of record, whatever the bit', async () => {
    // Prepare: the coordinator key, a user, a registration, an invitation, an enrollment, an approval,
    // a job, the initial model, a committed model and the last record. Records late in the
    // log take longer to reach (each verification checks the whole prefix): fewer positions there.
    for (const seq of [1, 2, 3, 4, 5, 6, 8, 9, log.seqsOf('model.committed')[0], 20]) {
      const step = seq < 10 ? 5 : 17;
      for (let index = 0; index < Buffer.byteLength(log.texts[seq - 1]); index += step) {
        const bit = [0x01, 0x08, 0x40, 0x80][(index / step) % 4];
        // Execute and Assert
        expect({ seq, index, bit, where: await failureAt(seq, index, bit) }).toEqual({ seq, index, bit, where: `audit record ${seq}` });
      }
    }
  });

  it('catches a signature spelled another way that decodes to the same bytes', async () => {
    // Prepare: the signature's last character before the padding carries 4 unused bits
    const seq = 5;
    const record = JSON.parse(log.texts[seq - 1]);
    const last = record.signature.charAt(85);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    record.signature = record.signature.slice(0, 85) + alphabet[alphabet.indexOf(last) ^ 1] + '==';
    expect(Buffer.from(record.signature, 'base64')).toEqual(Buffer.from(JSON.parse(log.texts[seq - 1]).signature, 'base64'));
    const texts = [...log.texts];
    texts[seq - 1] = auditText(record);
    // Execute
    const report = await verifyAudit(source(log, { texts }));
    // Assert
    expect(report.failure).toEqual({ where: `audit record ${seq}`, reason: 'not signed by the coordinator key of record 1' });
  });

  it('names an update whose stored bytes changed, at every byte', async () => {
    // Prepare
    const seq = log.seqsOf('update.accepted')[3];
    const { job, round, participant, sha256 } = JSON.parse(log.texts[seq - 1]).data;
    const key = updateKey(job, round, participant, sha256);
    const bytes = log.updates.get(key)!;
    for (let index = 0; index < bytes.length; index++) {
      const updates = new Map(log.updates).set(key, flipBytes(bytes, index));
      // Execute
      const report = await verifyAudit(source(log, { updates }));
      // Assert
      expect({ index, failure: report.failure }).toEqual({
        index,
        failure: { where: `update of ${participant}, round ${round} of job ${JOB}`, reason: `its bytes do not hash to ${sha256}, the SHA-256 in audit record ${seq}` },
      });
    }
  });

  it('names a global model whose stored bytes changed, at every byte, and one that is missing', async () => {
    for (const round of [0, 2]) {
      const bytes = log.models.get(`${JOB}/${round}`)!;
      for (let index = 0; index < bytes.length; index++) {
        const models = new Map(log.models).set(`${JOB}/${round}`, flipBytes(bytes, index));
        // Execute
        const report = await verifyAudit(source(log, { models }));
        // Assert
        expect({ index, where: report.failure?.where }).toEqual({ index, where: `model of round ${round} of job ${JOB}` });
      }
    }
    const models = new Map(log.models);
    models.delete(`${JOB}/3`);
    expect((await verifyAudit(source(log, { models }))).failure).toEqual({ where: `model of round 3 of job ${JOB}`, reason: `missing (audit record 20 commits it)` });
  });

  it('names a retained update that is missing', async () => {
    // Prepare
    const updates = new Map(log.updates);
    const seq = log.seqsOf('update.accepted')[0];
    const { round, participant, sha256 } = JSON.parse(log.texts[seq - 1]).data;
    updates.delete(updateKey(JOB, round, participant, sha256));
    // Execute
    const report = await verifyAudit(source(log, { updates }));
    // Assert
    expect(report.failure).toEqual({
      where: `update of ${participant}, round 1 of job ${JOB}`,
      reason: `missing, though audit record ${seq} says it was retained and no updates.pruned record deletes it`,
    });
  });

  it('accepts retained updates deleted by the retention policy when a record says so, and no others', async () => {
    // Prepare: the policy keeps one round; round 1's updates are deleted after round 2 commits
    const pruned = consortiumLog();
    pruned.append('updates.pruned', { job: JOB, throughRound: 1 });
    const updates = new Map(pruned.updates);
    for (const key of [...updates.keys()]) if (key.startsWith(`${JOB}/1/`)) updates.delete(key);
    // Execute
    const report = await verifyAudit(source(pruned, { updates }));
    // Assert
    expect(report.failure).toBeUndefined();
    expect(report.counts).toMatchObject({ roundsRecomputed: 2, roundsNotRecomputable: 1 });
    expect(report.lines).toContain(`job ${JOB}: 3 rounds, 2 recomputed from 5 retained updates, 1 not recomputable (updates deleted by the retention policy), models match`);
    // A round-2 update deleted too, beyond what the record covers, is named.
    const round2 = [...updates.keys()].find((key) => key.startsWith(`${JOB}/2/`))!;
    updates.delete(round2);
    expect((await verifyAudit(source(pruned, { updates }))).failure?.where).toBe(`update of ${round2.split('/')[2]}, round 2 of job ${JOB}`);
  });

  it('names the place of a removed or reordered record', async () => {
    for (let seq = 1; seq < 20; seq++) {
      // Prepare
      const removed = log.texts.filter((_, i) => i !== seq - 1);
      const swapped = [...log.texts];
      [swapped[seq - 1], swapped[seq]] = [swapped[seq], swapped[seq - 1]];
      // Execute and Assert
      expect((await verifyAudit(source(log, { texts: removed }))).failure?.where).toBe(`audit record ${seq}`);
      expect((await verifyAudit(source(log, { texts: swapped }))).failure?.where).toBe(`audit record ${seq}`);
    }
  });

  it('catches a log cut short only against the head its source claims', async () => {
    // Prepare
    const texts = log.texts.slice(0, -1);
    const claimedHead = { records: 20, hash: JSON.parse(log.texts[19]).hash, where: 'the export manifest' };
    // Execute
    const unclaimed = await verifyAudit(source(log, { texts }));
    const claimed = await verifyAudit({ ...source(log, { texts }), claimedHead });
    // Assert: a shorter log is a valid log in itself
    expect(unclaimed.ok).toBe(true);
    expect(claimed.failure?.where).toBe('the export manifest');
    expect((await verifyAudit({ ...source(log), claimedHead })).ok).toBe(true);
  });

  it('refuses a log whose first record announces another key than the trusted one', async () => {
    // Execute
    const report = await verifyAudit(source(log), { coordinatorKey: encodeKey(generateKeyPair().publicKey) });
    // Assert
    expect(report.failure?.where).toBe('audit record 1');
    expect(report.failure?.reason).toMatch(/^announces coordinator key .* not the trusted /);
    expect(report.lines).toEqual([`FAILED: audit record 1: ${report.failure?.reason}`]);
  });

  it('refuses a log re-signed by another key from some record on', async () => {
    // Prepare: the key of record 1 stays, records after it are sealed by an impostor
    const impostor = generateKeyPair();
    const forged = new TestLog();
    forged.append('user.added', { name: 'admin', role: 'admin' });
    forged.append('user.added', { name: 'mallory', role: 'admin' }, 'user:admin', impostor.secretKey);
    // Execute
    const report = await verifyAudit(source(forged));
    // Assert
    expect(report.failure).toEqual({ where: 'audit record 3', reason: 'not signed by the coordinator key of record 1' });
    expect(report.lines[0]).toBe('chain: records 1 to 2 verified before the inconsistency');
  });

  it('refuses an update not signed by the participant it names', async () => {
    // Prepare
    const forged = new TestLog();
    forged.register('bank-a');
    forged.register('bank-b');
    forged.createJob(JOB);
    const a = forged.update(JOB, 1, 'bank-a');
    const b = forged.update(JOB, 1, 'bank-b', { signer: forged.keys.get('bank-a') });
    forged.commit(JOB, 1, [a, b]);
    // Execute
    const report = await verifyAudit(source(forged));
    // Assert
    expect(report.failure).toEqual({ where: 'audit record 7', reason: 'the update is not signed by the key of bank-b' });
  });

  it('verifies an update left out with its sender\'s signature, and refuses one the sender did not sign', async () => {
    // Prepare: bank-b's update of round 1 is left out; in the forged log, its header is signed by bank-a
    const logWith = (signer: string) => {
      const l = new TestLog();
      l.register('bank-a');
      l.register('bank-b');
      l.createJob(JOB);
      const a = l.update(JOB, 1, 'bank-a');
      const header: UpdateHeader = { type: 'update', job: JOB, round: 1, participant: 'bank-b', nonce: randomNonce(), numSamples: 1e9, metrics: {}, weightsSha256: sha256Hex(Buffer.from('x')) };
      const signature = signHeader('update', header, l.keys.get(signer)!.secretKey);
      l.append('update.excluded', { job: JOB, round: 1, participant: 'bank-b', code: 'IMPLAUSIBLE_SAMPLES', reason: 'numSamples 1000000000 is not between 1 and 40', header, signature }, 'participant:bank-b');
      l.commit(JOB, 1, [a]);
      return l;
    };
    // Execute, Assert
    expect((await verifyAudit(source(logWith('bank-b')))).failure).toBeUndefined();
    expect((await verifyAudit(source(logWith('bank-a')))).failure).toEqual({ where: 'audit record 7', reason: 'the update left out is not signed by the key of bank-b' });
  });

  it('refuses an update from a participant whose enrollment is not approved, or was revoked', async () => {
    // Prepare
    const pending = new TestLog();
    pending.enroll('bank-b');
    pending.createJob(JOB);
    pending.update(JOB, 1, 'bank-b');
    const revoked = new TestLog();
    revoked.register('bank-a');
    revoked.createJob(JOB);
    revoked.append('participant.revoked', { name: 'bank-a', reason: 'key lost' }, 'user:admin');
    revoked.update(JOB, 1, 'bank-a');
    // Execute and Assert
    expect((await verifyAudit(source(pending))).failure).toEqual({ where: 'audit record 6', reason: 'participant bank-b is pending, not approved' });
    expect((await verifyAudit(source(revoked))).failure).toEqual({ where: 'audit record 6', reason: 'participant bank-a is revoked, not approved' });
  });

  it('refuses a model committed from an update that was never accepted', async () => {
    // Prepare
    const forged = new TestLog();
    forged.register('bank-a');
    forged.createJob(JOB);
    const a = forged.update(JOB, 1, 'bank-a');
    forged.commit(JOB, 1, [a, { ...a, participant: 'bank-z' }]);
    // Execute
    const report = await verifyAudit(source(forged));
    // Assert
    expect(report.failure?.where).toBe('audit record 6');
    expect(report.failure?.reason).toMatch(/^contributor bank-z: no accepted update of round 1/);
  });

  it('catches a coordinator that commits another model than the FedAvg, even with its chain sealed by its own key', async () => {
    // Prepare: everything is signed with the real coordinator key; only the aggregate is off, by one float
    const lying = new TestLog();
    lying.register('bank-a');
    lying.register('bank-b');
    lying.createJob(JOB);
    lying.commit(JOB, 1, [lying.update(JOB, 1, 'bank-a'), lying.update(JOB, 1, 'bank-b')]);
    lying.commit(JOB, 2, [lying.update(JOB, 2, 'bank-a'), lying.update(JOB, 2, 'bank-b')], (model) => {
      model[11] += 1e-3;
    });
    // Execute
    const report = await verifyAudit(source(lying), { coordinatorKey: encodeKey(lying.coordinator.publicKey) });
    // Assert
    expect(report.failure?.where).toBe('audit record 11');
    expect(report.failure?.reason).toMatch(/^the committed model is not the FedAvg of its contributors' updates: recomputed SHA-256 [0-9a-f]{64}, recorded [0-9a-f]{64}$/);
  });

  it('folds the contributors in their recorded order', async () => {
    // Prepare: the same updates committed in the other order; float32 rounding can tell them apart
    const log2 = new TestLog();
    log2.register('bank-a');
    log2.register('bank-b');
    log2.register('bank-c');
    log2.createJob(JOB);
    const updates = ['bank-a', 'bank-b', 'bank-c'].map((name) => log2.update(JOB, 1, name));
    log2.commit(JOB, 1, updates.reverse());
    // Execute and Assert
    expect((await verifyAudit(source(log2))).counts.roundsRecomputed).toBe(1);
  });

  it('reports rounds whose updates were not retained as not recomputable, and still verifies them', async () => {
    // Prepare
    const partial = consortiumLog({ retained: (round) => round !== 2 });
    // Execute
    const report = await verifyAudit(source(partial));
    // Assert
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ updates: 8, updatesRetained: 6, updatesChecked: 6, roundsRecomputed: 2, roundsNotRecomputable: 1, modelsChecked: 4 });
    expect(report.lines).toContain(`job ${JOB}: 3 rounds, 2 recomputed from 6 retained updates, 1 not recomputable (updates not retained), models match`);
  });

  it('accepts a round started again, with a second update of the same participant', async () => {
    // Prepare: round 1's first attempt had too few updates; the second commits
    const retried = new TestLog();
    retried.register('bank-a');
    retried.register('bank-b');
    retried.createJob(JOB);
    retried.update(JOB, 1, 'bank-a');
    retried.commit(JOB, 1, [retried.update(JOB, 1, 'bank-a'), retried.update(JOB, 1, 'bank-b')]);
    // Execute and Assert
    expect((await verifyAudit(source(retried))).ok).toBe(true);
  });

  it('refuses a record out of the job order: a model before its job, a round skipped', async () => {
    // Prepare
    const early = new TestLog();
    const bytes = encodeWeights(early.weights());
    const data = { job: JOB, round: 0 as const, sha256: sha256Hex(bytes), size: SIZE };
    early.append('model.initial', { ...data, signature: signHeader('model', initialModelAttestation(data), early.coordinator.secretKey) });
    early.models.set(`${JOB}/0`, bytes);
    const skipped = new TestLog();
    skipped.register('bank-a');
    skipped.createJob(JOB);
    skipped.update(JOB, 2, 'bank-a');
    // Execute and Assert
    expect((await verifyAudit(source(early))).failure).toEqual({ where: 'audit record 2', reason: `job ${JOB} was never created (no job.created before this record)` });
    expect((await verifyAudit(source(skipped))).failure).toEqual({ where: 'audit record 5', reason: `an update for round 2 while round 1 of job ${JOB} is open` });
  });

  it('refuses an empty log', async () => {
    expect((await verifyAudit(source(log, { texts: [] }))).failure).toEqual({ where: 'the audit log', reason: 'holds no record' });
  });
});

describe('audit bundles', () => {
  const log = consortiumLog();
  const temp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-'));

  it('writes the records exactly, the retained updates and the models, and verifies the same', async () => {
    // Prepare
    const dir = path.join(temp(), 'bundle');
    // Execute
    const manifest = await writeBundle(source(log), dir);
    const report = await verifyAudit(new BundleSource(dir), { coordinatorKey: encodeKey(log.coordinator.publicKey) });
    // Assert
    expect(manifest).toMatchObject({ format: 'fl-audit-bundle', version: 2, coordinatorKey: encodeKey(log.coordinator.publicKey), records: 20, head: JSON.parse(log.texts[19]).hash });
    expect(fs.readFileSync(path.join(dir, 'records.jsonl'), 'utf8')).toBe(log.texts.join('\n') + '\n');
    expect(fs.readdirSync(path.join(dir, 'updates', JOB, '2')).sort()).toHaveLength(2);
    expect(fs.readdirSync(path.join(dir, 'models', JOB)).sort()).toEqual(['0.f32', '1.f32', '2.f32', '3.f32']);
    expect(report.ok).toBe(true);
    expect(report.counts).toEqual((await verifyAudit(source(log))).counts);
  });

  it('names the file and line of a changed byte', async () => {
    // Prepare
    const dir = temp();
    await writeBundle(source(log), dir);
    const verifyWith = async (file: string, at: (bytes: Buffer) => number) => {
      const bytes = fs.readFileSync(path.join(dir, file));
      const index = at(bytes);
      bytes[index] ^= 0x04;
      fs.writeFileSync(path.join(dir, file), bytes);
      const report = await verifyAudit(new BundleSource(dir));
      bytes[index] ^= 0x04;
      fs.writeFileSync(path.join(dir, file), bytes);
      return report.failure?.where;
    };
    const seq = log.seqsOf('update.accepted')[4];
    const { round, participant, sha256 } = JSON.parse(log.texts[seq - 1]).data;
    const offset = Buffer.byteLength(log.texts.slice(0, 11).join('\n') + '\n');
    // Execute and Assert
    expect(await verifyWith('records.jsonl', () => offset + 30)).toBe(`audit record 12 (${path.join(dir, 'records.jsonl')} line 12)`);
    expect(await verifyWith(`updates/${JOB}/${round}/${participant}.${sha256}.f32`, () => 17)).toBe(
      `update of ${participant}, round ${round} of job ${JOB} (file ${path.join(dir, 'updates', JOB, String(round), `${participant}.${sha256}.f32`)})`,
    );
    expect(await verifyWith(`models/${JOB}/3.f32`, (bytes) => bytes.length - 1)).toBe(`model of round 3 of job ${JOB} (file ${path.join(dir, 'models', JOB, '3.f32')})`);
    expect(await verifyWith('records.jsonl', (bytes) => bytes.length - 1)).toBe(`audit record 20 (${path.join(dir, 'records.jsonl')} line 20)`);
    expect((await verifyAudit(new BundleSource(dir))).ok).toBe(true);
  });

  it('refuses a record whose U+FFFD was replaced by a byte that is not UTF-8, which reads back as the same text', async () => {
    // Prepare: a log whose last record holds U+FFFD (EF BF BD), then that character's bytes made one invalid byte
    const withReplacement = consortiumLog();
    withReplacement.append('user.added', { name: 'cr\uFFFDdit', role: 'viewer' }, 'coordinator');
    const dir = temp();
    await writeBundle(source(withReplacement), dir);
    expect((await verifyAudit(new BundleSource(dir))).ok).toBe(true);
    const file = path.join(dir, 'records.jsonl');
    const bytes = fs.readFileSync(file);
    const at = bytes.lastIndexOf(Buffer.from([0xef, 0xbf, 0xbd]));
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]));
    // Execute
    const report = await verifyAudit(new BundleSource(dir));
    // Assert
    expect(report.failure).toEqual({ where: `audit record 21 (${file} line 21)`, reason: 'not UTF-8: its bytes were changed' });
  });

  it('refuses a bundle cut short by its manifest, and a directory without one', async () => {
    // Prepare
    const dir = temp();
    await writeBundle(source(log), dir);
    const file = path.join(dir, 'records.jsonl');
    fs.writeFileSync(file, log.texts.slice(0, 19).join('\n') + '\n');
    // Execute
    const report = await verifyAudit(new BundleSource(dir));
    // Assert
    expect(report.failure?.where).toBe(path.join(dir, 'manifest.json'));
    expect(() => new BundleSource(temp())).toThrow(/not an audit bundle: it has no manifest.json/);
  });

  it.each<[string, (manifest: Record<string, unknown>) => unknown, string]>([
    ['a fraction of a millisecond', (m) => ({ ...m, exportedAt: 1.5 }), 'exportedAt must be a whole number, not 1.5'],
    ['no head', ({ head: _, ...m }) => m, 'it has no head'],
    ['a version to come', (m) => ({ ...m, version: 3 }), 'version must be 1 or 2, not 3'],
    ['another format', (m) => ({ ...m, format: 'zip' }), 'format must be "fl-audit-bundle", not "zip"'],
    ['a list for an object', () => [], 'it is not a JSON object'],
  ])('refuses a manifest with %s, naming the field and what it must be', async (_, change, problem) => {
    // Prepare
    const dir = temp();
    await writeBundle(source(log), dir);
    const file = path.join(dir, 'manifest.json');
    fs.writeFileSync(file, JSON.stringify(change(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)));
    // Execute, Assert
    expect(() => new BundleSource(dir)).toThrow(`${file} is not an audit bundle manifest: ${problem}`);
  });

  it('exports one participant\'s updates only, which verifies without recomputing', async () => {
    // Prepare
    const dir = temp();
    // Execute
    await writeBundle(source(log), dir, { participant: 'bank-c' });
    const report = await verifyAudit(new BundleSource(dir));
    // Assert
    const files = fs.readdirSync(path.join(dir, 'updates', JOB), { recursive: true }).map(String).filter((f) => f.endsWith('.f32'));
    expect(files).toHaveLength(2);
    expect(files.every((f) => f.includes('bank-c.'))).toBe(true);
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ updatesRetained: 8, updatesChecked: 2, roundsRecomputed: 0, roundsNotRecomputable: 3 });
    expect(report.lines).toContain(`job ${JOB}: 3 rounds, 0 recomputed from 0 retained updates, 3 not recomputable (other sites' updates are not in this export), models match`);
  });

  it('leaves no half bundle when writing fails, so that the next try finds the directory as it was', async () => {
    // Prepare: a source that fails after its first records
    const dir = path.join(temp(), 'bundle');
    const failing: AuditSource = {
      ...source(log),
      async *records() {
        yield* log.texts.slice(0, 3).map((text, i) => ({ seq: i + 1, text }));
        throw new Error('the disk is full');
      },
    };
    // Execute, Assert
    await expect(writeBundle(failing, dir)).rejects.toThrow(`cannot write the audit bundle ${dir}: the disk is full`);
    expect(fs.existsSync(dir)).toBe(false);
    await writeBundle(source(log), dir);
    expect((await verifyAudit(new BundleSource(dir))).ok).toBe(true);
  });

  it('refuses to write into a directory that is not empty', async () => {
    const dir = temp();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    await expect(writeBundle(source(log), dir)).rejects.toThrow(/is not empty/);
  });

  it('keeps any job or participant name inside the bundle', async () => {
    // Prepare
    const odd = new TestLog();
    odd.register('../bank');
    odd.createJob('../../job');
    odd.commit('../../job', 1, [odd.update('../../job', 1, '../bank')]);
    const parent = temp();
    const dir = path.join(parent, 'bundle');
    // Execute
    await writeBundle(source(odd), dir);
    // Assert
    expect(fs.readdirSync(parent)).toEqual(['bundle']);
    expect((await verifyAudit(new BundleSource(dir))).counts.roundsRecomputed).toBe(1);
  });
});

describe('verifyAudit of every strategy', () => {
  const strategyLog = (name: string, retained?: (round: number) => boolean) =>
    consortiumLog({ strategy: StrategySpecSchema.parse({ name, ...(name === 'krum' && { f: 1 }) }), retained });

  // k-means aggregates k-means models only: its own test is in test/src/kmeans.spec.ts.
  it.each(STRATEGY_NAMES.filter((name) => name !== 'kmeans'))('%s: recomputes every round, model and state, from the retained updates', async (name) => {
    const log = strategyLog(name);
    const report = await verifyAudit(source(log));
    expect(report.failure).toBeUndefined();
    expect(report.counts.roundsRecomputed).toBe(3);
    expect(report.lines).toContain(
      name === 'fedavg'
        ? `job ${JOB}: 3 rounds, 3 recomputed from 8 retained updates, models match`
        : `job ${JOB}: 3 rounds, 3 recomputed from 8 retained updates, models and strategy states match (${name})`,
    );
  });

  it('fails when a stored state is altered, naming it', async () => {
    const log = strategyLog('fedadam');
    const states = new Map(log.states);
    states.set(`${JOB}/2`, flipBytes(states.get(`${JOB}/2`)!, 40));
    const report = await verifyAudit(source(log, { states }));
    expect(report.failure?.where).toBe(`strategy state after round 2 of job ${JOB}`);
    expect(report.failure?.reason).toMatch(/^its bytes do not hash to [0-9a-f]{64}, the SHA-256 in audit record \d+$/);
  });

  it('fails when a stored state is missing', async () => {
    const log = strategyLog('scaffold');
    const states = new Map(log.states);
    states.delete(`${JOB}/1`);
    expect((await verifyAudit(source(log, { states }))).failure?.where).toBe(`strategy state after round 1 of job ${JOB}`);
  });

  it('catches a coordinator that commits another state than the updates give, even re-signed with its own key', async () => {
    // A coordinator that lies about round 3's momentum: its model is right, its state is not, and it signs both.
    const lying = consortiumLogWith(new TestLog(), 'fedavgm', 3, (_model, state) => ({ momentum: state.momentum.map((v) => v * 2) }));
    const report = await verifyAudit(source(lying));
    expect(report.failure?.where).toBe(`audit record ${lying.seqsOf('model.committed')[2]}`);
    expect(report.failure?.reason).toMatch(/^the committed strategy state is not the one its contributors' updates give/);
  });

  it('continues from the stored state when a round cannot be recomputed', async () => {
    const log = strategyLog('fedyogi', (round) => round !== 2);
    const report = await verifyAudit(source(log));
    expect(report.failure).toBeUndefined();
    expect(report.counts).toMatchObject({ roundsRecomputed: 2, roundsNotRecomputable: 1 });
  });

  it('carries the states in a bundle, which verifies offline and names a changed state file', async () => {
    const log = strategyLog('scaffold');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-'));
    try {
      await writeBundle(source(log), dir);
      const report = await verifyAudit(new BundleSource(dir));
      expect(report.failure).toBeUndefined();
      expect(report.counts.roundsRecomputed).toBe(3);
      const file = path.join(dir, 'states', JOB, '2.state');
      fs.writeFileSync(file, flipBytes(fs.readFileSync(file), 3));
      expect((await verifyAudit(new BundleSource(dir))).failure?.where).toBe(`strategy state after round 2 of job ${JOB} (file ${file})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails when a round names another strategy than its job', async () => {
    const log = new TestLog();
    log.register('bank-a');
    log.createJob(JOB, StrategySpecSchema.parse({ name: 'median' }));
    // The spec says median; the coordinator commits, signed, a FedAvg it calls median's.
    Object.assign(log, { jobs: new Map([[JOB, { strategy: StrategySpecSchema.parse({ name: 'fedavg' }), model: new Float32Array(SIZE), state: EMPTY_STATE }]]) });
    log.commit(JOB, 1, [log.update(JOB, 1, 'bank-a')]);
    const report = await verifyAudit(source(log));
    expect(report.failure?.reason).toMatch(/not the .*median.* its job's spec names/);
  });
});

/** The consortium's log under a strategy, the coordinator lying about round `lieAt`. */
function consortiumLogWith(log: TestLog, name: string, lieAt: number, lie: (model: Float32Array, state: StrategyState) => StrategyState): TestLog {
  log.register('bank-a');
  log.register('bank-b');
  log.createJob(JOB, StrategySpecSchema.parse({ name }));
  for (let round = 1; round <= 3; round++) {
    const updates = ['bank-a', 'bank-b'].map((p) => log.update(JOB, round, p));
    log.commit(JOB, round, updates, round === lieAt ? lie : undefined);
  }
  return log;
}
