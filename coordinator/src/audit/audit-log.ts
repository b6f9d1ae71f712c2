/**
 * Appends to the hash-chained audit log (record format: @fl/shared audit/record).
 * A record is written in the same store transaction as the change it records,
 * so the log can never say less, or more, than what happened.
 *
 * Accepted updates are the exception that proves the rule: until its round
 * commits, an accepted update changes nothing stored (it is folded in memory,
 * and a crash starts the round again). Their records are therefore deferred and
 * written together when the phase closes, one transaction a round instead of
 * one an update; a record of the same job written meanwhile, or of no job (a
 * participant revoked), goes after them, so the log keeps the order in which
 * things happened.
 *
 * They are deferred by the run of their job (forRun), in a queue of that run's:
 * written only before a record of that job or of none, and only while the run
 * leads the job (its fence, with replicas). Another job's round never writes
 * them, and a run's end, or a deposed leader's epoch, drops them.
 *
 * A deferred record is sealed (hashed and signed) when it is deferred, for the
 * place in the chain it will take if nothing else is written first: the usual
 * case. The round's commit then only writes it, while the participants wait;
 * if the chain moved meanwhile, it is sealed again for its actual place.
 *
 * A participant's update is recorded only while it is approved: with replicas,
 * another one may revoke it while its record waits here. Whatever writes a
 * queue reads its contributors' statuses first, in the transaction that holds
 * the log's writer lock; the records of one no longer approved are dropped,
 * the others' written as usual, and the run's own next write of its queue
 * throws ParticipantsRevoked, for the run to take the revoked's update out of
 * its round (docs/audit.md). A revocation written here holds its participant's
 * records back instead of writing them before itself, so that the round leaves
 * them out the same way, whichever replica the revocation reached.
 */
import { EventEmitter } from 'node:events';
import { AUDIT_GENESIS, auditText, FlError, type AuditData, type AuditKind, type AuditRecord } from '@fl/shared';
import type { CoordinatorIdentity } from '../identity/identity';
import { toArray, type Fence, type RetainedUpdate, type Store } from '../storage/store';

interface Deferred {
  kind: AuditKind;
  actor: string;
  data: Record<string, unknown>;
  at: number;
  /** the update stored with the record (retained for recomputing the aggregate) */
  retain?: RetainedUpdate;
  /** sealed when deferred, for the place after the record before it (the head then, or its run's last deferred); with its stored text */
  sealed: { record: AuditRecord; text: string };
}

/** A run's deferred records, in the order deferred. */
interface Queue {
  job: string;
  /** the epoch the run leads the job at, with replicas: its records are written only while it holds */
  fence: Fence | undefined;
  records: Deferred[];
  /** participants whose records were dropped because they are no longer approved: the run's next write throws ParticipantsRevoked */
  refused?: string[];
}

/** The kinds of record the log takes only from an approved participant. */
const CONTRIBUTIONS: ReadonlySet<AuditKind> = new Set<AuditKind>(['update.accepted', 'secagg.input']);

/**
 * A run's deferred records named participants revoked since (on this replica
 * or another): their records cannot be written after the revocation and were
 * dropped, while the updates they recorded are in the round's running sum,
 * which the run must make again without them. The others' records stay.
 */
export class ParticipantsRevoked extends FlError {
  constructor(
    readonly job: string,
    readonly participants: readonly string[],
  ) {
    super('REVOKED', `${participants.join(', ')} revoked while the round's records waited: their updates are left out`);
  }
}

/** The log as one run of a job writes it (AuditLog.forRun). */
export interface RunAudit {
  /** AuditLog.append: after this run's deferred records, for a record of its job */
  append<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, at?: number): Promise<AuditRecord>;
  /** Records an act of the job whose effect lives in memory until flush(); `retain` is the update stored with it. */
  defer<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, retain?: RetainedUpdate, at?: number): void;
  /** Writes the run's deferred records, in one transaction; throws ParticipantsRevoked when some could not be (nothing is written, the others stay deferred). */
  flush(): Promise<void>;
  /** The run has ended: what it still defers, and defers after, belongs to no round committed here, and is never written. */
  close(): void;
}

/** Told after records are written: the new head, and the kinds written (a round's updates come as one). */
interface AuditAppended {
  head: number;
  kinds: AuditKind[];
}

/** The last record's number and hash; undefined for an empty log. */
type Head = { seq: number; hash: string } | undefined;

/** What one transaction wrote: the head after it and the kinds of its records. */
interface Written {
  head: Head;
  kinds: AuditKind[];
  /** the deferred records it took, by queue: deferred again if the transaction fails */
  taken: { queue: Queue; records: Deferred[] }[];
}

