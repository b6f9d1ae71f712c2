/**
 * `fl-agent audit verify` from one site's side: a bundle the coordinator
 * exported, built as a coordinator writes its log (real keys, signed updates,
 * FedAvg models), checked against the journal of what this site sent.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AUDIT_GENESIS,
  auditText,
  encodeKey,
  encodeWeights,
  fingerprint,
  generateKeyPair,
  initialModelAttestation,
  modelAttestation,
  randomNonce,
  sealAuditRecord,
  sha256Hex,
  signHeader,
  WeightedAverage,
  writeBundle,
  type AuditData,
  type AuditKind,
  type AuditSource,
  type KeyPair,
  type SecAggReplyHeader,
  type UpdateHeader,
} from '@fl/shared';
import { appendJournal, readJournal, readJournalLines, type JournalEntry, type SentRecord } from '../client/journal';
import { CoordinatorPins } from '../client/pins';
import { verifyBundle, type VerifyBundleOptions } from './verify-bundle';

const ORIGIN = 'https://fl.example.org';
const JOB = 'credit-2024';
const SIZE = 10;

/** A coordinator's log, kept as it stores it, and what the sites' agents journaled. */
class Consortium {
  readonly coordinator: KeyPair;
  readonly keys = new Map<string, KeyPair>();
  readonly journal = new Map<string, (JournalEntry | SentRecord)[]>();
  readonly texts: string[] = [];
  readonly updates = new Map<string, Uint8Array>();
  readonly models = new Map<string, Uint8Array>();
  private head = AUDIT_GENESIS;
  private at = Date.now() - 3_600_000;
  private previous = '';

  /** `resigning`: a log the operator writes anew with the keys of another (its coordinator's, its sites'), holding job `job` alone. */
  constructor(sites: string[], resigning?: { of: Consortium; job: string }) {
    this.coordinator = resigning?.of.coordinator ?? generateKeyPair();
    const job = resigning?.job ?? JOB;
    const key = this.coordinator.publicKey;
    this.append('coordinator.key', { publicKey: encodeKey(key), fingerprint: fingerprint(key) });
    for (const name of sites) {
      const keys = resigning?.of.keys.get(name) ?? generateKeyPair();
      this.keys.set(name, keys);
      this.journal.set(name, []);
      this.append('participant.registered', { name, organisation: name, country: 'NL', publicKey: encodeKey(keys.publicKey) });
    }
    this.append('job.created', { job, spec: { model: 'linear' } });
    const bytes = encodeWeights(new Float32Array(SIZE).fill(0.5));
    const data = { job, round: 0 as const, sha256: sha256Hex(bytes), size: SIZE };
    this.models.set(`${job}/0`, bytes);
    this.previous = data.sha256;
    this.append('model.initial', { ...data, signature: signHeader('model', initialModelAttestation(data), this.coordinator.secretKey) });
  }

  append<K extends AuditKind>(kind: K, data: AuditData<K>): void {
    this.at += 1000;
    const record = sealAuditRecord({ seq: this.texts.length + 1, at: this.at, kind, actor: 'coordinator', data: data as Record<string, unknown>, prev: this.head }, this.coordinator.secretKey);
    this.texts.push(auditText(record));
    this.head = record.hash;
  }

  /** A site sends an update and journals it; the coordinator records it unless `unrecorded`; `answered: false`, the site stopped before the answer came. */
  send(round: number, participant: string, options: { recorded?: boolean; acknowledged?: boolean; answered?: boolean } = {}) {
    const weights = Float32Array.from({ length: SIZE }, (_, i) => Math.sin(round * 7 + i + participant.length));
    const bytes = encodeWeights(weights);
    const sha256 = sha256Hex(bytes);
    const numSamples = 50 + round + participant.length;
    // The head of the log as the round's train request showed it, before this update's record.
    const auditHead = { seq: this.texts.length, hash: this.head };
    const header: UpdateHeader = { type: 'update', job: JOB, round, participant, nonce: randomNonce(), numSamples, metrics: {}, weightsSha256: sha256 };
    const signature = signHeader('update', header, this.keys.get(participant)!.secretKey);
    if (options.recorded ?? true) {
      this.updates.set(`${round}/${participant}/${sha256}`, bytes);
      this.append('update.accepted', { job: JOB, round, participant, sha256, numSamples, header, signature, retained: true });
    }
    const accepted = (options.answered ?? true) ? { accepted: options.acknowledged ?? true } : {};
    const entry = { coordinator: ORIGIN, job: JOB, round, participant, sha256, numSamples, signature, ...accepted, nonce: header.nonce, at: this.at, auditHead };
    this.journal.get(participant)!.push(entry);
    return { participant, numSamples, sha256, weights };
  }

  commit(round: number, contributors: { participant: string; numSamples: number; sha256: string; weights: Float32Array }[]): void {
    const average = new WeightedAverage(SIZE);
    for (const c of contributors) average.add(c.weights, c.numSamples);
    const bytes = encodeWeights(average.result()!);
    const data = { job: JOB, round, sha256: sha256Hex(bytes), previous: this.previous, contributors: contributors.map(({ participant, numSamples, sha256 }) => ({ participant, numSamples, sha256 })) };
    this.models.set(`${JOB}/${round}`, bytes);
    this.previous = data.sha256;
    this.append('model.committed', { ...data, signature: signHeader('model', modelAttestation(data), this.coordinator.secretKey) });
  }

  /**
   * A site sends a secure round's masked input (a training round's, answering a train request) and journals it as the
   * agent does; the coordinator records it unless `recorded` is false. `journaled: 'digest only'`, as an earlier release
   * journaled it: its SHA-256 in the `discloses` text alone.
   */
  sendMasked(round: number, participant: string, options: { recorded?: boolean; acknowledged?: boolean; answered?: boolean; journaled?: 'digest only' } = {}) {
    // Random-looking, as a masked input is; each attempt of a round masks with new keys.
    const bytes = new Uint8Array(randomBytes((SIZE + 1) * 4));
    const sha256 = sha256Hex(bytes);
    const auditHead = { seq: this.texts.length, hash: this.head };
    const header: SecAggReplyHeader = { type: 'secagg', job: JOB, round, participant, nonce: randomNonce(), step: 'masked', maskedSha256: sha256 };
    const signature = signHeader('secagg', header, this.keys.get(participant)!.secretKey);
    if (options.recorded ?? true) {
      this.updates.set(`${round}/${participant}/${sha256}`, bytes);
      this.append('secagg.input', { job: JOB, round, participant, sha256, header, signature, retained: true });
    }
    const accepted = (options.answered ?? true) ? { accepted: options.acknowledged ?? true } : {};
    const discloses = [`the masked input: ${bytes.byteLength} bytes, SHA-256 ${sha256}`];
    const input = options.journaled === 'digest only' ? {} : { sha256, signature, auditHead };
    this.journal.get(participant)!.push({ kind: 'secagg', coordinator: ORIGIN, job: JOB, round, participant, step: 'masked', discloses, ...input, ...accepted, nonce: header.nonce, at: this.at });
    return { participant, sha256 };
  }

