/**
 * `fl-agent audit verify`: checks an audit bundle the coordinator exported, from
 * this site's side. The bundle must be signed by the coordinator key this site
 * trusts (given out of band, or pinned when it first connected), verify as a
 * whole, and hold every update, and every masked input of a secure job, that
 * the coordinator acknowledged to this site exactly as the journal says it was
 * sent: same digest, same signature. A coordinator can rewrite its own log, but
 * not this site's journal nor its signatures. An input journaled without its
 * answer (the agent stopped after sending it) is this site's whether or not the
 * bundle holds it, and is counted apart.
 */
import {
  BundleSource,
  encodeKey,
  fingerprint,
  sha256Hex,
  verifyAudit,
  decodePublicKey,
  type AuditData,
  type StoredAuditRecord,
  type AuditReport,
} from '@fl/shared';
import { readJournalLines, type JournalLine } from '../client/journal';
import type { CoordinatorPins } from '../client/pins';

export interface VerifyBundleOptions {
  /** the bundle directory */
  bundle: string;
  /** this site's public key */
  publicKey: Uint8Array;
  /** the journal of what this site sent; without it only the bundle itself is checked */
  journalFile?: string;
  /** the coordinator key given out of band (base64); else it must be pinned */
  coordinatorKey?: string;
  pins?: CoordinatorPins;
  /** the coordinator (URL or origin) whose journal entries to check; default: the origins pinned to the bundle's key, else every entry */
  coordinator?: string;
  /** told each line as it is found */
  onLine?: (line: string) => void;
}

export interface BundleVerification {
  ok: boolean;
  /** 0 when all is consistent, 1 at the first inconsistency */
  exitCode: 0 | 1;
  lines: string[];
  failure?: { where: string; reason: string };
  /** the verification of the bundle as a log, once it ran */
  audit?: AuditReport;
}

