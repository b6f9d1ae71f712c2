/** Reads of the audit log for the REST API: pages of records, and a full verification. */
import { Inject, Injectable } from '@nestjs/common';
import { AuditRecordSchema, type AuditPage, type AuditPageQuery, type AuditVerification } from '@fl/shared';
import { STORE, type Store } from '../storage/store';
import { AuditVerifier } from './audit-verifier';

@Injectable()
export class AuditService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AuditVerifier) private readonly verifier: AuditVerifier,
  ) {}

  /** The records after `after`, oldest first, read with the head in one snapshot. */
  page({ after, limit }: AuditPageQuery): Promise<AuditPage> {
    return this.store.transaction(
      async () => {
        const records = [];
        for await (const { text } of this.store.auditRecords(after, limit)) records.push(AuditRecordSchema.parse(JSON.parse(text)));
        const head = await this.store.auditHead();
        return { records, head: head ? { seq: head.seq, hash: head.hash } : null };
      },
      { snapshot: true },
    );
  }

  /** Verifies everything the store holds (on a large store, every retained update), off the event loop. */
  async verify(): Promise<AuditVerification> {
    const report = await this.verifier.verify();
    return { ok: report.ok, lines: report.lines, failure: report.failure ? { where: report.failure.where, reason: report.failure.reason } : null };
  }
}