  /** A site's answer to another step of a secure round (advertise, share, unmask), journaled as the agent does; the log records none. */
  answerStep(round: number, participant: string, step: 'advertise' | 'share' | 'unmask'): void {
    this.at += 1000;
    this.journal.get(participant)!.push({ kind: 'secagg', coordinator: ORIGIN, job: JOB, round, participant, step, discloses: [], accepted: true, nonce: randomNonce(), at: this.at });
  }

  /** A secure round's commit: the unmasked sum's model, its contributors the masked inputs (their sample counts hidden in the sum). */
  commitSecure(round: number, contributors: { participant: string; sha256: string }[]): void {
    const bytes = encodeWeights(Float32Array.from({ length: SIZE }, (_, i) => Math.cos(round + i)));
    const data = {
      job: JOB,
      round,
      sha256: sha256Hex(bytes),
      previous: this.previous,
      contributors: contributors.map(({ participant, sha256 }) => ({ participant, numSamples: 0, sha256 })),
      secure: { weight: 100 * contributors.length },
    };
    this.models.set(`${JOB}/${round}`, bytes);
    this.previous = data.sha256;
    this.append('model.committed', { ...data, signature: signHeader('model', modelAttestation(data), this.coordinator.secretKey) });
  }

  source(): AuditSource {
    return {
      records: () => this.texts.map((text, i) => ({ seq: i + 1, text })),
      update: (_job, round, participant, sha256) => this.updates.get(`${round}/${participant}/${sha256}`),
      model: (job, round) => this.models.get(`${job}/${round}`),
      describe: (item) => JSON.stringify(item),
    };
  }
}

/** Three rounds of bank-a and bank-b; bank-a also sent one update the coordinator refused. */
function consortium(): Consortium {
  const c = new Consortium(['bank-a', 'bank-b']);
  c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
  c.send(2, 'bank-a', { recorded: false, acknowledged: false });
  c.commit(2, [c.send(2, 'bank-b'), c.send(2, 'bank-a')]);
  c.commit(3, [c.send(3, 'bank-a'), c.send(3, 'bank-b')]);
  return c;
}

/**
 * The journal as the agent writes it: each update's line before it is sent, then its answer's line if one came; or,
 * `earlier`, as an earlier release wrote it: one line per update, after its answer.
 */
function writeJournal(file: string, entries: (JournalEntry | SentRecord)[], format: 'current' | 'earlier' = 'current'): void {
  for (const { accepted, nonce, ...entry } of entries) {
    if (format === 'earlier') {
      appendJournal(file, { ...entry, accepted: accepted! });
      continue;
    }
    appendJournal(file, { ...entry, nonce }, { durable: true });
    if (accepted !== undefined) appendJournal(file, { kind: 'answer', nonce: nonce!, accepted, at: entry.at });
  }
}