export class AuditLog {
  /** the queue of the run that leads each job here */
  private readonly queues = new Map<string, Queue>();
  /** 'appended' (AuditAppended), e.g. for the dashboards' live view */
  readonly events = new EventEmitter();
  /**
   * The head as this process last wrote or read it: deferred records are sealed
   * for the place after it without a read. Only a guess: the write checks the
   * stored head and seals again where another writer moved it.
   */
  private head: Head;

  private constructor(
    private readonly store: Store,
    private readonly identity: CoordinatorIdentity,
  ) {}

  /** The last record's number as this process knows it; 0 for an empty log. */
  get headSeq(): number {
    return this.head?.seq ?? 0;
  }

  /** The log of a store; the first record names the key that signs every record after it. */
  static async open(store: Store, identity: CoordinatorIdentity): Promise<AuditLog> {
    const log = new AuditLog(store, identity);
    log.head = await store.auditHead();
    if (!log.head) await log.append('coordinator.key', 'coordinator', { publicKey: identity.publicKey, fingerprint: identity.fingerprint });
    else {
      // A record signed by another key than the first record names breaks the log for every verifier, for good.
      const [first] = await toArray(store.auditRecords(0, 1));
      const named = (JSON.parse(first.text) as { data?: { publicKey?: unknown; fingerprint?: unknown } }).data;
      if (named?.publicKey !== identity.publicKey) {
        throw new FlError('CONFLICT', `the audit log of this store names coordinator key ${String(named?.fingerprint)} in its first record, and this coordinator's key is ${identity.fingerprint}: give it the key the log was started with (--key-file)`);
      }
    }
    return log;
  }

