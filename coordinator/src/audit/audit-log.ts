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
import type { Store } from '../storage/store';

interface Deferred {
  kind: AuditKind;
  actor: string;
  data: Record<string, unknown>;
  at: number;
  /** what is stored with the record, e.g. the retained update */
  write?: () => void;
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

export class AuditLog {
  private deferred: Deferred[] = [];
  /** 'appended' (AuditAppended), e.g. for the dashboards' live view */
  readonly events = new EventEmitter();
  private written: AuditKind[] = [];

  constructor(
    private readonly store: Store,
    private readonly identity: CoordinatorIdentity,
  ) {
    // The first record names the key that signs every record after it.
    if (!store.auditHead()) {
      this.append('coordinator.key', 'coordinator', { publicKey: identity.publicKey, fingerprint: identity.fingerprint });
    }
  }

  /**
   * Appends one record, after any deferred ones. Callers inside a store
   * transaction get it committed with their change; the head is read from the
   * store each time, so a rolled back transaction leaves no gap in the chain.
   */
  append<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, at = Date.now()): AuditRecord {
    return this.inTransaction(() => this.write(kind, actor, data as Record<string, unknown>, at, this.writeDeferred()));
  }

  /** Records an act whose effect lives in memory until flush(); `write` stores what goes with it. */
  defer<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, write?: () => void, at = Date.now()): void {
    const last = this.deferred.at(-1)?.sealed.record;
    const record = this.seal(kind, actor, data as Record<string, unknown>, at, last ?? this.store.auditHead());
    this.deferred.push({ kind, actor, data: data as Record<string, unknown>, at, write, sealed: { record, text: auditText(record) } });
  }

  /** Writes the deferred records, in one transaction. */
  flush(): void {
    if (this.deferred.length > 0) this.inTransaction(() => this.writeDeferred());
  }

  /** Writes the deferred records; answers the head after them, so that the next record need not read it back. */
  private writeDeferred(): Head {
    const deferred = this.deferred;
    this.deferred = [];
    let head = this.store.auditHead();
    for (const d of deferred) {
      const { record, text } = d.sealed;
      const inPlace = record.seq === (head?.seq ?? 0) + 1 && record.prev === (head?.hash ?? AUDIT_GENESIS);
      head = inPlace ? this.put(d.kind, record, text) : this.write(d.kind, d.actor, d.data, d.at, head);
      d.write?.();
    }
    return head;
  }

  /** Runs fn in a transaction; if it fails, the deferred records it took are deferred again, for the next one. */
  private inTransaction<T>(fn: () => T): T {
    const deferred = this.deferred;
    this.written = [];
    let result: T;
    try {
      result = this.store.transaction(fn);
    } catch (err) {
      this.deferred = deferred.concat(this.deferred.filter((d) => !deferred.includes(d)));
      this.written = [];
      throw err;
    }
    const kinds = [...new Set(this.written)];
    this.written = [];
    if (kinds.length) this.events.emit('appended', { head: this.store.auditHead()!.seq, kinds } satisfies AuditAppended);
    return result;
  }

  private write(kind: AuditKind, actor: string, data: Record<string, unknown>, at: number, head: Head): AuditRecord {
    return this.put(kind, this.seal(kind, actor, data, at, head));
  }

  private put(kind: AuditKind, record: AuditRecord, text = auditText(record)): AuditRecord {
    this.store.appendAudit(record.seq, text);
    this.written.push(kind);
    return record;
  }

  /** The record for the place after `head`. */
  private seal(kind: AuditKind, actor: string, data: Record<string, unknown>, at: number, head: Head): AuditRecord {
    return this.identity.seal({ seq: (head?.seq ?? 0) + 1, at, kind, actor, data, prev: head?.hash ?? AUDIT_GENESIS });
  }
}