/** The site's directory: its pins, its journal; and the exported bundle. */
async function site(c: Consortium, name: string, options: { participantExport?: boolean; pinned?: boolean; journal?: 'current' | 'earlier' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-site-'));
  const bundle = path.join(dir, 'bundle');
  await writeBundle(c.source(), bundle, options.participantExport ? { participant: name } : {});
  const pins = new CoordinatorPins(path.join(dir, 'known-coordinators.json'));
  if (options.pinned ?? true) pins.pin(ORIGIN, encodeKey(c.coordinator.publicKey));
  const journalFile = path.join(dir, 'journal.jsonl');
  writeJournal(journalFile, c.journal.get(name)!, options.journal);
  const options_: VerifyBundleOptions = { bundle, publicKey: c.keys.get(name)!.publicKey, journalFile, pins };
  return { dir, bundle, journalFile, options: options_ };
}

describe('fl-agent audit verify', () => {
  it('finds every acknowledged update of this site in the bundle as sent', async () => {
    // Prepare
    const c = consortium();
    const { options } = await site(c, 'bank-a');
    const told: string[] = [];
    // Execute
    const result = await verifyBundle({ ...options, onLine: (line) => told.push(line) });
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(told).toEqual(result.lines);
    expect(result.lines[0]).toBe(`coordinator key ${fingerprint(c.coordinator.publicKey)}: pinned for ${ORIGIN}`);
    expect(result.lines).toEqual(
      expect.arrayContaining([
        `job ${JOB}: 3 rounds, 3 recomputed from 6 retained updates, models match`,
        'you are bank-a in the bundle: 3 accepted updates of yours',
        'your 3 accepted updates are in the bundle unaltered; 3 were folded into committed models',
        '1 update you sent was not acknowledged (refused, or no answer in time); the bundle does not have it',
      ]),
    );
  });

  it('verifies a bundle of this site\'s updates only, which cannot recompute the rounds', async () => {
    // Prepare
    const c = consortium();
    const { options } = await site(c, 'bank-b', { participantExport: true });
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(0);
    expect(result.audit?.counts).toMatchObject({ roundsRecomputed: 0, roundsNotRecomputable: 3, updatesChecked: 3 });
    expect(result.lines).toContain('your 3 accepted updates are in the bundle unaltered; 3 were folded into committed models');
  });

  it('reports an acknowledged update the bundle leaves out', async () => {
    // Prepare: the coordinator acknowledged round 2's update of bank-a but never recorded it
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [c.send(2, 'bank-b')]);
    const { options, journalFile } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.where).toMatch(new RegExp(`^your update of round 2 of job ${JOB} as bank-a \\(${escape(journalFile)}, sent `));
    expect(result.failure?.reason).toBe('missing: the coordinator acknowledged it, but no update.accepted record holds it');
    expect(result.lines.at(-1)).toBe(`FAILED: ${result.failure?.where}: ${result.failure?.reason}`);
  });

  it('reports an update of this site recorded otherwise than sent', async () => {
    // Prepare: the journal says round 1 was sent with other weights than the record holds
    const c = consortium();
    const { options, journalFile } = await site(c, 'bank-a');
    const entries = readJournal(journalFile).map((e) => (e.round === 1 ? { ...e, sha256: 'f'.repeat(64) } : e));
    fs.writeFileSync(journalFile, entries.map((e) => JSON.stringify(e) + '\n').join(''));
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.reason).toMatch(/^altered: audit record \d+ holds SHA-256 [0-9a-f]{64} and 57 samples, signed the same; you sent SHA-256 f{64} and 57 samples$/);
  });

  it('passes an acknowledged update whose round was started again, the later update of it in the bundle, and says so', async () => {
    // Prepare: round 3's first attempt took bank-a's update and was abandoned (a restart); the next attempt asked again and committed
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.commit(2, [c.send(2, 'bank-a'), c.send(2, 'bank-b')]);
    c.send(3, 'bank-a', { recorded: false });
    c.commit(3, [c.send(3, 'bank-a'), c.send(3, 'bank-b')]);
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'your 3 accepted updates are in the bundle unaltered; 3 were folded into committed models',
        `1 acknowledged update was superseded: round 3 of job ${JOB} was started again and your later update of it is in the bundle (assumed: the attempt that took it was abandoned, its records unwritten)`,
      ]),
    );
  });

  it('counts the superseded updates of several rounds, and of three attempts of one round', async () => {
    // Prepare
    const c = new Consortium(['bank-a', 'bank-b']);
    c.send(1, 'bank-a', { recorded: false });
    c.send(1, 'bank-a', { recorded: false });
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [c.send(2, 'bank-a'), c.send(2, 'bank-b')]);
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(0);
    expect(result.lines).toContain(
      `3 acknowledged updates were superseded: rounds 1 and 2 of job ${JOB} were started again and your later updates of them are in the bundle (assumed: the attempt that took them was abandoned, its records unwritten)`,
    );
  });

  it('reports the later of two acknowledged updates of a round when the bundle holds the earlier: nothing after it explains its absence', async () => {
    // Prepare: both attempts of round 2 were acknowledged, but the log holds the first one's update
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    const first = c.send(2, 'bank-a');
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [first, c.send(2, 'bank-b')]);
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.reason).toBe(`altered: audit record 9 holds SHA-256 ${first.sha256} and 58 samples, signed differently; you sent SHA-256 ${first.sha256} and 58 samples`);
  });

  it('still reports an acknowledged update as altered when the update in the bundle for its round is none this site journaled', async () => {
    // Prepare: round 2 was started again, but the journal does not hold the later update the bundle has (dropped), or holds it signed otherwise
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [c.send(2, 'bank-a'), c.send(2, 'bank-b')]);
    const { options, journalFile } = await site(c, 'bank-a');
    const entries = readJournal(journalFile);
    const write = (list: JournalEntry[]) => fs.writeFileSync(journalFile, list.map((e) => JSON.stringify(e) + '\n').join(''));
    // Execute
    write(entries.slice(0, -1));
    const dropped = await verifyBundle(options);
    write(entries.map((e, i) => (i === entries.length - 1 ? { ...e, signature: entries[0].signature } : e)));
    const resigned = await verifyBundle(options);
    // Assert
    for (const result of [dropped, resigned]) {
      expect(result.exitCode).toBe(1);
      expect(result.failure?.where).toMatch(new RegExp(`^your update of round 2 of job ${JOB} as bank-a `));
      expect(result.failure?.reason).toMatch(/^altered: audit record \d+ holds SHA-256 [0-9a-f]{64} and 58 samples, signed differently; /);
    }
  });

  it('still reports an acknowledged update missing from a committed round when nothing later explains it, even a revocation after the commit', async () => {
    // Prepare: round 2 committed without bank-a's acknowledged update; bank-a revoked only after
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [c.send(2, 'bank-b')]);
    c.append('participant.revoked', { name: 'bank-a', reason: 'left the consortium' });
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.reason).toBe('missing: the coordinator acknowledged it, but no update.accepted record holds it');
  });

  it('passes an acknowledged update of a round restarted without this site after its revocation, and says so', async () => {
    // Prepare: round 2 took bank-a's update, bank-a was revoked, and the round was started again without it
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.append('participant.revoked', { name: 'bank-a', reason: 'left the consortium' });
    c.commit(2, [c.send(2, 'bank-b')]);
    const committed = await site(c, 'bank-a');
    // The same, the bundle exported before the round started again
    const open = new Consortium(['bank-a', 'bank-b']);
    open.commit(1, [open.send(1, 'bank-a'), open.send(1, 'bank-b')]);
    open.send(2, 'bank-a', { recorded: false });
    open.append('participant.revoked', { name: 'bank-a', reason: 'key lost' });
    const uncommitted = await site(open, 'bank-a');
    // Execute
    const result = await verifyBundle(committed.options);
    const before = await verifyBundle(uncommitted.options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'your 1 accepted update is in the bundle unaltered; 1 was folded into committed models',
        `1 acknowledged update was superseded by your revocation: audit record 9 revoked bank-a after round 2 of job ${JOB} asked for it, before audit record 11 committed that round without you (assumed: the attempt that took it was dropped)`,
      ]),
    );
    expect(before.failure).toBeUndefined();
    expect(before.lines).toContain(
      `1 acknowledged update was superseded by your revocation: audit record 9 revoked bank-a after round 2 of job ${JOB} asked for it, and the bundle does not commit that round (assumed: the attempt that took it was dropped)`,
    );
  });

  it('checks the log heads the coordinator signed into the requests this site answered: a rewritten log fails', async () => {
    // Prepare
    const c = consortium();
    const { options, journalFile } = await site(c, 'bank-a');
    expect((await verifyBundle(options)).lines).toContain('the 4 signed log heads you were shown are in the bundle: the log was not rewritten since');
    // The journal remembers another hash for a record than the bundle holds: the log was rewritten after that round.
    const entries = readJournal(journalFile).map((e) => (e.round === 2 ? { ...e, auditHead: { seq: e.auditHead!.seq, hash: 'e'.repeat(64) } } : e));
    fs.writeFileSync(journalFile, entries.map((e) => JSON.stringify(e) + '\n').join(''));
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.reason).toMatch(/^the coordinator signed audit record \d+ with hash e{64} into that round's request; the bundle's record \d+ has hash [0-9a-f]{64}: the log was rewritten after$/);
  });

  it('names an update of this site whose bytes in the bundle were changed', async () => {
    // Prepare
    const c = consortium();
    const { options, bundle } = await site(c, 'bank-a');
    const entry = c.journal.get('bank-a')!.find((e) => e.round === 3) as JournalEntry;
    const file = path.join(bundle, 'updates', JOB, '3', `bank-a.${entry.sha256}.f32`);
    const bytes = fs.readFileSync(file);
    bytes[5] ^= 0x10;
    fs.writeFileSync(file, bytes);
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.where).toBe(`update of bank-a, round 3 of job ${JOB} (file ${file})`);
  });

  it('refuses a bundle whose coordinator key is neither pinned nor given, or not the one given', async () => {
    // Prepare
    const c = consortium();
    const { options, bundle } = await site(c, 'bank-a', { pinned: false });
    const key = encodeKey(c.coordinator.publicKey);
    // Execute
    const unpinned = await verifyBundle(options);
    const other = await verifyBundle({ ...options, coordinatorKey: encodeKey(generateKeyPair().publicKey) });
    const given = await verifyBundle({ ...options, coordinatorKey: key });
    // Assert
    expect(unpinned.exitCode).toBe(1);
    expect(unpinned.failure?.where).toBe(bundle);
    expect(unpinned.failure?.reason).toMatch(/is not pinned in known-coordinators.json beside your key: .* --coordinator-key$/);
    expect(other.failure?.reason).toMatch(/is not the one given with --coordinator-key/);
    expect(given.exitCode).toBe(0);
    expect(given.lines).toContain(`coordinator key ${fingerprint(c.coordinator.publicKey)}: as given with --coordinator-key`);
  });

  it('refuses a bundle whose key is not the one pinned for the coordinator named', async () => {
    // Prepare: the pins name another coordinator key for this origin
    const c = consortium();
    const { options, dir } = await site(c, 'bank-a', { pinned: false });
    new CoordinatorPins(path.join(dir, 'known-coordinators.json')).pin(ORIGIN, encodeKey(generateKeyPair().publicKey));
    // Execute
    const result = await verifyBundle({ ...options, coordinator: `${ORIGIN}/some/path` });
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.reason).toMatch(new RegExp(`is not the one pinned for ${escape(ORIGIN)}`));
  });

  it('checks every journal entry when the key is given with --coordinator-key and pinned nowhere, and those of the coordinator named with --coordinator', async () => {
    // Prepare: the site also took part, under another name, in a job of another coordinator
    const c = consortium();
    const { options, journalFile } = await site(c, 'bank-a', { pinned: false });
    const [first] = readJournal(journalFile);
    appendJournal(journalFile, { ...first, coordinator: 'https://other.example.org', job: 'other-job', participant: 'clinic-a', round: 1 });
    const given = { ...options, coordinatorKey: encodeKey(c.coordinator.publicKey) };
    // Execute
    const every = await verifyBundle(given);
    const named = await verifyBundle({ ...given, coordinator: ORIGIN });
    // Assert
    expect(every.lines).toContain("journal: the coordinator's address is not known from a pin; checking all 5 entries (name it with --coordinator URL)");
    expect(every.exitCode).toBe(1);
    expect(every.failure?.where).toMatch(/^your update of round 1 of job other-job as clinic-a /);
    expect(every.failure?.reason).toBe('the bundle has no participant clinic-a with your key (if that entry is of another coordinator, name this one with --coordinator URL)');
    expect(named.failure).toBeUndefined();
    expect(named.lines).toContain('your 3 accepted updates are in the bundle unaltered; 3 were folded into committed models');
  });

  it('fails a log re-signed without this site\'s job, holding a job the journal sent to another coordinator: the bundle does not choose which entries are checked', async () => {
    // Prepare: the operator writes a new log with the coordinator's key, the site's name and key, and one job, named as the site's job at another coordinator
    const real = consortium();
    const resigned = new Consortium(['bank-a'], { of: real, job: 'other-job' });
    resigned.journal.set('bank-a', [
      ...real.journal.get('bank-a')!,
      { kind: 'statistics', coordinator: 'https://other.example.org', job: 'other-job', round: 0, participant: 'bank-a', rows: 10, columns: [], accepted: true, nonce: randomNonce(), at: Date.now() - 7_200_000 },
    ]);
    const { options } = await site(resigned, 'bank-a', { pinned: false });
    // Execute
    const result = await verifyBundle({ ...options, coordinatorKey: encodeKey(real.coordinator.publicKey) });
    // Assert: the heads of the site's requests are not in the new log
    expect(result.exitCode).toBe(1);
    expect(result.failure?.where).toMatch(new RegExp(`^your update of round 1 of job ${JOB} as bank-a `));
    expect(result.failure?.reason).toMatch(/: the log was rewritten after$/);
  });

  it('checks only the journal entries of this coordinator, and not those acknowledged after the export', async () => {
    // Prepare
    const c = consortium();
    const { options, journalFile } = await site(c, 'bank-a');
    const [first] = readJournal(journalFile);
    appendJournal(journalFile, { ...first, coordinator: 'https://other.example.org', round: 9 });
    appendJournal(journalFile, { ...first, round: 4, at: Date.now() + 60_000 });
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(0);
    expect(result.lines).toContain(
      `1 accepted update of round 4 of job ${JOB} was not looked for: the bundle does not commit that round (a round's updates are recorded when it commits: a later bundle holds them)`,
    );
  });

  it('does not look for an acknowledged update of a round the bundle does not commit: exported while the round was open', async () => {
    // Prepare: round 2 took bank-a's update, whose record is written when the round commits, and the bundle was exported before
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'your 1 accepted update is in the bundle unaltered; 1 was folded into committed models',
        `1 accepted update of round 2 of job ${JOB} was not looked for: the bundle does not commit that round (a round's updates are recorded when it commits: a later bundle holds them)`,
      ]),
    );
  });

  it("passes an acknowledged update of a round the job was taken up again before, without this site, and says so", async () => {
    // Prepare: round 2 took bank-a's update; the coordinator restarted, recorded that it took the job up again after round 1, and committed round 2 without bank-a (offline then)
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.append('job.resumed', { job: JOB, round: 1 });
    c.commit(2, [c.send(2, 'bank-b')]);
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toContain(
      `1 acknowledged update was superseded by the job's resumption: audit record 9 took job ${JOB} up again after round 1, after round 2 asked for your update (the attempt that took it was abandoned, its records unwritten)`,
    );
  });

  it('passes an acknowledged update answering a request made after its round was committed, and says so', async () => {
    // Prepare: another replica took the job up after round 1 and committed round 2 with bank-a's update, not bank-c's;
    // then the replica that had led it, woken from a freeze, asked round 2 again and acknowledged both sites' answers
    const c = new Consortium(['bank-a', 'bank-b', 'bank-c']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b'), c.send(1, 'bank-c')]);
    c.append('job.resumed', { job: JOB, round: 1 });
    c.commit(2, [c.send(2, 'bank-a'), c.send(2, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.send(2, 'bank-c', { recorded: false });
    // Execute
    const [a, cee] = await Promise.all(['bank-a', 'bank-c'].map(async (name) => verifyBundle((await site(c, name)).options)));
    // Assert: the same weights under another signature (bank-a), or none of the site's in the round (bank-c): neither can be in a committed model
    for (const result of [a, cee]) {
      expect(result.failure).toBeUndefined();
      expect(result.lines).toContain(
        `1 acknowledged update answered a request made after its round was committed: audit record 14 committed round 2 of job ${JOB}, ` +
          'the request was signed at audit record 14 (asked by a replica that no longer led the job; no committed model can hold it)',
      );
    }
  });

  it('still reports an acknowledged update missing when the job was taken up again before the request it answered', async () => {
    // Prepare: the job resumed after round 1, then round 2 asked bank-a, acknowledged its update, and committed without it
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.append('job.resumed', { job: JOB, round: 1 });
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [c.send(2, 'bank-b')]);
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.reason).toBe('missing: the coordinator acknowledged it, but no update.accepted record holds it');
  });

  it('reads a journal an earlier release wrote (one line per update, after its answer) as one written before sending', async () => {
    // Prepare
    const c = consortium();
    const current = await site(c, 'bank-a');
    const earlier = await site(c, 'bank-a', { journal: 'earlier' });
    // Execute
    const now = await verifyBundle(current.options);
    const before = await verifyBundle(earlier.options);
    // Assert
    expect(fs.readFileSync(earlier.journalFile, 'utf8')).not.toMatch(/"answer"|"nonce"/);
    expect(now.exitCode).toBe(0);
    expect(now.lines).toEqual(before.lines);
    expect(readJournal(current.journalFile)).toEqual(readJournal(earlier.journalFile).map((e, i) => ({ ...e, nonce: c.journal.get('bank-a')![i].nonce })));
  });

  it('passes an update the agent journaled and sent but stopped before its answer came, which the bundle holds: ours, not another copy of the key', async () => {
    // Prepare: bank-a was killed after sending round 3's update, before the ack came: its journal holds the line written before the send, no answer
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.commit(2, [c.send(2, 'bank-a'), c.send(2, 'bank-b')]);
    c.commit(3, [c.send(3, 'bank-a', { answered: false }), c.send(3, 'bank-b')]);
    const { options, journalFile } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(fs.readFileSync(journalFile, 'utf8').trimEnd().split('\n')).toHaveLength(5);
    expect(result.failure).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'you are bank-a in the bundle: 3 accepted updates of yours',
        'your 2 accepted updates are in the bundle unaltered; 2 were folded into committed models',
        'the 3 signed log heads you were shown are in the bundle: the log was not rewritten since',
        "1 update you sent has no answer in your journal (the agent stopped after sending it, before the coordinator's answer came); the bundle has it as accepted",
      ]),
    );
    expect(result.lines.join('\n')).not.toMatch(/another copy/);
  });

  it('passes updates sent without an answer that the bundle does not hold, and counts those it holds', async () => {
    // Prepare: round 2's update of bank-a never reached the coordinator (killed as it sent it), round 3's did
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false, answered: false });
    c.commit(2, [c.send(2, 'bank-b')]);
    c.commit(3, [c.send(3, 'bank-a', { answered: false }), c.send(3, 'bank-b')]);
    const one = new Consortium(['bank-a', 'bank-b']);
    one.commit(1, [one.send(1, 'bank-a'), one.send(1, 'bank-b')]);
    one.send(2, 'bank-a', { recorded: false, answered: false });
    one.commit(2, [one.send(2, 'bank-b')]);
    // Execute
    const two = await verifyBundle((await site(c, 'bank-a')).options);
    const single = await verifyBundle((await site(one, 'bank-a')).options);
    // Assert
    expect(two.exitCode).toBe(0);
    expect(two.lines).toContain(
      "2 updates you sent have no answer in your journal (the agent stopped after sending them, before the coordinator's answers came); the bundle has 1 of them as accepted",
    );
    expect(two.lines.join('\n')).not.toMatch(/another copy/);
    expect(single.exitCode).toBe(0);
    expect(single.lines).toContain(
      "1 update you sent has no answer in your journal (the agent stopped after sending it, before the coordinator's answer came); the bundle does not have it",
    );
  });

  it('passes an acknowledged update whose round was started again when the later attempt, in the bundle, has no answer in the journal', async () => {
    // Prepare: round 2's first attempt was abandoned after the ack; bank-a was killed after sending its update to the second, which committed it
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commit(1, [c.send(1, 'bank-a'), c.send(1, 'bank-b')]);
    c.send(2, 'bank-a', { recorded: false });
    c.commit(2, [c.send(2, 'bank-a', { answered: false }), c.send(2, 'bank-b')]);
    const { options } = await site(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toEqual(
      expect.arrayContaining([
        `1 acknowledged update was superseded: round 2 of job ${JOB} was started again and your later update of it is in the bundle (assumed: the attempt that took it was abandoned, its records unwritten)`,
        "1 update you sent has no answer in your journal (the agent stopped after sending it, before the coordinator's answer came); the bundle has it as accepted",
      ]),
    );
  });

  it('still names an update of this site in the bundle that the journal does not hold at all as sent by another copy of the key', async () => {
    // Prepare: bank-a's journal lost every line of round 3's update
    const c = consortium();
    const { options, journalFile } = await site(c, 'bank-a');
    writeJournal(journalFile.replace(/\.jsonl$/, '-short.jsonl'), c.journal.get('bank-a')!.filter((e) => e.round !== 3));
    // Execute
    const result = await verifyBundle({ ...options, journalFile: journalFile.replace(/\.jsonl$/, '-short.jsonl') });
    // Assert
    expect(result.exitCode).toBe(0);
    expect(result.lines.at(-1)).toBe('1 update of yours in the bundle is not in your journal: signed with your key, sent before the journal was kept or by another copy of it');
  });

  it('refuses a bundle in which this site has no key, and checks the bundle alone without a journal', async () => {
    // Prepare
    const c = consortium();
    const { options } = await site(c, 'bank-a');
    // Execute
    const stranger = await verifyBundle({ ...options, publicKey: generateKeyPair().publicKey });
    const unjournaled = await verifyBundle({ ...options, journalFile: undefined });
    // Assert
    expect(stranger.failure?.reason).toMatch(/^no participant in the bundle has your key/);
    expect(unjournaled.exitCode).toBe(0);
    expect(unjournaled.lines.at(-1)).toBe('no journal of sent updates: the bundle was checked as a whole, not against what you sent');
  });

  it('reads a manifest with a field a newer coordinator added, and names it', async () => {
    // Prepare
    const c = consortium();
    const { options, bundle } = await site(c, 'bank-a');
    const file = path.join(bundle, 'manifest.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), exportedBy: 'a newer coordinator' }));
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(0);
    expect(result.lines[1]).toBe('manifest fields this verifier does not know (ignored): exportedBy');
  });

  it('reports a bundle that is not one, or whose log does not verify', async () => {
    // Prepare
    const c = consortium();
    const { options, bundle } = await site(c, 'bank-a');
    const records = path.join(bundle, 'records.jsonl');
    fs.writeFileSync(records, fs.readFileSync(records, 'utf8').replace('"bank-b"', '"bank-z"'));
    // Execute
    const missing = await verifyBundle({ ...options, bundle: path.join(bundle, 'nothing') });
    const broken = await verifyBundle(options);
    // Assert
    expect(missing.failure?.reason).toMatch(/is not an audit bundle/);
    expect(broken.exitCode).toBe(1);
    expect(broken.failure?.where).toMatch(/^audit record 3 \(/);
  });
});

describe('fl-agent audit verify, a secure job', () => {
  /** Three secure rounds of bank-a and bank-b: each site's training input leaves as a masked input, recorded as secagg.input. */
  function secureConsortium(): Consortium {
    const c = new Consortium(['bank-a', 'bank-b']);
    for (const round of [1, 2, 3]) c.commitSecure(round, [c.sendMasked(round, 'bank-a'), c.sendMasked(round, 'bank-b')]);
    return c;
  }
  /** The site's export (its own inputs only: the others' are needed to recompute a secure round). */
  const secureSite = (c: Consortium, name: string) => site(c, name, { participantExport: true });

  it('finds every acknowledged masked input of this site in the bundle as sent, and says how many it checked', async () => {
    // Prepare
    const c = secureConsortium();
    const { options } = await secureSite(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'you are bank-a in the bundle: 3 accepted masked inputs of yours',
        'your 3 accepted masked inputs are in the bundle unaltered; 3 were in committed sums',
        'the 3 signed log heads you were shown are in the bundle: the log was not rewritten since',
      ]),
    );
    expect(result.lines.join('\n')).not.toMatch(/accepted updates? (are|is) in the bundle|another copy/);
  });

  it('reports an acknowledged masked input the bundle leaves out, the site treated as dropped, naming its round and the site', async () => {
    // Prepare: the coordinator acknowledged bank-a's masked input of round 2, then recorded none and summed the round without it
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commitSecure(1, [c.sendMasked(1, 'bank-a'), c.sendMasked(1, 'bank-b')]);
    c.sendMasked(2, 'bank-a', { recorded: false });
    c.commitSecure(2, [c.sendMasked(2, 'bank-b')]);
    const { options, journalFile } = await secureSite(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.exitCode).toBe(1);
    expect(result.failure?.where).toMatch(new RegExp(`^your masked input of round 2 of job ${JOB} as bank-a \\(${escape(journalFile)}, sent `));
    expect(result.failure?.reason).toBe('missing: the coordinator acknowledged it, but no secagg.input record holds it');
    expect(result.lines.at(-1)).toBe(`FAILED: ${result.failure?.where}: ${result.failure?.reason}`);
  });

  it('reports a masked input recorded otherwise than sent: an earlier attempt of the round summed in place of the one acknowledged last', async () => {
    // Prepare: both attempts of round 2 were acknowledged; the log holds the first one's input and sums it
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commitSecure(1, [c.sendMasked(1, 'bank-a'), c.sendMasked(1, 'bank-b')]);
    const first = c.sendMasked(2, 'bank-a');
    const second = c.sendMasked(2, 'bank-a', { recorded: false });
    c.commitSecure(2, [first, c.sendMasked(2, 'bank-b')]);
    const stale = await secureSite(c, 'bank-a');
    // The journal says round 1's input had another digest than the record holds
    const journaled = await secureSite(c, 'bank-a');
    const lines = fs.readFileSync(journaled.journalFile, 'utf8').split('\n');
    fs.writeFileSync(journaled.journalFile, lines.map((l, i) => (i === 0 ? l.replace(/"sha256":"[0-9a-f]{64}"/, `"sha256":"${'f'.repeat(64)}"`) : l)).join('\n'));
    // Execute
    const summed = await verifyBundle(stale.options);
    const other = await verifyBundle(journaled.options);
    // Assert
    expect(summed.exitCode).toBe(1);
    expect(summed.failure?.where).toMatch(new RegExp(`^your masked input of round 2 of job ${JOB} as bank-a `));
    expect(summed.failure?.reason).toBe(`altered: audit record 9 holds SHA-256 ${first.sha256}, signed differently; you sent SHA-256 ${second.sha256}`);
    expect(other.exitCode).toBe(1);
    expect(other.failure?.where).toMatch(new RegExp(`^your masked input of round 1 of job ${JOB} as bank-a `));
    expect(other.failure?.reason).toMatch(new RegExp(`^altered: audit record 6 holds SHA-256 [0-9a-f]{64}, signed the same; you sent SHA-256 f{64}$`));
  });

  it('passes an acknowledged masked input of a round started again with new keys, and says so', async () => {
    // Prepare: round 2's first attempt took bank-a's masked input and was abandoned unrecorded; the next attempt committed bank-a's later input
    const abandoned = new Consortium(['bank-a', 'bank-b']);
    abandoned.commitSecure(1, [abandoned.sendMasked(1, 'bank-a'), abandoned.sendMasked(1, 'bank-b')]);
    abandoned.sendMasked(2, 'bank-a', { recorded: false });
    abandoned.commitSecure(2, [abandoned.sendMasked(2, 'bank-a'), abandoned.sendMasked(2, 'bank-b')]);
    // The same, the first attempt's inputs recorded when its masked step closed (a site dropped out at unmasking)
    const recorded = new Consortium(['bank-a', 'bank-b']);
    recorded.commitSecure(1, [recorded.sendMasked(1, 'bank-a'), recorded.sendMasked(1, 'bank-b')]);
    recorded.sendMasked(2, 'bank-a');
    recorded.sendMasked(2, 'bank-b');
    recorded.commitSecure(2, [recorded.sendMasked(2, 'bank-a'), recorded.sendMasked(2, 'bank-b')]);
    // Execute
    const superseded = await verifyBundle((await secureSite(abandoned, 'bank-a')).options);
    const both = await verifyBundle((await secureSite(recorded, 'bank-a')).options);
    // Assert
    expect(superseded.failure).toBeUndefined();
    expect(superseded.lines).toEqual(
      expect.arrayContaining([
        'your 2 accepted masked inputs are in the bundle unaltered; 2 were in committed sums',
        `1 acknowledged masked input was superseded: round 2 of job ${JOB} was started again and your later masked input of it is in the bundle (assumed: the attempt that took it was abandoned, its records unwritten)`,
      ]),
    );
    expect(both.failure).toBeUndefined();
    expect(both.lines).toContain('your 3 accepted masked inputs are in the bundle unaltered; 2 were in committed sums');
  });

  it("passes an acknowledged masked input of a round the job was taken up again before, without this site, and says so", async () => {
    // Prepare: round 2 took bank-a's masked input; the coordinator restarted, took the job up again after round 1, and summed round 2 without bank-a
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commitSecure(1, [c.sendMasked(1, 'bank-a'), c.sendMasked(1, 'bank-b')]);
    c.sendMasked(2, 'bank-a', { recorded: false });
    c.append('job.resumed', { job: JOB, round: 1 });
    c.commitSecure(2, [c.sendMasked(2, 'bank-b')]);
    const { options } = await secureSite(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toContain(
      `1 acknowledged masked input was superseded by the job's resumption: audit record 9 took job ${JOB} up again after round 1, after round 2 asked for your masked input (the attempt that took it was abandoned, its records unwritten)`,
    );
  });

  it('does not look for an acknowledged masked input of a round the bundle does not commit: exported while its masked step was open', async () => {
    // Prepare
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commitSecure(1, [c.sendMasked(1, 'bank-a'), c.sendMasked(1, 'bank-b')]);
    c.sendMasked(2, 'bank-a', { recorded: false });
    const { options } = await secureSite(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'your 1 accepted masked input is in the bundle unaltered; 1 was in committed sums',
        `1 accepted masked input of round 2 of job ${JOB} was not looked for: the bundle does not commit that round (a round's masked inputs are recorded when its masked step closes: a later bundle holds them)`,
      ]),
    );
  });

  it('reports an acknowledged masked input whose sum the site helped unmask when the bundle leaves it out, whatever else would explain its absence', async () => {
    // Prepare: in each, round 2 took bank-a's masked input, unrecorded, and then asked bank-a to help unmask that attempt's sum, which a coordinator asks only once the attempt's inputs are recorded
    const unmasked = () => {
      const c = new Consortium(['bank-a', 'bank-b']);
      c.commitSecure(1, [c.sendMasked(1, 'bank-a'), c.sendMasked(1, 'bank-b')]);
      c.answerStep(2, 'bank-a', 'advertise');
      c.sendMasked(2, 'bank-a', { recorded: false });
      c.answerStep(2, 'bank-a', 'unmask');
      return c;
    };
    // the round started again, and bank-a's later input summed
    const again = unmasked();
    again.answerStep(2, 'bank-a', 'advertise');
    again.commitSecure(2, [again.sendMasked(2, 'bank-a'), again.sendMasked(2, 'bank-b')]);
    // the job taken up again after round 1, and round 2 summed without bank-a
    const resumed = unmasked();
    resumed.append('job.resumed', { job: JOB, round: 1 });
    resumed.commitSecure(2, [resumed.sendMasked(2, 'bank-b')]);
    // bank-a revoked, and round 2 summed without it
    const revoked = unmasked();
    revoked.append('participant.revoked', { name: 'bank-a', reason: 'left the consortium' });
    revoked.commitSecure(2, [revoked.sendMasked(2, 'bank-b')]);
    // round 2 not committed yet
    const open = unmasked();
    // Execute
    const results = await Promise.all([again, resumed, revoked, open].map(async (c) => ({ c, result: await verifyBundle((await secureSite(c, 'bank-a')).options) })));
    // Assert
    for (const { c, result } of results) {
      const unmaskedAt = c.journal.get('bank-a')!.find((line) => 'step' in line && line.step === 'unmask')!.at;
      expect(result.exitCode).toBe(1);
      expect(result.failure?.where).toMatch(new RegExp(`^your masked input of round 2 of job ${JOB} as bank-a `));
      expect(result.failure?.reason).toBe(
        `missing: the coordinator acknowledged it, then asked you to help unmask the sum of the attempt that took it (your unmask answer of ${new Date(unmaskedAt).toISOString()}), ` +
          'which it asks only once that attempt\'s masked inputs are recorded; no secagg.input record holds it',
      );
    }
  });

  it('passes an acknowledged masked input of an attempt started again before the site helped unmask a later attempt\'s sum', async () => {
    // Prepare: round 2's first attempt took bank-a's masked input, unrecorded, and was started again (a new advertise step) before any unmask step
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commitSecure(1, [c.sendMasked(1, 'bank-a'), c.sendMasked(1, 'bank-b')]);
    c.answerStep(2, 'bank-a', 'advertise');
    c.sendMasked(2, 'bank-a', { recorded: false });
    c.answerStep(2, 'bank-a', 'advertise');
    const later = c.sendMasked(2, 'bank-a');
    c.answerStep(2, 'bank-a', 'unmask');
    c.commitSecure(2, [later, c.sendMasked(2, 'bank-b')]);
    const { options } = await secureSite(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'your 2 accepted masked inputs are in the bundle unaltered; 2 were in committed sums',
        `1 acknowledged masked input was superseded: round 2 of job ${JOB} was started again and your later masked input of it is in the bundle (assumed: the attempt that took it was abandoned, its records unwritten)`,
      ]),
    );
  });

  it('counts the masked inputs an earlier release journaled without their SHA-256 as not checkable, and those sent without an answer', async () => {
    // Prepare: round 1's line as an earlier release wrote it; bank-a stopped after sending round 3's input, which the bundle holds
    const c = new Consortium(['bank-a', 'bank-b']);
    c.commitSecure(1, [c.sendMasked(1, 'bank-a', { journaled: 'digest only' }), c.sendMasked(1, 'bank-b')]);
    c.commitSecure(2, [c.sendMasked(2, 'bank-a'), c.sendMasked(2, 'bank-b')]);
    c.commitSecure(3, [c.sendMasked(3, 'bank-a', { answered: false }), c.sendMasked(3, 'bank-b')]);
    const { options } = await secureSite(c, 'bank-a');
    // Execute
    const result = await verifyBundle(options);
    // Assert
    expect(result.failure).toBeUndefined();
    expect(result.lines).toEqual(
      expect.arrayContaining([
        'your 1 accepted masked input is in the bundle unaltered; 1 was in committed sums',
        '1 masked input you sent was journaled without its SHA-256 and signature (by an earlier release): not checkable',
        "1 masked input you sent has no answer in your journal (the agent stopped after sending it, before the coordinator's answer came); the bundle has it as accepted",
      ]),
    );
    expect(result.lines.join('\n')).not.toMatch(/another copy/);
  });
});

