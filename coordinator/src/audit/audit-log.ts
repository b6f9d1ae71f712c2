/**
 * Appends to the hash-chained audit log (record format: @fl/shared audit/record).
 * A record is written in the same store transaction as the change it records,
 * so the log can never say less, or more, than what happened.
 *
 * Accepted updates are the exception that proves the rule: until its round
 * commits, an accepted update changes nothing stored (it is folded in memory,
 * and a crash starts the round again). Their records are therefore deferred and
 * written together when the phase closes, one transaction a round instead of
 * one an update; any other record written meanwhile goes after them, so the
 * log keeps the order in which things happened.
 *
 * A deferred record is sealed (hashed and signed) when it is deferred, for the
 * place in the chain it will take if nothing else is written first: the usual
 * case. The round's commit then only writes it, while the participants wait;
 * if the chain moved meanwhile, it is sealed again for its actual place.
 */
import { EventEmitter } from 'node:events';
import { AUDIT_GENESIS, auditText, type AuditData, type AuditKind, type AuditRecord } from '@fl/shared';
import type { CoordinatorIdentity } from '../identity/identity';
import type { RetainedUpdate, Store } from '../storage/store';

interface Deferred {
  kind: AuditKind;
  actor: string;
  data: Record<string, unknown>;
  at: number;
  /** the update stored with the record (retained for recomputing the aggregate) */
  retain?: RetainedUpdate;
  /** sealed when deferred, for the place after the record before it (the head then, or the last deferred); with its stored text */
  sealed: { record: AuditRecord; text: string };
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
  /** the deferred records it took: deferred again if the transaction fails */
  taken?: Deferred[];
}

export class AuditLog {
  private deferred: Deferred[] = [];
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
    return log;
  }

  /**
   * Appends one record, after any deferred ones. Callers inside a store
   * transaction get it committed with their change; the head is read from the
   * store each time, so a rolled back transaction leaves no gap in the chain.
   */
  append<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, at = Date.now()): Promise<AuditRecord> {
    return this.inTransaction(async (written) => {
      written.head = await this.writeDeferred(written);
      return this.write(written, kind, actor, data as Record<string, unknown>, at);
    });
  }

  /** Records an act whose effect lives in memory until flush(); `retain` is the update stored with it. */
  defer<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, retain?: RetainedUpdate, at = Date.now()): void {
    const last = this.deferred.at(-1)?.sealed.record;
    const record = this.seal(kind, actor, data as Record<string, unknown>, at, last ?? this.head);
    this.deferred.push({ kind, actor, data: data as Record<string, unknown>, at, retain, sealed: { record, text: auditText(record) } });
  }

  /**
   * Forgets the deferred records of a job this process no longer runs (another
   * replica leads it): they belong to a round that will not commit here. Those
   * deferred after them are sealed again for their place when written.
   */
  discard(job: string): void {
    this.deferred = this.deferred.filter((d) => d.data.job !== job);
  }

  /** Writes the deferred records, in one transaction. */
  async flush(): Promise<void> {
    if (this.deferred.length > 0) await this.inTransaction(async (written) => void (await this.writeDeferred(written)));
  }

  /**
   * Writes the deferred records, and the updates retained with them, in a few
   * multi-row statements; answers the head after them, so that the next record
   * need not read it back. The head is read first: in a transaction that makes
   * this one the log's writer (Store.auditHead), and the records deferred until
   * then are taken in the order they were deferred.
   */
  private async writeDeferred(written: Written): Promise<Head> {
    let head = await this.store.auditHead();
    const deferred = this.deferred;
    this.deferred = [];
    written.taken = deferred;
    if (deferred.length === 0) return head;
    const rows: { seq: number; text: string }[] = [];
    for (const d of deferred) {
      let { record, text } = d.sealed;
      if (record.seq !== (head?.seq ?? 0) + 1 || record.prev !== (head?.hash ?? AUDIT_GENESIS)) {
        record = this.seal(d.kind, d.actor, d.data, d.at, head);
        text = auditText(record);
      }
      rows.push({ seq: record.seq, text });
      written.kinds.push(d.kind);
      head = { seq: record.seq, hash: record.hash };
    }
    await this.store.appendAuditRecords(rows);
    await this.store.retainUpdates(deferred.flatMap((d) => (d.retain ? [d.retain] : [])));
    written.head = head;
    return head;
  }

  /** Runs fn in a transaction; if it fails, the deferred records it took are deferred again, for the next one. */
  private async inTransaction<T>(fn: (written: Written) => Promise<T>): Promise<T> {
    const written: Written = { head: undefined, kinds: [] };
    let result: T;
    try {
      result = await this.store.transaction(() => fn(written));
    } catch (err) {
      if (written.taken) this.deferred = written.taken.concat(this.deferred);
      throw err;
    }
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