  /**
   * Appends one record, after the deferred ones of its job (`data.job`), or of
   * every job for a record of none. Callers inside a store transaction get it
   * committed with their change; the head is read from the store each time, so
   * a rolled back transaction leaves no gap in the chain.
   */
  append<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, at = Date.now()): Promise<AuditRecord> {
    return this.appendAfter(kind, actor, data, at);
  }

  /** append(), by the run whose queue is `owner`: that queue refused throws instead of being dropped silently. */
  private appendAfter<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, at: number, owner?: Queue): Promise<AuditRecord> {
    const fields = data as Record<string, unknown>;
    const revoking = kind === 'participant.revoked' ? (fields.name as string) : undefined;
    return this.inTransaction(async (written) => {
      written.head = await this.writeDeferred(written, this.queuesBefore(fields), owner, revoking);
      return this.write(written, kind, actor, fields, at);
    });
  }

  /**
   * The log for the run that now leads a job here (`fence`: at which epoch,
   * with replicas): the records it defers wait in a queue of its own, which
   * replaces any earlier run's of the job.
   */
  forRun(job: string, fence?: Fence): RunAudit {
    const queue: Queue = { job, fence, records: [] };
    this.queues.set(job, queue);
    const open = () => this.queues.get(job) === queue;
    return {
      append: (kind, actor, data, at = Date.now()) => this.appendAfter(kind, actor, data, at, queue),
      defer: (kind, actor, data, retain, at = Date.now()) => {
        if (!open()) return;
        const fields = data as Record<string, unknown>;
        const record = this.seal(kind, actor, fields, at, queue.records.at(-1)?.sealed.record ?? this.head);
        queue.records.push({ kind, actor, data: fields, at, retain, sealed: { record, text: auditText(record) } });
      },
      flush: async () => {
        if (queue.records.length > 0 || queue.refused) await this.inTransaction(async (written) => void (await this.writeDeferred(written, [queue], queue)));
      },
      close: () => {
        if (open()) this.queues.delete(job);
        queue.records = [];
      },
    };
  }

  /** The queues whose records go before a record: its job's; every job's before a record of none. */
  private queuesBefore(data: Record<string, unknown>): Queue[] {
    if (typeof data.job !== 'string') return [...this.queues.values()];
    const queue = this.queues.get(data.job);
    return queue ? [queue] : [];
  }

  /**
   * Writes the queues' deferred records, and the updates retained with them,
   * in a few multi-row statements; answers the head after them, so that the
   * next record need not read it back. The head is read first: in a
   * transaction that makes this one the log's writer (Store.auditHead). Each
   * queue's records are taken in the order they were deferred, and written only
   * if its run still leads the job: a deposed run's are dropped, as no one may
   * ever write them. Nor are the contributions of a participant no longer
   * approved (the queue's run told by ParticipantsRevoked at its next write),
   * nor those of the participant the record to follow revokes (`revoking`):
   * they stay queued, for the next write to find it revoked and drop them as
   * it does a revocation written by another replica; if the revocation is
   * rolled back, they are written as usual.
   */
  private async writeDeferred(written: Written, queues: readonly Queue[], owner?: Queue, revoking?: string): Promise<Head> {
    let head = await this.store.auditHead();
    // After the lock: a revocation is either written already, and read here, or waits for this transaction.
    const unapproved = new Set(await this.store.unapprovedParticipants(contributors(queues)));
    const rows: { seq: number; text: string }[] = [];
    const retained: RetainedUpdate[] = [];
    for (const queue of queues) {
      if (queue.records.length === 0) continue;
      const revoked = contributors([queue]).filter((p) => unapproved.has(p));
      if (revoked.length > 0) queue.refused = [...new Set([...(queue.refused ?? []), ...revoked])];
      const records = queue.records.filter((d) => !(CONTRIBUTIONS.has(d.kind) && unapproved.has(d.data.participant as string)));
      // Held back rather than dropped: until this transaction commits, the participant is approved.
      const held = records.filter((d) => CONTRIBUTIONS.has(d.kind) && d.data.participant === revoking);
      queue.records = held;
      const taken = { queue, records: held.length > 0 ? records.filter((d) => !held.includes(d)) : records };
      written.taken.push(taken);
      if (queue.fence && !(await this.store.fenceHolds(queue.fence))) {
        taken.records = [];
        continue;
      }
      for (const d of taken.records) {
        let { record, text } = d.sealed;
        if (record.seq !== (head?.seq ?? 0) + 1 || record.prev !== (head?.hash ?? AUDIT_GENESIS)) {
          record = this.seal(d.kind, d.actor, d.data, d.at, head);
          text = auditText(record);
        }
        rows.push({ seq: record.seq, text });
        if (d.retain) retained.push(d.retain);
        written.kinds.push(d.kind);
        head = { seq: record.seq, hash: record.hash };
      }
    }
    if (owner?.refused) {
      const refused = owner.refused;
      owner.refused = undefined;
      throw new ParticipantsRevoked(owner.job, refused);
    }
    if (rows.length === 0) return head;
    await this.store.appendAuditRecords(rows);
    await this.store.retainUpdates(retained);
    written.head = head;
    return head;
  }

  /**
   * Runs fn in a transaction; if it fails, or a caller's transaction it
   * joined rolls back, the deferred records it took are deferred again (if
   * their run goes on), for the next one.
   */
  private async inTransaction<T>(fn: (written: Written) => Promise<T>): Promise<T> {
    const written: Written = { head: undefined, kinds: [], taken: [] };
    const restore = () => {
      for (const { queue, records } of written.taken) if (this.queues.get(queue.job) === queue) queue.records = records.concat(queue.records);
    };
    let result: T;
    try {
      result = await this.store.transaction(() => fn(written));
    } catch (err) {
      restore();
      throw err;
    }
    this.store.afterRollback(restore);
    // Told once committed: inside a caller's transaction, only when (and if) that one commits.
    this.store.afterCommit(() => {
      if (written.head) this.head = written.head;
      const kinds = [...new Set(written.kinds)];
      if (kinds.length && written.head) this.events.emit('appended', { head: written.head.seq, kinds } satisfies AuditAppended);
    });
    return result;
  }

  private async write(written: Written, kind: AuditKind, actor: string, data: Record<string, unknown>, at: number, head: Head = written.head): Promise<AuditRecord> {
    const record = this.seal(kind, actor, data, at, head);
    await this.put(written, kind, record);
    return record;
  }

  private async put(written: Written, kind: AuditKind, record: AuditRecord, text = auditText(record)): Promise<{ seq: number; hash: string }> {
    await this.store.appendAudit(record.seq, text);
    written.kinds.push(kind);
    const head = { seq: record.seq, hash: record.hash };
    written.head = head;
    return head;
  }

  /** The record for the place after `head`. */
  private seal(kind: AuditKind, actor: string, data: Record<string, unknown>, at: number, head: Head): AuditRecord {
    return this.identity.seal({ seq: (head?.seq ?? 0) + 1, at, kind, actor, data, prev: head?.hash ?? AUDIT_GENESIS });
  }
}

/** The participants whose contributions the queues' records are, each once. */
function contributors(queues: readonly Queue[]): string[] {
  const names = new Set<string>();
  for (const queue of queues) for (const d of queue.records) if (CONTRIBUTIONS.has(d.kind)) names.add(d.data.participant as string);
  return [...names];
}