class Inconsistency extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${where}: ${reason}`);
  }
}

/**
 * What this site sent that the coordinator records as it accepts it: an update
 * (update.accepted), or a secure round's masked input (secagg.input), which is
 * all a secure job's training and statistics send of the site's data.
 */
type InputKind = 'update' | 'masked';

/** An input as the journal holds it: an update's line, or a masked input's that holds its SHA-256 and signature. */
interface Sent {
  kind: InputKind;
  coordinator: string;
  job: string;
  round: number;
  participant: string;
  sha256: string;
  signature: string;
  /** an update's; a masked input's count is hidden in its round's sum */
  numSamples?: number;
  accepted?: boolean;
  at: number;
  auditHead?: { seq: number; hash: string };
  /** a masked input's: when this site answered the unmask step of the attempt that took it, if it did */
  unmaskedAt?: number;
}

/** An input of this site's as the bundle records it accepted. */
interface Recorded {
  kind: InputKind;
  seq: number;
  job: string;
  round: number;
  participant: string;
  sha256: string;
  signature: string;
  numSamples?: number;
}

/** How the lines name each kind of input, and its record. */
const KINDS: Record<InputKind, { one: string; many: string; record: string; folded: string; recordedWhen: string }> = {
  update: { one: 'update', many: 'updates', record: 'update.accepted', folded: 'folded into committed models', recordedWhen: "a round's updates are recorded when it commits" },
  masked: { one: 'masked input', many: 'masked inputs', record: 'secagg.input', folded: 'in committed sums', recordedWhen: "a round's masked inputs are recorded when its masked step closes" },
};

const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;
const updateId = (job: string, round: number, participant: string, sha256: string) => JSON.stringify([job, round, participant, sha256]);
const roundId = (job: string, round: number) => JSON.stringify([job, round]);
const sameInput = (u: Recorded, e: Sent) => u.sha256 === e.sha256 && u.signature === e.signature && u.numSamples === e.numSamples;
/** "SHA-256 … and 57 samples", or a masked input's "SHA-256 …" */
const contentOf = (input: { sha256: string; numSamples?: number }) => `SHA-256 ${input.sha256}${input.numSamples === undefined ? '' : ` and ${input.numSamples} samples`}`;
const altered = (other: Recorded, e: Sent) => `altered: audit record ${other.seq} holds ${contentOf(other)}, signed ${other.signature === e.signature ? 'the same' : 'differently'}; you sent ${contentOf(e)}`;

/** "round 3 of job J", "rounds 3 and 4 of job J; round 1 of job K", or past five rounds only their count; and how many rounds. */
function roundsOf(entries: Sent[]): { text: string; count: number } {
  const byJob = new Map<string, number[]>();
  for (const e of entries) {
    const rounds = byJob.get(e.job) ?? [];
    if (!rounds.includes(e.round)) rounds.push(e.round);
    byJob.set(e.job, rounds);
  }
  const count = [...byJob.values()].reduce((n, rounds) => n + rounds.length, 0);
  if (count > 5) return { text: `${count} rounds of ${plural(byJob.size, 'job')}`, count };
  const text = [...byJob]
    .map(([job, rounds]) => {
      const sorted = rounds.sort((a, b) => a - b);
      const list = sorted.length === 1 ? `${sorted[0]}` : `${sorted.slice(0, -1).join(', ')} and ${sorted.at(-1)}`;
      return `${sorted.length === 1 ? 'round' : 'rounds'} ${list} of job ${job}`;
    })
    .join('; ');
  return { text, count };
}

/**
 * The journal's updates and masked inputs, and its masked inputs journaled without their SHA-256 and signature (by
 * earlier releases). A masked input followed by an unmask answer of its job, round and participant, before the
 * advertise answer that starts the round's next attempt, was taken by the attempt whose sum this site helped unmask.
 */
function sentInputs(lines: JournalLine[]): { sent: Sent[]; unchecked: Extract<JournalLine, { kind: 'secagg' }>[] } {
  const sent: Sent[] = [];
  const unchecked: Extract<JournalLine, { kind: 'secagg' }>[] = [];
  /** by coordinator, job, round and participant: the masked inputs of the attempt under way */
  const attempts = new Map<string, Sent[]>();
  for (const line of lines) {
    if (line.kind === 'update') {
      const { kind: _, ...entry } = line;
      sent.push({ ...entry, kind: 'update' });
    } else if (line.kind === 'secagg') {
      const { coordinator, job, round, participant, sha256, signature, accepted, at, auditHead } = line;
      const attempt = JSON.stringify([coordinator, job, round, participant]);
      if (line.step === 'advertise') attempts.delete(attempt);
      if (line.step === 'unmask') for (const input of attempts.get(attempt) ?? []) input.unmaskedAt ??= at;
      if (line.step !== 'masked') continue;
      if (sha256 === undefined || signature === undefined) {
        unchecked.push(line);
        continue;
      }
      const input: Sent = { kind: 'masked', coordinator, job, round, participant, sha256, signature, accepted, at, auditHead };
      sent.push(input);
      attempts.set(attempt, [...(attempts.get(attempt) ?? []), input]);
    }
  }
  return { sent, unchecked };
}

export async function verifyBundle(options: VerifyBundleOptions): Promise<BundleVerification> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
  };
  let audit: AuditReport | undefined;
  try {
    let source: BundleSource;
    try {
      source = new BundleSource(options.bundle);
    } catch (err) {
      throw new Inconsistency(options.bundle, (err as Error).message);
    }
    const { manifest } = source;
    const origins = trust(manifest.coordinatorKey, options, say);
    if (source.unknownFields.length) say(`manifest fields this verifier does not know (ignored): ${source.unknownFields.join(', ')}`);

    // Collected while the log is verified: this site's names (by its key), its accepted inputs, and what the committed rounds folded in.
    const mine = new Set<string>();
    const ever = new Set<string>();
    const own: Recorded[] = [];
    const folded = new Set<string>();
    /** each committed round's record number, by roundId: a model's commit, or the statistics phase's sums (rounds −2 to 0) */
    const commits = new Map<string, number>();
    /** the numbers of the records that revoked one of this site's names, by name */
    const revocations = new Map<string, number[]>();
    /** every record's hash by its number, to find the log heads this site was shown */
    const hashes = new Map<number, string>();
    /** the records that say a job was taken up again (job.resumed), by job */
    const resumptions = new Map<string, { seq: number; round: number }[]>();
    const myKey = encodeKey(options.publicKey);
    const committed = (seq: number, job: string, round: number, contributors: { participant: string; sha256: string }[]) => {
      commits.set(roundId(job, round), seq);
      for (const c of contributors) if (mine.has(c.participant)) folded.add(updateId(job, round, c.participant, c.sha256));
    };
    const onRecord = (record: StoredAuditRecord) => {
      if (record.kind === 'participant.enrolled' || record.kind === 'participant.registered') {
        const { name, publicKey } = record.data as AuditData<'participant.registered'>;
        // A name given to another key after this site's was revoked is no longer this site.
        if (publicKey === myKey) {
          mine.add(name);
          ever.add(name);
        } else {
          mine.delete(name);
        }
      }
      if (record.kind === 'participant.revoked') {
        const { name } = record.data as AuditData<'participant.revoked'>;
        if (mine.has(name)) revocations.set(name, [...(revocations.get(name) ?? []), record.seq]);
      }
      hashes.set(record.seq, record.hash);
      if (record.kind === 'job.resumed') {
        const { job, round } = record.data as AuditData<'job.resumed'>;
        resumptions.set(job, [...(resumptions.get(job) ?? []), { seq: record.seq, round }]);
      }
      if (record.kind === 'update.accepted') {
        const { job, round, participant, sha256, signature, numSamples } = record.data as AuditData<'update.accepted'>;
        if (mine.has(participant)) own.push({ kind: 'update', seq: record.seq, job, round, participant, sha256, signature, numSamples });
      } else if (record.kind === 'secagg.input') {
        const { job, round, participant, sha256, signature } = record.data as AuditData<'secagg.input'>;
        if (mine.has(participant)) own.push({ kind: 'masked', seq: record.seq, job, round, participant, sha256, signature });
      } else if (record.kind === 'model.committed') {
        const { job, round, contributors } = record.data as AuditData<'model.committed'>;
        committed(record.seq, job, round, contributors);
      } else if (record.kind === 'statistics.secure') {
        const { job, contributors } = record.data as AuditData<'statistics.secure'>;
        committed(record.seq, job, 0, contributors);
      } else if (record.kind === 'vocabulary.secure') {
        const { job, presence, values } = record.data as AuditData<'vocabulary.secure'>;
        committed(record.seq, job, -2, presence.contributors);
        committed(record.seq, job, -1, values.contributors);
      }
    };
    audit = await verifyAudit(source, { coordinatorKey: manifest.coordinatorKey, onLine: say, onRecord });
    if (!audit.ok) return { ok: false, exitCode: 1, lines, failure: audit.failure, audit };

    if (ever.size === 0) throw new Inconsistency(options.bundle, `no participant in the bundle has your key (fingerprint ${fingerprint(options.publicKey)})`);
    const ownOf = (kind: InputKind) => own.filter((u) => u.kind === kind);
    const counted = (['update', 'masked'] as const).filter((kind) => ownOf(kind).length > 0).map((kind) => plural(ownOf(kind).length, `accepted ${KINDS[kind].one}`));
    say(`you are ${[...ever].join(', ')} in the bundle: ${counted.length ? counted.join(' and ') : plural(0, 'accepted update')} of yours`);

    if (!options.journalFile) {
      say('no journal of sent updates: the bundle was checked as a whole, not against what you sent');
      return { ok: true, exitCode: 0, lines, audit };
    }
    const journal = readJournalLines(options.journalFile);
    const { sent: all, unchecked: uncheckedAll } = sentInputs(journal);
    // Which entries are checked is this site's choice (its pins, --coordinator), never the bundle's: a bundle the operator re-signed could name a job the journal holds under another address.
    const ofCoordinator = <T extends { coordinator: string }>(list: T[]) => (origins ? list.filter((e) => origins.includes(e.coordinator)) : list);
    const entries = ofCoordinator(all);
    const unchecked = ofCoordinator(uncheckedAll);
    if (!origins) say(`journal: the coordinator's address is not known from a pin; checking all ${plural(all.length, 'entry', 'entries')} (name it with --coordinator URL)`);
    const where = (e: Sent) => `your ${KINDS[e.kind].one} of round ${e.round} of job ${e.job} as ${e.participant} (${options.journalFile}, sent ${new Date(e.at).toISOString()})`;
    const inBundle = (e: Sent) => own.filter((u) => u.kind === e.kind && u.job === e.job && u.round === e.round && u.participant === e.participant);
    const hint = origins ? '' : ' (if that entry is of another coordinator, name this one with --coordinator URL)';

    /** the bundle's records of this site's inputs found in the journal */
    const matched = new Set<number>();
    /** by kind, the acknowledged inputs not looked for, said after the log heads */
    const pendingOf = new Map<InputKind, Sent[]>();
    // Every kind the journal or the bundle holds of this site's; updates when neither holds any.
    const present = (['update', 'masked'] as const).filter((kind) => entries.some((e) => e.kind === kind) || ownOf(kind).length > 0 || (kind === 'masked' && unchecked.length > 0));
    const kinds: InputKind[] = present.length ? present : ['update'];
    for (const kind of kinds) {
      const { one, many, record, folded: foldedInto } = KINDS[kind];
      const sent = entries.filter((e) => e.kind === kind);
      let checked = 0;
      let foldedCount = 0;
      const superseded: Sent[] = [];
      /** acknowledged inputs of rounds the bundle does not commit, not in it: exported before they were recorded */
      const pending: Sent[] = [];
      const revokedOut: { e: Sent; seq: number; commit?: number }[] = [];
      const resumedOut: { e: Sent; seq: number }[] = [];
      const askedAfterCommit: { e: Sent; commit: number; head: number }[] = [];
      const acknowledged = sent.filter((entry) => entry.accepted === true);
      // An input whose answer is unknown that the bundle holds as sent was taken too: it can be the later attempt of a round.
      const taken = sent.filter((entry) => entry.accepted !== false);
      for (const e of acknowledged) {
        const uncommitted = !commits.has(roundId(e.job, e.round));
        // Acknowledged after the export, for a round the bundle does not commit: it cannot be in it yet (nor, perhaps, the name it was sent under).
        if (uncommitted && e.at > manifest.exportedAt) {
          pending.push(e);
          continue;
        }
        if (!ever.has(e.participant)) throw new Inconsistency(where(e), `the bundle has no participant ${e.participant} with your key${hint}`);
        const candidates = inBundle(e);
        const same = candidates.find((u) => sameInput(u, e));
        // Rule: a masked input whose attempt's sum this site helped unmask (before the export) was recorded, as a coordinator records a masked step's inputs when it closes, before it asks for any unmask: nothing excuses its absence.
        if (!same && e.unmaskedAt !== undefined && e.unmaskedAt <= manifest.exportedAt) {
          // A record of the round that is another input this site sent (a later attempt's) is not this one altered.
          const other = candidates.find((u) => !sent.some((s) => sameInput(u, s)));
          throw new Inconsistency(
            where(e),
            other
              ? altered(other, e)
              : `missing: the coordinator acknowledged it, then asked you to help unmask the sum of the attempt that took it (your unmask answer of ${new Date(e.unmaskedAt).toISOString()}), ` +
                  `which it asks only once that attempt's masked inputs are recorded; no ${record} record holds it${hint}`,
          );
        }
        if (!same) {
          // Rule: an acknowledged input absent from the bundle is superseded when an input of its kind this site journaled after it (acknowledged, or its answer unknown), for the same job, round and participant, is in the bundle exactly as sent (the round was started again: a restart, a new leader, a revocation; an abandoned attempt's records are never written).
          const successor = taken
            .slice(taken.indexOf(e) + 1)
            .find((s) => s.job === e.job && s.round === e.round && s.participant === e.participant && candidates.some((u) => sameInput(u, s)));
          if (successor) {
            superseded.push(e);
            continue;
          }
          const commit = commits.get(roundId(e.job, e.round));
          // Or the request it answered was signed at a log head that already held its round's commit (a replica that no longer led the job asked): no committed round can hold it.
          if (e.auditHead && commit !== undefined && e.auditHead.seq >= commit) {
            askedAfterCommit.push({ e, commit, head: e.auditHead.seq });
            continue;
          }
          // Or by a record after the request this input answered (when the journal kept its head) and before the round's commit, if any, with no input of this site in that round:
          const between = (seq: number) => seq > (e.auditHead?.seq ?? 0) && seq < (commit ?? Infinity);
          // the job's resumption after the round before (a restart, a new leader), which the request's head must bound;
          const resumed = e.auditHead && resumptions.get(e.job)?.find((r) => r.round === e.round - 1 && between(r.seq));
          if (resumed && candidates.length === 0) {
            resumedOut.push({ e, seq: resumed.seq });
            continue;
          }
          // or this name's revocation.
          const revocation = (revocations.get(e.participant) ?? []).find(between);
          if (revocation !== undefined && candidates.length === 0) {
            revokedOut.push({ e, seq: revocation, commit });
            continue;
          }
          // Or not yet recorded: the bundle was exported while its round was open.
          if (uncommitted && candidates.length === 0) {
            pending.push(e);
            continue;
          }
          const other = candidates[0];
          throw new Inconsistency(
            where(e),
            other
              ? altered(other, e)
              : `missing: the coordinator acknowledged it, but no ${record} record holds it${hint}`,
          );
        }
        matched.add(same.seq);
        const bytes = source.update(e.job, e.round, e.participant, e.sha256);
        if (bytes && sha256Hex(bytes) !== e.sha256) {
          throw new Inconsistency(source.describe({ update: [e.job, e.round, e.participant] }), `its bytes do not hash to ${e.sha256}, the SHA-256 you sent`);
        }
        checked++;
        if (folded.has(updateId(e.job, e.round, e.participant, e.sha256))) foldedCount++;
      }
      pendingOf.set(kind, pending);
      say(`your ${plural(checked, `accepted ${one}`)} ${checked === 1 ? 'is' : 'are'} in the bundle unaltered; ${foldedCount} ${foldedCount === 1 ? 'was' : 'were'} ${foldedInto}`);
      if (superseded.length) {
        const rounds = roundsOf(superseded);
        const single = rounds.count === 1;
        say(
          `${plural(superseded.length, `acknowledged ${one}`)} ${superseded.length === 1 ? 'was' : 'were'} superseded: ${rounds.text} ${single ? 'was' : 'were'} started again ` +
            `and your later ${single ? `${one} of it is` : `${many} of them are`} in the bundle (assumed: the attempt that took ${superseded.length === 1 ? 'it' : 'them'} was abandoned, its records unwritten)`,
        );
      }
      for (const { e, seq } of resumedOut) {
        say(
          `1 acknowledged ${one} was superseded by the job's resumption: audit record ${seq} took job ${e.job} up again after round ${e.round - 1}, ` +
            `after round ${e.round} asked for your ${one} (the attempt that took it was abandoned, its records unwritten)`,
        );
      }
      for (const { e, commit, head } of askedAfterCommit) {
        say(
          `1 acknowledged ${one} answered a request made after its round was committed: audit record ${commit} committed round ${e.round} of job ${e.job}, ` +
            `the request was signed at audit record ${head} (asked by a replica that no longer led the job; no committed ${kind === 'update' ? 'model' : 'sum'} can hold it)`,
        );
      }
      for (const { e, seq, commit } of revokedOut) {
        say(
          `1 acknowledged ${one} was superseded by your revocation: audit record ${seq} revoked ${e.participant} ${e.auditHead ? 'after' : 'perhaps after (your journal kept no log head to tell)'} round ${e.round} of job ${e.job} asked for it, ` +
            (commit === undefined ? 'and the bundle does not commit that round' : `before audit record ${commit} committed that round without you`) +
            ' (assumed: the attempt that took it was dropped)',
        );
      }
      if (kind === 'masked' && unchecked.length) {
        say(`${plural(unchecked.length, 'masked input')} you sent ${unchecked.length === 1 ? 'was' : 'were'} journaled without ${unchecked.length === 1 ? 'its' : 'their'} SHA-256 and signature (by an earlier release): not checkable`);
      }
    }
    // The heads of the log the coordinator signed into the requests this site answered: a log rewritten since no longer holds them.
    let heads = 0;
    for (const e of entries) {
      if (!e.auditHead) continue;
      const hash = hashes.get(e.auditHead.seq);
      if (hash === undefined && e.at > manifest.exportedAt) continue;
      if (hash !== e.auditHead.hash) {
        throw new Inconsistency(
          where(e),
          `the coordinator signed audit record ${e.auditHead.seq} with hash ${e.auditHead.hash} into that round's request; ` +
            (hash === undefined ? 'the bundle has no such record' : `the bundle's record ${e.auditHead.seq} has hash ${hash}`) +
            ': the log was rewritten after',
        );
      }
      heads++;
    }
    if (heads) say(`the ${plural(heads, 'signed log head')} you were shown ${heads === 1 ? 'is' : 'are'} in the bundle: the log was not rewritten since`);
    for (const kind of kinds) {
      const { one, many, recordedWhen } = KINDS[kind];
      const pending = pendingOf.get(kind)!;
      if (pending.length) {
        const rounds = roundsOf(pending);
        say(
          `${plural(pending.length, `accepted ${one}`)} of ${rounds.text} ${pending.length === 1 ? 'was' : 'were'} not looked for: the bundle does not commit ${rounds.count === 1 ? 'that round' : 'those rounds'} ` +
            `(${recordedWhen}: a later bundle holds them)`,
        );
      }
      const sent = entries.filter((e) => e.kind === kind);
      // The bundle's record of an input the journal holds without an ack is the site's own when it carries the same signature.
      const tell = (list: Sent[], single: string, several: string) => {
        const held = list.flatMap((e) => inBundle(e).filter((u) => u.signature === e.signature).slice(0, 1));
        for (const u of held) matched.add(u.seq);
        if (list.length === 1) say(`1 ${one} you sent ${single}; ${held.length ? 'the bundle has it as accepted' : 'the bundle does not have it'}`);
        else if (list.length > 1) say(`${list.length} ${many} you sent ${several}; the bundle has ${held.length} of them as accepted`);
      };
      tell(
        sent.filter((e) => e.accepted === false),
        'was not acknowledged (refused, or no answer in time)',
        'were not acknowledged (refused, or no answer in time)',
      );
      tell(
        sent.filter((e) => e.accepted === undefined),
        "has no answer in your journal (the agent stopped after sending it, before the coordinator's answer came)",
        "have no answer in your journal (the agent stopped after sending them, before the coordinator's answers came)",
      );
      // A masked input journaled without its digest may be any of its round's records.
      const unjournaled = (u: Recorded) => !matched.has(u.seq) && !unchecked.some((e) => e.job === u.job && e.round === u.round && e.participant === u.participant);
      const unknown = ownOf(kind).filter(unjournaled).length;
      if (unknown) say(`${plural(unknown, one, many)} of yours in the bundle ${unknown === 1 ? 'is' : 'are'} not in your journal: signed with your key, sent before the journal was kept or by another copy of it`);
    }
    return { ok: true, exitCode: 0, lines, audit };
  } catch (err) {
    if (!(err instanceof Inconsistency)) throw err;
    say(`FAILED: ${err.where}: ${err.reason}`);
    return { ok: false, exitCode: 1, lines, failure: { where: err.where, reason: err.reason }, audit };
  }
}

