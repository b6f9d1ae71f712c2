/**
 * Appends to the hash-chained audit log (record format: @fl/shared audit/record).
 * A record is written in the same store transaction as the change it records,
 * so the log can never say less, or more, than what happened.
 */
import { AUDIT_GENESIS, auditText, type AuditData, type AuditKind, type AuditRecord } from '@fl/shared';
import type { CoordinatorIdentity } from '../identity/identity';
import type { Store } from '../storage/store';

export class AuditLog {
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
   * Appends one record. Callers inside a store transaction get it committed
   * with their change; the head is read from the store each time, so a rolled
   * back transaction leaves no gap in the chain.
   */
  append<K extends AuditKind>(kind: K, actor: string, data: AuditData<K>, at = Date.now()): AuditRecord {
    return this.store.transaction(() => {
      const head = this.store.auditHead();
      const record = this.identity.seal({ seq: (head?.seq ?? 0) + 1, at, kind, actor, data: data as Record<string, unknown>, prev: head?.hash ?? AUDIT_GENESIS });
      this.store.appendAudit(record.seq, auditText(record));
      return record;
    });
  }
}