describe('the journal', () => {
  it('reads back what was appended, skipping a line an interrupted append left unfinished, last or not', async () => {
    // Prepare
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-journal-')), 'sub', 'journal.jsonl');
    const entry: JournalEntry = { coordinator: ORIGIN, job: JOB, round: 1, participant: 'bank-a', sha256: 'a'.repeat(64), numSamples: 3, signature: 'sig', accepted: true, at: 1 };
    // Execute
    appendJournal(file, entry);
    appendJournal(file, { ...entry, round: 2, accepted: false });
    fs.appendFileSync(file, '{"coordinator":"https://fl.exa');
    // Assert
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readJournal(file)).toEqual([entry, { ...entry, round: 2, accepted: false }]);
    // the agent, started again, goes on appending: its entries are read too, the cut line passed over
    appendJournal(file, { ...entry, round: 3 });
    expect(readJournal(file)).toEqual([entry, { ...entry, round: 2, accepted: false }, { ...entry, round: 3 }]);
    fs.writeFileSync(file, 'not json\n');
    expect(() => readJournal(file)).toThrow(/line 1 is not JSON/);
    // A whole line altered in the middle (its end there) is no interrupted append: refused, not passed over
    fs.writeFileSync(file, `${JSON.stringify(entry)}\n{"coordinator":"x",garbled}\n${JSON.stringify(entry)}\n`);
    expect(() => readJournal(file)).toThrow(/line 2 is not JSON/);
  });

  it('reads each line written before sending with the answer journaled after it, and without `accepted` when none came', () => {
    // Prepare
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-journal-')), 'journal.jsonl');
    const sent = { coordinator: ORIGIN, job: JOB, participant: 'bank-a', sha256: 'a'.repeat(64), numSamples: 3, signature: 'sig', at: 10 };
    const earlier: JournalEntry = { ...sent, round: 1, accepted: true, at: 5 };
    // Execute: an earlier release's line; round 2 acknowledged, with the evaluation it carried; round 3 refused; round 4 sent, then the agent killed
    appendJournal(file, earlier);
    appendJournal(file, [{ ...sent, round: 2, nonce: 'n2' }, { kind: 'evaluation', coordinator: ORIGIN, job: JOB, round: 1, participant: 'bank-a', nonce: 'n2', at: 10, numExamples: 7, metrics: ['accuracy'] }], { durable: true });
    appendJournal(file, { kind: 'answer', nonce: 'n2', accepted: true, at: 11 });
    appendJournal(file, { ...sent, round: 3, nonce: 'n3', at: 20 }, { durable: true });
    appendJournal(file, { kind: 'answer', nonce: 'n3', accepted: false, at: 21 });
    appendJournal(file, { ...sent, round: 4, nonce: 'n4', at: 30 }, { durable: true });
    // Assert
    expect(readJournal(file)).toEqual([earlier, { ...sent, round: 2, nonce: 'n2', accepted: true, at: 11 }, { ...sent, round: 3, nonce: 'n3', accepted: false, at: 21 }, { ...sent, round: 4, nonce: 'n4', at: 30 }]);
    expect(readJournalLines(file).map((l) => [l.kind, l.round, l.accepted])).toEqual([
      ['update', 1, true],
      ['update', 2, true],
      ['evaluation', 1, true],
      ['update', 3, false],
      ['update', 4, undefined],
    ]);
  });

  it('passes over a line written before sending that a crash cut short, and its answer if one was written', () => {
    // Prepare
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-journal-')), 'journal.jsonl');
    const sent = { coordinator: ORIGIN, job: JOB, participant: 'bank-a', sha256: 'a'.repeat(64), numSamples: 3, signature: 'sig', at: 10 };
    appendJournal(file, { ...sent, round: 1, nonce: 'n1' });
    fs.appendFileSync(file, JSON.stringify({ ...sent, round: 2, nonce: 'n2' }).slice(0, 40));
    // Execute: the answer of the cut line (a full disk cut it, then let the answer through), then the agent goes on
    appendJournal(file, { kind: 'answer', nonce: 'n2', accepted: true, at: 12 });
    appendJournal(file, { kind: 'answer', nonce: 'n1', accepted: true, at: 13 });
    appendJournal(file, { ...sent, round: 3, nonce: 'n3' });
    fs.appendFileSync(file, '{"kind":"answer","nonce":"n3","acc');
    // Assert
    expect(readJournal(file)).toEqual([
      { ...sent, round: 1, nonce: 'n1', accepted: true, at: 13 },
      { ...sent, round: 3, nonce: 'n3' },
    ]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