/**
 * Whether the bundle's coordinator key is the one this site trusts; throws when
 * not. Returns the origins whose journal entries are this coordinator's, or
 * undefined when they are not known.
 */
function trust(bundleKey: string, options: VerifyBundleOptions, say: (line: string) => void): string[] | undefined {
  const key = decodePublicKey(bundleKey);
  const shown = key ? fingerprint(key) : bundleKey;
  const pinned = options.pins?.originsOf(bundleKey) ?? [];
  const named = options.coordinator ? new URL(options.coordinator).origin : undefined;
  const pinnedForNamed = named && options.pins?.get(named);
  if (pinnedForNamed && pinnedForNamed !== bundleKey) {
    throw new Inconsistency(options.bundle, `its coordinator key ${shown} is not the one pinned for ${named} (${fingerprintOf(pinnedForNamed)})`);
  }
  const origins = named ? [named] : pinned.length ? pinned : undefined;
  if (options.coordinatorKey !== undefined) {
    if (options.coordinatorKey !== bundleKey) {
      throw new Inconsistency(options.bundle, `its coordinator key ${shown} is not the one given with --coordinator-key (${fingerprintOf(options.coordinatorKey)})`);
    }
    say(`coordinator key ${shown}: as given with --coordinator-key`);
    return origins;
  }
  if (pinned.length === 0) {
    throw new Inconsistency(
      options.bundle,
      `its coordinator key ${shown} is not pinned in known-coordinators.json beside your key: ` +
        'compare its fingerprint with the one the consortium gives you out of band, then pass the key with --coordinator-key',
    );
  }
  say(`coordinator key ${shown}: pinned for ${pinned.join(', ')}`);
  return origins;
}

function fingerprintOf(key: string): string {
  const bytes = decodePublicKey(key);
  return bytes ? fingerprint(bytes) : 'not a base64 Ed25519 public key';
}
